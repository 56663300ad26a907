// dsv4 run --model DIR (--prompt TEXT | --file F | --prompt-ids JSON) [-n N] [--temp T] [--top-p P]
//          [--top-k K] [--seed S] [--think | --no-think] [--raw] [--system TEXT] [--stop S]
//          [--chunk N] [--ctx N]
// Chat-encodes the prompt with the official V4 encoding (or --raw: plain completion), streams the
// answer to stdout (reasoning to stderr between [thinking] markers), prints speeds to stderr.
// Exit codes: 0 ok, 1 runtime error (model, context), 2 usage or bad input.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "command.h"
#include "text_session.h"

namespace dsv4 {
namespace {

constexpr int kUsageError = 2;
constexpr int kRuntimeError = 1;

struct RunArgs {
  GenerationFlags gen;
  std::string prompt, prompt_file, prompt_ids;
  bool has_prompt = false, raw = false, help = false;
};

void Usage() {
  std::fprintf(stderr,
               "usage: dsv4 run --model DIR (--prompt TEXT | --file F | --prompt-ids JSON) [flags]\n"
               "  --prompt, -p TEXT     the user message (or the whole text with --raw)\n"
               "  --file, -f F          read the prompt from a file\n"
               "  --prompt-ids JSON     token ids in, ids out (checkpoints without a tokenizer)\n"
               "  --raw                 plain completion: no chat template\n%s",
               kGenerationFlagsHelp);
}

// Returns an error message, empty when the arguments are fine.
std::string Parse(const std::vector<std::string>& args, RunArgs* a) {
  a->gen.n = 128;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    switch (ParseGenerationFlag(args, &i, &a->gen, &error)) {
      case FlagParse::kOk:
        continue;
      case FlagParse::kError:
        return error;
      case FlagParse::kNotMine:
        break;
    }
    const std::string& f = args[i];
    const bool has = i + 1 < args.size();
    if ((f == "--prompt" || f == "-p") && has) a->prompt = args[++i], a->has_prompt = true;
    else if ((f == "--file" || f == "-f") && has) a->prompt_file = args[++i];
    else if (f == "--prompt-ids" && has) a->prompt_ids = args[++i];
    else if (f == "--raw") a->raw = true;
    else if (f == "--help" || f == "-h") a->help = true;
    else return "unknown flag or missing value: " + f;
  }
  if (a->help) return "";
  if (a->gen.model.empty()) return "--model DIR is required";
  const int sources = a->has_prompt + !a->prompt_file.empty() + !a->prompt_ids.empty();
  if (sources != 1) return "give exactly one of --prompt, --file, --prompt-ids";
  return "";
}

// --prompt-ids "[1, 2, 3]": token ids in, token ids out — runs any checkpoint, also those without
// a tokenizer (the golden models).
int RunIds(const RunArgs& a) {
  std::vector<int32_t> prompt;
  try {
    prompt = nlohmann::json::parse(a.prompt_ids).get<std::vector<int32_t>>();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsv4 run: --prompt-ids must be a JSON array of token ids: %s\n", e.what());
    return kUsageError;
  }
  auto model = Model::Load(a.gen.model, /*progress=*/true);
  if (!model.ok()) {
    std::fprintf(stderr, "dsv4 run: %s\n", model.status().ToString().c_str());
    return kRuntimeError;
  }
  GenerateOptions o{.sampling = a.gen.sampling,
                    .max_new_tokens = a.gen.n,
                    .prefill_chunk = a.gen.chunk,
                    .context_limit = a.gen.ctx};
  Sequence seq(**model);
  auto r = Generate(**model, seq, prompt, o, [](const GeneratedToken&) { return true; });
  if (!r.ok()) {
    std::fprintf(stderr, "dsv4 run: %s\n", r.status().message().c_str());
    return kRuntimeError;
  }
  std::printf("%s\n", nlohmann::json(r->tokens).dump().c_str());
  PrintSpeed(*r);
  return 0;
}

// The prompt text from --prompt or --file; an error message when it is unusable.
std::string ReadPrompt(RunArgs* a) {
  if (!a->prompt_file.empty()) {
    std::ifstream in(a->prompt_file, std::ios::binary);
    if (!in) return "cannot read prompt file '" + a->prompt_file + "'";
    std::stringstream ss;
    ss << in.rdbuf();
    a->prompt = ss.str();
  }
  if (a->prompt.empty()) return "the prompt is empty";
  if (const size_t bad = FindInvalidUtf8(a->prompt); bad != std::string::npos) {
    return "the prompt is not valid UTF-8 (byte offset " + std::to_string(bad) + ")";
  }
  if (FindInvalidUtf8(a->gen.system) != std::string::npos) {
    return "the system prompt is not valid UTF-8";
  }
  return "";
}

int RunRun(const std::vector<std::string>& args) {
  RunArgs a;
  if (const std::string error = Parse(args, &a); !error.empty() || a.help) {
    if (!error.empty()) std::fprintf(stderr, "dsv4 run: %s\n", error.c_str());
    Usage();
    return a.help && error.empty() ? 0 : kUsageError;
  }
  if (!a.prompt_ids.empty()) return RunIds(a);
  if (const std::string error = ReadPrompt(&a); !error.empty()) {
    std::fprintf(stderr, "dsv4 run: %s\n", error.c_str());
    return kUsageError;
  }
  auto session = TextSession::Open(a.gen.model);
  if (!session.ok()) {
    std::fprintf(stderr, "dsv4 run: %s\n", session.status().ToString().c_str());
    return kRuntimeError;
  }
  if (session->random_weights) {
    std::fprintf(stderr, "[dsv4] note: %s has random weights (dsv4 make-model): its text is noise; "
                         "this run exercises the whole path, not a trained model\n",
                 a.gen.model.c_str());
  }
  std::string text = a.prompt;
  if (!a.raw) {
    nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
    if (!a.gen.system.empty()) msgs.push_back({{"role", "system"}, {"content", a.gen.system}});
    msgs.push_back({{"role", "user"}, {"content", a.prompt}});
    auto encoded = EncodeConversation(msgs, a.gen.think);
    if (!encoded.ok()) {
      std::fprintf(stderr, "dsv4 run: %s\n", encoded.status().message().c_str());
      return kUsageError;
    }
    text = *encoded;
  }
  auto ids = session->tokenizer->Encode(text);
  if (!ids.ok()) {
    std::fprintf(stderr, "dsv4 run: %s\n", ids.status().message().c_str());
    return kUsageError;
  }
  Sequence seq(*session->model);
  auto r = GenerateAndStream(*session, seq, *ids, session->Options(a.gen), !a.raw,
                             a.gen.think ? ThinkingMode::kThinking : ThinkingMode::kChat);
  if (!r.ok()) {
    std::fprintf(stderr, "dsv4 run: %s\n", r.status().message().c_str());
    return kRuntimeError;
  }
  PrintSpeed(r->gen);
  return 0;
}

const CommandRegistrar kRegistrar{"run", "generate text for a prompt (official chat encoding)",
                                  &RunRun};

}  // namespace
}  // namespace dsv4
