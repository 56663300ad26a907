// dsv4 run --model DIR --prompt TEXT [-n N] [--temp T] [--top-p P] [--top-k K] [--seed S]
//          [--think | --no-think] [--raw] [--system TEXT] [--chunk N] [--ctx N]
// Chat-encodes the prompt with the official V4 encoding (or --raw: plain completion), streams the
// answer to stdout (reasoning to stderr between [thinking] markers), prints speeds to stderr.
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/encoding.h"
#include "command.h"
#include "text_session.h"

namespace dsv4 {
namespace {

struct RunArgs {
  std::string model, prompt, system, prompt_ids;
  bool has_prompt = false, think = false, raw = false;
  int n = 128, chunk = 512;
  int64_t ctx = 0;
  SamplingParams sampling{.temperature = 0.6f};  // generate.py's default temperature
};

bool Parse(const std::vector<std::string>& args, RunArgs* a) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& f = args[i];
    const bool has = i + 1 < args.size();
    auto num = [&]() { return std::atof(args[++i].c_str()); };
    if ((f == "--model" || f == "-m") && has) a->model = args[++i];
    else if ((f == "--prompt" || f == "-p") && has) a->prompt = args[++i], a->has_prompt = true;
    else if (f == "--system" && has) a->system = args[++i];
    else if (f == "--prompt-ids" && has) a->prompt_ids = args[++i];
    else if (f == "-n" || f == "--n-predict") { if (!has) return false; a->n = static_cast<int>(num()); }
    else if (f == "--temp" && has) a->sampling.temperature = static_cast<float>(num());
    else if (f == "--top-p" && has) a->sampling.top_p = static_cast<float>(num());
    else if (f == "--top-k" && has) a->sampling.top_k = static_cast<int>(num());
    else if ((f == "--seed" || f == "-s") && has) a->sampling.seed = std::strtoull(args[++i].c_str(), nullptr, 10);
    else if (f == "--chunk" && has) a->chunk = static_cast<int>(num());
    else if (f == "--ctx" && has) a->ctx = static_cast<int64_t>(num());
    else if (f == "--think") a->think = true;
    else if (f == "--no-think") a->think = false;
    else if (f == "--raw") a->raw = true;
    else return false;
  }
  return !a->model.empty() && (a->has_prompt != !a->prompt_ids.empty());
}

// --prompt-ids "[1, 2, 3]": token ids in, token ids out — runs any checkpoint, also those without a
// tokenizer (the golden models).
int RunIds(const RunArgs& a) {
  std::vector<int32_t> prompt;
  try {
    prompt = nlohmann::json::parse(a.prompt_ids).get<std::vector<int32_t>>();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsv4 run: --prompt-ids must be a JSON array of token ids: %s\n", e.what());
    return 2;
  }
  auto model = Model::Load(a.model, /*progress=*/true);
  if (!model.ok()) {
    std::fprintf(stderr, "dsv4 run: %s\n", model.status().ToString().c_str());
    return 1;
  }
  const ModelConfig& cfg = (*model)->config();
  GenerateOptions o{.sampling = a.sampling, .max_new_tokens = a.n, .prefill_chunk = a.chunk};
  o.stop_token_ids = {cfg.eos_token_id};
  Sequence seq(**model);
  std::vector<int32_t> out;
  auto r = Generate(seq, prompt, o, a.ctx > 0 ? a.ctx : cfg.max_position_embeddings, [&](int32_t t) {
    out.push_back(t);
    return true;
  });
  if (!r.ok()) {
    std::fprintf(stderr, "dsv4 run: %s\n", r.status().message().c_str());
    return 1;
  }
  std::printf("%s\n", nlohmann::json(out).dump().c_str());
  PrintSpeed(StreamResult{*r, "", out});
  return 0;
}

int RunRun(const std::vector<std::string>& args) {
  RunArgs a;
  if (!Parse(args, &a)) {
    std::fprintf(stderr, "usage: dsv4 run --model DIR (--prompt TEXT | --prompt-ids JSON) [-n N] [--temp T] [--top-p P] "
                         "[--top-k K] [--seed S] [--think|--no-think] [--raw] [--system TEXT] "
                         "[--chunk N] [--ctx N]\n");
    return 2;
  }
  if (!a.prompt_ids.empty()) return RunIds(a);
  if (a.prompt.empty()) {
    std::fprintf(stderr, "dsv4 run: the prompt is empty\n");
    return 2;
  }
  if (const size_t bad = FindInvalidUtf8(a.prompt); bad != std::string::npos) {
    std::fprintf(stderr, "dsv4 run: the prompt is not valid UTF-8 (byte offset %zu)\n", bad);
    return 2;
  }
  auto session = TextSession::Open(a.model);
  if (!session.ok()) {
    std::fprintf(stderr, "dsv4 run: %s\n", session.status().ToString().c_str());
    return 1;
  }
  if (session->random_weights) {
    std::fprintf(stderr, "[dsv4] note: %s has random weights (dsv4 make-model): its text is noise; "
                         "this run exercises the whole path, not the model\n", a.model.c_str());
  }
  std::string text = a.prompt;
  if (!a.raw) {
    nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
    if (!a.system.empty()) msgs.push_back({{"role", "system"}, {"content", a.system}});
    msgs.push_back({{"role", "user"}, {"content", a.prompt}});
    auto encoded = EncodeChat({{"messages", msgs}, {"thinking_mode", a.think ? "thinking" : "chat"},
                               {"context", nullptr}, {"drop_thinking", true},
                               {"add_default_bos_token", true}, {"reasoning_effort", nullptr}});
    if (!encoded.ok()) {
      std::fprintf(stderr, "dsv4 run: %s\n", encoded.status().message().c_str());
      return 2;
    }
    text = *encoded;
  }
  auto ids = session->tokenizer->Encode(text);
  if (!ids.ok()) {
    std::fprintf(stderr, "dsv4 run: %s\n", ids.status().message().c_str());
    return 2;
  }
  const Model& model = *session->model;
  const int64_t ctx = a.ctx > 0 ? a.ctx : model.config().max_position_embeddings;
  GenerateOptions o{.sampling = a.sampling, .max_new_tokens = a.n, .prefill_chunk = a.chunk};
  o.stop_token_ids = {session->tokenizer->eos_id() >= 0 ? session->tokenizer->eos_id()
                                                        : model.config().eos_token_id};
  Sequence seq(model);
  auto r = GenerateAndStream(*session, seq, *ids, o, ctx, !a.raw,
                             a.think ? ThinkingMode::kThinking : ThinkingMode::kChat);
  if (!r.ok()) {
    std::fprintf(stderr, "dsv4 run: %s\n", r.status().message().c_str());
    return 1;
  }
  PrintSpeed(*r);
  return 0;
}

const CommandRegistrar kRegistrar{"run", "generate text for a prompt (official chat encoding)", &RunRun};

}  // namespace
}  // namespace dsv4
