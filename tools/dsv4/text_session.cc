#include "text_session.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "chat/completion_stream.h"
#include "runtime/stop.h"

namespace dsv4 {

Result<TextSession> TextSession::Open(const std::string& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) return NotFound("model directory '" + dir + "' does not exist");
  if (!fs::exists(fs::path(dir) / "tokenizer.json")) {
    return NotFound(dir + " has no tokenizer.json (a checkpoint for text needs its tokenizer)");
  }
  TextSession s;
  DSV4_ASSIGN_OR_RETURN(s.model, Model::Load(dir, /*progress=*/true));
  DSV4_ASSIGN_OR_RETURN(s.tokenizer, Tokenizer::Load(dir));
  std::ifstream card(fs::path(dir) / "dsv4_model_card.json");
  if (card) {
    try {
      s.random_weights = nlohmann::json::parse(card).value("random_weights", false);
    } catch (const std::exception&) {
    }
  }
  return s;
}

Result<StreamResult> GenerateAndStream(TextSession& s, Sequence& seq,
                                       const std::vector<int32_t>& prompt_ids,
                                       const GenerateOptions& options, int64_t ctx,
                                       bool chat_mode, ThinkingMode mode) {
  StreamDecoder decoder(*s.tokenizer);
  CompletionStreamParser parser(mode);
  StreamResult result;
  bool parser_ok = chat_mode, in_reasoning = false;
  std::vector<CompletionDelta> deltas;
  auto emit = [&](const std::vector<CompletionDelta>& ds) {
    for (const CompletionDelta& d : ds) {
      const bool reasoning = d.kind == CompletionDeltaKind::kReasoning;
      if (reasoning && !in_reasoning) std::fputs("[thinking] ", stderr);
      if (!reasoning && in_reasoning) std::fputs(" [/thinking]\n", stderr);
      in_reasoning = reasoning;
      if (reasoning) std::fputs(d.text.c_str(), stderr);
      else if (d.kind == CompletionDeltaKind::kContent) std::fputs(d.text.c_str(), stdout);
      else if (d.kind == CompletionDeltaKind::kToolCallName) std::printf("\n[tool call %s] ", d.text.c_str());
      else std::fputs(d.text.c_str(), stdout);
    }
    std::fflush(stdout);
    std::fflush(stderr);
  };
  auto on_text = [&](const std::string& text) {
    result.completion += text;
    if (!parser_ok) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return;
    }
    deltas.clear();
    if (Status st = parser.Feed(text, &deltas); !st.ok()) {
      // Malformed DSML: report it and show the rest raw rather than swallow it.
      std::fprintf(stderr, "\n[dsv4: completion does not parse (%s); raw text follows]\n",
                   st.message().c_str());
      parser_ok = false;
      std::fwrite(text.data(), 1, text.size(), stdout);
      return;
    }
    emit(deltas);
  };
  auto gen = Generate(seq, prompt_ids, options, ctx, [&](int32_t token) {
    result.tokens.push_back(token);
    on_text(decoder.Feed(token));
    return true;
  });
  if (!gen.ok()) return gen.status();
  result.stats = *gen;
  on_text(decoder.Flush());
  if (parser_ok) {
    deltas.clear();
    auto done = parser.Finish(&deltas);
    if (done.ok()) emit(deltas);
    else if (result.stats.stopped_by_token) {
      std::fprintf(stderr, "\n[dsv4: completion does not parse: %s]\n", done.status().message().c_str());
    }
  }
  if (in_reasoning) std::fputs(" [/thinking]\n", stderr);
  std::printf("\n");
  return result;
}

void PrintSpeed(const StreamResult& r) {
  const GenerateStats& g = r.stats;
  std::fprintf(stderr, "[dsv4] prompt %lld tokens in %.2f s (%.1f tok/s), generated %lld tokens in %.2f s (%.1f tok/s)%s\n",
               static_cast<long long>(g.prompt_tokens), g.prefill_s, g.prompt_tokens / std::max(g.prefill_s, 1e-9),
               static_cast<long long>(g.generated), g.decode_s, g.generated / std::max(g.decode_s, 1e-9),
               g.stopped_by_token ? ", stopped at end of sequence" : "");
}

}  // namespace dsv4
