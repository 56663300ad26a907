// `dsv4 encode-chat` and `dsv4 parse-completion`: the chat encoding and the completion parser on
// files, for scripting and for checking against the reference.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "chat/completion_parser.h"
#include "chat/encoding.h"
#include "chat/py_json.h"
#include "command.h"

namespace dsv4 {
namespace {

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

// Reads "--flag value" pairs; false (with a message) on anything else.
bool ParseFlags(const std::vector<std::string>& args, const char* command,
                std::vector<std::pair<std::string, std::string*>> flags) {
  for (size_t i = 0; i < args.size(); ++i) {
    bool known = false;
    for (auto& [name, value] : flags) {
      if (args[i] == name && i + 1 < args.size()) {
        *value = args[++i];
        known = true;
        break;
      }
    }
    if (!known) {
      std::fprintf(stderr, "dsv4 %s: unexpected argument '%s'\n", command, args[i].c_str());
      return false;
    }
  }
  return true;
}

int RunEncodeChat(const std::vector<std::string>& args) {
  std::string request_path;
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    std::fprintf(stderr,
                 "usage: dsv4 encode-chat --request FILE\n"
                 "  FILE: JSON object with messages, thinking_mode and optionally context,\n"
                 "  drop_thinking, add_default_bos_token, reasoning_effort (encode_messages\n"
                 "  keyword arguments). Prints the prompt string exactly, no newline added.\n");
    return 0;
  }
  if (!ParseFlags(args, "encode-chat", {{"--request", &request_path}})) return 2;
  if (request_path.empty()) {
    std::fprintf(stderr, "dsv4 encode-chat: --request FILE is required\n");
    return 2;
  }
  std::string request;
  if (!ReadFile(request_path, &request)) {
    std::fprintf(stderr, "dsv4 encode-chat: cannot read request file '%s'\n", request_path.c_str());
    return 1;
  }
  Result<std::string> prompt = EncodeChatJson(request);
  if (!prompt.ok()) {
    std::fprintf(stderr, "dsv4 encode-chat: %s: %s\n", request_path.c_str(),
                 prompt.status().message().c_str());
    return 1;
  }
  std::fwrite(prompt->data(), 1, prompt->size(), stdout);
  return 0;
}

int RunParseCompletion(const std::vector<std::string>& args) {
  std::string mode_name;
  std::string text_path;
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    std::fprintf(stderr,
                 "usage: dsv4 parse-completion --mode chat|thinking --text-file FILE\n"
                 "  FILE: the completion text generated after the prompt (with its EOS text).\n"
                 "  Prints the assistant message as JSON: role, content, reasoning_content,\n"
                 "  tool_calls [{type, function: {name, arguments (a JSON string)}}].\n");
    return 0;
  }
  if (!ParseFlags(args, "parse-completion",
                  {{"--mode", &mode_name}, {"--text-file", &text_path}})) {
    return 2;
  }
  Result<ThinkingMode> mode = ParseThinkingMode(mode_name);
  if (!mode.ok() || text_path.empty()) {
    std::fprintf(stderr, "dsv4 parse-completion: need --mode chat|thinking and --text-file FILE\n");
    return 2;
  }
  std::string text;
  if (!ReadFile(text_path, &text)) {
    std::fprintf(stderr, "dsv4 parse-completion: cannot read text file '%s'\n", text_path.c_str());
    return 1;
  }
  Result<ParsedMessage> message = ParseCompletion(text, *mode);
  if (!message.ok()) {
    std::fprintf(stderr, "dsv4 parse-completion: %s: %s\n", text_path.c_str(),
                 message.status().message().c_str());
    return 1;
  }
  std::string json = PyJsonDumps(ParsedMessageToJson(*message)) + "\n";
  std::fwrite(json.data(), 1, json.size(), stdout);
  return 0;
}

const CommandRegistrar kEncodeChat{"encode-chat", "render a chat request to the prompt string",
                                   &RunEncodeChat};
const CommandRegistrar kParseCompletion{
    "parse-completion", "parse a completion into an assistant message (JSON)", &RunParseCompletion};

}  // namespace
}  // namespace dsv4
