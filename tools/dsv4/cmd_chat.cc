// dsv4 chat --model DIR [-n N] [--temp T] [--seed S] [--think] [--system TEXT] [--ctx N]
// Interactive multi-turn chat on stdin/stdout. The Sequence is kept between turns: when the official
// encoding of the conversation extends the tokens already processed, only the new suffix is
// prefilled. Commands: /reset, /think (toggle thinking mode), /stats, /quit.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/encoding.h"
#include "command.h"
#include "text_session.h"

namespace dsv4 {
namespace {

using ojson = nlohmann::ordered_json;

struct ChatStats {
  int turns = 0;
  int64_t prefilled = 0, reused = 0, generated = 0;
  double prefill_s = 0, decode_s = 0;
};

int RunChat(const std::vector<std::string>& args) {
  std::string model_dir, system;
  bool think = false;
  int n = 256;
  int64_t ctx = 0;
  SamplingParams sampling{.temperature = 0.6f};
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& f = args[i];
    const bool has = i + 1 < args.size();
    if ((f == "--model" || f == "-m") && has) model_dir = args[++i];
    else if (f == "--system" && has) system = args[++i];
    else if (f == "-n" && has) n = std::atoi(args[++i].c_str());
    else if (f == "--temp" && has) sampling.temperature = static_cast<float>(std::atof(args[++i].c_str()));
    else if ((f == "--seed" || f == "-s") && has) sampling.seed = std::strtoull(args[++i].c_str(), nullptr, 10);
    else if (f == "--ctx" && has) ctx = std::atoll(args[++i].c_str());
    else if (f == "--think") think = true;
    else {
      std::fprintf(stderr, "usage: dsv4 chat --model DIR [-n N] [--temp T] [--seed S] [--think] "
                           "[--system TEXT] [--ctx N]\n");
      return 2;
    }
  }
  if (model_dir.empty()) {
    std::fprintf(stderr, "usage: dsv4 chat --model DIR\n");
    return 2;
  }
  auto session = TextSession::Open(model_dir);
  if (!session.ok()) {
    std::fprintf(stderr, "dsv4 chat: %s\n", session.status().ToString().c_str());
    return 1;
  }
  if (session->random_weights) {
    std::fprintf(stderr, "[dsv4] note: random-weight model: replies are noise\n");
  }
  const Model& model = *session->model;
  if (ctx <= 0) ctx = model.config().max_position_embeddings;
  Sequence seq(model);
  ojson messages = ojson::array();
  if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
  ChatStats stats;
  std::string processed_text;     // prompt + completion text of everything in `seq` (+ pending)
  std::vector<int32_t> pending;   // generated but not yet fed (the last token of a reply)
  auto reset = [&] {
    seq.Reset();
    processed_text.clear();
    pending.clear();
  };
  std::fprintf(stderr, "dsv4 chat: /reset /think /stats /quit\n");
  std::string line;
  while (std::fprintf(stderr, "> "), std::getline(std::cin, line)) {
    if (line == "/quit" || line == "/exit") break;
    if (line == "/reset") {
      reset();
      messages = ojson::array();
      if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
      std::fprintf(stderr, "[conversation reset]\n");
      continue;
    }
    if (line == "/think") {
      think = !think;
      std::fprintf(stderr, "[thinking mode %s]\n", think ? "on" : "off");
      continue;
    }
    if (line == "/stats") {
      std::fprintf(stderr, "[turns %d, context %lld tokens, prefilled %lld, reused %lld, generated %lld, "
                           "prefill %.1f tok/s, decode %.1f tok/s]\n",
                   stats.turns, static_cast<long long>(seq.length()), static_cast<long long>(stats.prefilled),
                   static_cast<long long>(stats.reused), static_cast<long long>(stats.generated),
                   stats.prefilled / std::max(stats.prefill_s, 1e-9), stats.generated / std::max(stats.decode_s, 1e-9));
      continue;
    }
    if (line.empty()) continue;
    if (const size_t bad = FindInvalidUtf8(line); bad != std::string::npos) {
      std::fprintf(stderr, "[input is not valid UTF-8 (byte offset %zu); ignored]\n", bad);
      continue;
    }
    if (!line.empty() && line[0] == '/') {
      std::fprintf(stderr, "[unknown command %s]\n", line.c_str());
      continue;
    }
    ojson next = messages;
    next.push_back({{"role", "user"}, {"content", line}});
    auto text = EncodeChat({{"messages", next}, {"thinking_mode", think ? "thinking" : "chat"},
                            {"context", nullptr}, {"drop_thinking", true},
                            {"add_default_bos_token", true}, {"reasoning_effort", nullptr}});
    if (!text.ok()) {
      std::fprintf(stderr, "[error: %s]\n", text.status().message().c_str());
      continue;
    }
    // Reuse the sequence when the new prompt text extends everything processed so far (the reply's
    // own tokens are kept, as generated); otherwise (e.g. earlier reasoning dropped) start over.
    const bool extends = !processed_text.empty() && text->size() > processed_text.size() &&
                         text->compare(0, processed_text.size(), processed_text) == 0;
    if (!extends) reset();
    auto tail = session->tokenizer->Encode(std::string_view(*text).substr(processed_text.size()));
    if (!tail.ok()) {
      std::fprintf(stderr, "[error: %s]\n", tail.status().message().c_str());
      continue;
    }
    std::vector<int32_t> suffix = pending;
    suffix.insert(suffix.end(), tail->begin(), tail->end());
    stats.reused += seq.length();
    GenerateOptions o{.sampling = sampling, .max_new_tokens = n};
    o.stop_token_ids = {session->tokenizer->eos_id()};
    auto r = GenerateAndStream(*session, seq, suffix, o, ctx, true,
                               think ? ThinkingMode::kThinking : ThinkingMode::kChat);
    if (!r.ok()) {
      std::fprintf(stderr, "[error: %s]\n", r.status().message().c_str());
      reset();  // a failed turn may have left a partial prefill: start clean next time
      continue;
    }
    processed_text = *text + r->completion;
    pending.assign(r->tokens.end() - (r->tokens.empty() ? 0 : 1), r->tokens.end());
    ++stats.turns;
    stats.prefilled += r->stats.prompt_tokens;
    stats.generated += r->stats.generated;
    stats.prefill_s += r->stats.prefill_s;
    stats.decode_s += r->stats.decode_s;
    auto parsed = ParseCompletion(r->completion, think ? ThinkingMode::kThinking : ThinkingMode::kChat);
    ojson reply = {{"role", "assistant"}, {"content", parsed.ok() ? parsed->content : r->completion}};
    if (parsed.ok() && think) reply["reasoning_content"] = parsed->reasoning_content;
    next.push_back(reply);
    messages = next;
  }
  return 0;
}

const CommandRegistrar kRegistrar{"chat", "interactive multi-turn chat (keeps the sequence between turns)",
                                  &RunChat};

}  // namespace
}  // namespace dsv4
