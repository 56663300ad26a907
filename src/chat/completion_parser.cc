#include "chat/completion_parser.h"

#include <array>
#include <initializer_list>
#include <set>

#include "chat/chat_error.h"
#include "chat/dsml.h"
#include "chat/special_tokens.h"

namespace dsv4 {
namespace {

namespace tok = chat_tokens;

struct ReadResult {
  size_t next = 0;           // index after the stop token (or the end of the text)
  std::string_view content;  // text before the stop token
  std::string_view stop;     // the stop token found first, empty when none
};

// _read_until_stop: the text up to the earliest of `stops`.
ReadResult ReadUntilStop(std::string_view text, size_t index,
                         std::initializer_list<std::string_view> stops) {
  size_t best = std::string_view::npos;
  std::string_view matched;
  for (std::string_view s : stops) {
    size_t pos = text.find(s, index);
    if (pos != std::string_view::npos && (best == std::string_view::npos || pos < best)) {
      best = pos;
      matched = s;
    }
  }
  if (best == std::string_view::npos) return {text.size(), text.substr(index), {}};
  return {best + matched.size(), text.substr(index, best - index), matched};
}

Status ValueError(std::string message) {
  return ChatError(ChatErrorKind::kValue, std::move(message));
}

Status ExpectNewlineAfterTag(std::string_view content, const char* what) {
  if (content == ">\n") return Status::Ok();
  return ValueError(std::string(what) + " format error: expected '>\\n' but got '" +
                    std::string(content) + "'");
}

// One invoke after its "<｜DSML｜invoke": header, then parameters until "</｜DSML｜invoke".
Status ParseInvoke(std::string_view text, size_t* index, std::vector<ToolCall>* calls) {
  ReadResult r = ReadUntilStop(text, *index, {tok::kParameterStart, tok::kInvokeEnd});
  *index = r.next;
  ToolCall call;
  if (!dsml::MatchInvokeHeader(r.content, &call.name)) {
    return ValueError("Tool name format error: '" + std::string(r.content) + "'");
  }
  std::set<std::string> seen;
  std::string members;
  std::string_view stop = r.stop;
  while (stop == tok::kParameterStart) {
    r = ReadUntilStop(text, *index, {tok::kParameterEnd});
    *index = r.next;
    dsml::Parameter param;
    if (!dsml::MatchParameter(r.content, &param)) {
      return ValueError("Parameter format error: '" + std::string(r.content) + "'");
    }
    if (!seen.insert(param.name).second) {
      return ValueError("Duplicate parameter name: '" + param.name + "'");
    }
    if (!members.empty()) members += ", ";
    members += dsml::ArgumentMember(param);
    r = ReadUntilStop(text, *index, {tok::kParameterStart, tok::kInvokeEnd});
    *index = r.next;
    DSV4_RETURN_IF_ERROR(ExpectNewlineAfterTag(r.content, "Parameter"));
    stop = r.stop;
  }
  call.arguments = "{" + members + "}";
  calls->push_back(std::move(call));
  return Status::Ok();
}

// parse_tool_calls: from just after "\n\n<｜DSML｜tool_calls" to "</｜DSML｜tool_calls>".
Status ParseToolCalls(std::string_view text, size_t* index, std::vector<ToolCall>* calls) {
  while (*index < text.size()) {
    ReadResult r = ReadUntilStop(text, *index, {tok::kInvokeStart, tok::kToolCallsEnd});
    *index = r.next;
    DSV4_RETURN_IF_ERROR(ExpectNewlineAfterTag(r.content, "Tool call"));
    if (r.stop == tok::kToolCallsEnd) break;
    if (r.stop.empty()) return ValueError("Missing special token in tool calls");
    DSV4_RETURN_IF_ERROR(ParseInvoke(text, index, calls));
  }
  return Status::Ok();
}

Status Assertion(const char* message) { return ChatError(ChatErrorKind::kAssertion, message); }

}  // namespace

Result<ThinkingMode> ParseThinkingMode(std::string_view name) {
  if (name == "chat") return ThinkingMode::kChat;
  if (name == "thinking") return ThinkingMode::kThinking;
  return InvalidArgument("thinking mode must be 'chat' or 'thinking', got '" + std::string(name) +
                         "'");
}

Result<ParsedMessage> ParseCompletion(std::string_view text, ThinkingMode mode) {
  ParsedMessage message;
  size_t index = 0;
  if (mode == ThinkingMode::kThinking) {
    ReadResult r = ReadUntilStop(text, index, {tok::kThinkEnd, tok::kToolCallsStart});
    index = r.next;
    message.reasoning_content = std::string(r.content);
    if (r.stop != tok::kThinkEnd) return Assertion("Invalid thinking format: missing </think>");
  }
  ReadResult r = ReadUntilStop(text, index, {tok::kEos, tok::kToolCallsStart});
  index = r.next;
  message.content = std::string(r.content);
  if (r.stop == tok::kToolCallsStart) {
    DSV4_RETURN_IF_ERROR(ParseToolCalls(text, &index, &message.tool_calls));
    ReadResult tail = ReadUntilStop(text, index, {tok::kEos});  // EOS optional after tool calls
    index = tail.next;
    if (!tail.content.empty()) return Assertion("Unexpected content after tool calls");
  } else if (r.stop != tok::kEos) {
    return Assertion("Invalid format: missing EOS token");
  }
  if (index != text.size()) return Assertion("Unexpected content at end");
  for (std::string_view sp : {tok::kBos, tok::kEos, tok::kThinkStart, tok::kThinkEnd, tok::kDsml}) {
    if (message.content.find(sp) != std::string::npos ||
        message.reasoning_content.find(sp) != std::string::npos) {
      return ChatError(ChatErrorKind::kAssertion,
                       "Unexpected special token '" + std::string(sp) + "' in content");
    }
  }
  return message;
}

nlohmann::ordered_json ParsedMessageToJson(const ParsedMessage& message) {
  nlohmann::ordered_json calls = nlohmann::ordered_json::array();
  for (const ToolCall& call : message.tool_calls) {
    calls.push_back(
        {{"type", "function"}, {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
  }
  return {{"role", message.role},
          {"content", message.content},
          {"reasoning_content", message.reasoning_content},
          {"tool_calls", calls}};
}

}  // namespace dsv4
