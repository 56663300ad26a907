#include "text_session.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "chat/completion_stream.h"
#include "chat/encoding.h"
#include "kernels/kernels.h"
#include "kernels/thread_pool.h"

namespace dsv4 {
namespace {

template <typename T>
bool ParseInteger(const std::string& s, T* out) {
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, *out);
  return ec == std::errc() && p == end;
}

bool ParseFloat(const std::string& s, float* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  *out = std::strtof(s.c_str(), &end);
  return end == s.c_str() + s.size() && std::isfinite(*out);
}

}  // namespace

const char kGenerationFlagsHelp[] =
    "  --model, -m DIR       checkpoint directory with tokenizer.json\n"
    "  -n, --n-predict N     new tokens per answer\n"
    "  --temp T              temperature (0 = greedy; default 0.6 as the reference)\n"
    "  --top-p P, --top-k K  nucleus / top-k filtering\n"
    "  --seed, -s S          sampler seed\n"
    "  --think, --no-think   thinking mode (reasoning on stderr) or chat mode (default)\n"
    "  --system TEXT         system prompt\n"
    "  --stop TEXT           stop string (repeatable); EOS always stops\n"
    "  --chunk N             prefill chunk in tokens (default 512)\n"
    "  --ctx N               context limit (default: config max_position_embeddings)\n"
    "  --threads N           kernel threads (default: DSV4_THREADS, else every hardware thread)\n"
    "  --fast-prefill        oneDNN for prefill chunks of 64+ tokens (~10% faster); outputs then\n"
    "                        depend in their last bits on chunking and threads (docs/kernels.md)\n";

FlagParse ParseGenerationFlag(const std::vector<std::string>& args, size_t* i,
                              GenerationFlags* f, std::string* error) {
  const std::string& flag = args[*i];
  auto is = [&](std::initializer_list<const char*> names) {
    for (const char* n : names) {
      if (flag == n) return true;
    }
    return false;
  };
  if (is({"--think"})) return f->think = true, FlagParse::kOk;
  if (is({"--fast-prefill"})) return SetFastPrefill(true), FlagParse::kOk;
  if (is({"--no-think"})) return f->think = false, FlagParse::kOk;
  const bool takes_value = is({"--model", "-m", "--system", "--stop", "-n", "--n-predict", "--temp",
                               "--top-p", "--top-k", "--seed", "-s", "--chunk", "--ctx",
                               "--threads"});
  if (!takes_value) return FlagParse::kNotMine;
  if (*i + 1 >= args.size()) {
    *error = flag + " needs a value";
    return FlagParse::kError;
  }
  const std::string& v = args[++*i];
  bool ok = true;
  if (is({"--model", "-m"})) f->model = v;
  else if (is({"--system"})) f->system = v;
  else if (is({"--stop"})) ok = !v.empty(), f->stop.push_back(v);
  else if (is({"-n", "--n-predict"})) ok = ParseInteger(v, &f->n) && f->n > 0;
  else if (is({"--temp"})) ok = ParseFloat(v, &f->sampling.temperature);
  else if (is({"--top-p"})) ok = ParseFloat(v, &f->sampling.top_p);
  else if (is({"--top-k"})) ok = ParseInteger(v, &f->sampling.top_k);
  else if (is({"--seed", "-s"})) ok = ParseInteger(v, &f->sampling.seed);
  else if (is({"--chunk"})) ok = ParseInteger(v, &f->chunk) && f->chunk >= 0;
  else if (is({"--ctx"})) ok = ParseInteger(v, &f->ctx) && f->ctx > 0;
  else if (is({"--threads"})) {
    int threads = 0;
    ok = ParseInteger(v, &threads) && threads > 0 && threads <= 4096;
    if (ok) SetDefaultThreads(threads);  // before the pool's first use (the model is not loaded yet)
  }
  if (!ok) {
    *error = "bad value '" + v + "' for " + flag;
    return FlagParse::kError;
  }
  return FlagParse::kOk;
}

Result<TextSession> TextSession::Open(const std::string& dir) {
  namespace fs = std::filesystem;
  if (dir.empty()) return InvalidArgument("no model directory given (--model DIR)");
  if (!fs::is_directory(dir)) {
    return NotFound("model directory '" + dir +
                    "' does not exist (dsv4 make-model --preset default --out DIR writes one)");
  }
  if (!fs::exists(fs::path(dir) / "tokenizer.json")) {
    return NotFound(dir + " has no tokenizer.json (text needs the checkpoint's tokenizer; "
                          "token ids work without one: dsv4 run --prompt-ids)");
  }
  TextSession s;
  DSV4_ASSIGN_OR_RETURN(s.model, Model::Load(dir, /*progress=*/true));
  DSV4_ASSIGN_OR_RETURN(s.tokenizer, Tokenizer::Load(dir));
  if (s.tokenizer->vocab_size() > s.model->config().vocab_size) {
    return InvalidArgument(dir + ": tokenizer.json has " +
                           std::to_string(s.tokenizer->vocab_size()) +
                           " tokens but the model's vocab_size is " +
                           std::to_string(s.model->config().vocab_size));
  }
  std::ifstream card(fs::path(dir) / "dsv4_model_card.json");
  if (card) {
    try {
      s.random_weights = nlohmann::json::parse(card).value("random_weights", false);
    } catch (const std::exception&) {
      // A malformed card is not worth refusing the model for.
    }
  }
  return s;
}

int64_t TextSession::ContextLimit(int64_t ctx_flag) const {
  return ctx_flag > 0 ? ctx_flag : model->config().max_position_embeddings;
}

GenerateOptions TextSession::Options(const GenerationFlags& f) const {
  GenerateOptions o{.sampling = f.sampling,
                    .stop = {.stop_strings = f.stop},
                    .max_new_tokens = f.n,
                    .prefill_chunk = f.chunk,
                    .context_limit = ContextLimit(f.ctx)};
  // Normally the config's EOS (added by Generate); a tokenizer that names another one is obeyed too.
  if (tokenizer->eos_id() >= 0) o.stop.stop_token_ids.push_back(tokenizer->eos_id());
  return o;
}

Result<std::string> EncodeConversation(const nlohmann::ordered_json& messages, bool think) {
  return EncodeChat({{"messages", messages},
                     {"thinking_mode", think ? "thinking" : "chat"},
                     {"context", nullptr},
                     {"drop_thinking", true},
                     {"add_default_bos_token", true},
                     {"reasoning_effort", nullptr}});
}

namespace {

// Prints completion deltas: content on stdout, reasoning on stderr between markers.
class DeltaPrinter {
 public:
  void Print(const std::vector<CompletionDelta>& deltas) {
    for (const CompletionDelta& d : deltas) {
      const bool reasoning = d.kind == CompletionDeltaKind::kReasoning;
      if (reasoning && !in_reasoning_) std::fputs("[thinking] ", stderr);
      if (!reasoning && in_reasoning_) std::fputs(" [/thinking]\n", stderr);
      in_reasoning_ = reasoning;
      if (reasoning) std::fputs(d.text.c_str(), stderr);
      else if (d.kind == CompletionDeltaKind::kToolCallName) std::printf("\n[tool call %s] ", d.text.c_str());
      else std::fputs(d.text.c_str(), stdout);
    }
    std::fflush(stdout);
    std::fflush(stderr);
  }
  void End() {
    if (in_reasoning_) std::fputs(" [/thinking]\n", stderr);
    in_reasoning_ = false;
  }

 private:
  bool in_reasoning_ = false;
};

}  // namespace

Result<StreamResult> GenerateAndStream(TextSession& s, Sequence& seq,
                                       const std::vector<int32_t>& prompt_ids,
                                       const GenerateOptions& options, bool chat_mode,
                                       ThinkingMode mode) {
  StreamDecoder decoder(*s.tokenizer);
  CompletionStreamParser parser(mode);
  DeltaPrinter printer;
  bool parsing = chat_mode;
  std::vector<CompletionDelta> deltas;
  auto show = [&](std::string_view text) {
    if (!parsing) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return;
    }
    deltas.clear();
    if (Status st = parser.Feed(text, &deltas); !st.ok()) {
      // Malformed DSML (likely with random weights): say so and show the rest raw.
      printer.End();
      std::fprintf(stderr, "\n[dsv4: completion does not parse (%s); raw text follows]\n",
                   st.message().c_str());
      parsing = false;
      std::fwrite(text.data(), 1, text.size(), stdout);
      return;
    }
    printer.Print(deltas);
  };
  GenerateOptions o = options;
  o.decoder = {.feed = [&](int32_t t) { return decoder.Feed(t); },
               .flush = [&] { return decoder.Flush(); }};
  auto gen = Generate(*s.model, seq, prompt_ids, o, [&](const GeneratedToken& t) {
    show(t.text);
    return true;
  });
  if (!gen.ok()) return gen.status();
  StreamResult result{.gen = std::move(*gen)};
  result.completion = result.gen.text;
  if (result.gen.finish == FinishReason::kStopToken) {
    // The parser wants the completion as the model wrote it, EOS text included.
    const std::string eos = s.tokenizer->Decode({&result.gen.tokens.back(), 1});
    result.completion += eos;
    if (parsing) show(eos);
  }
  if (parsing) {
    deltas.clear();
    auto done = parser.Finish(&deltas);
    if (done.ok()) {
      printer.Print(deltas);
    } else if (result.gen.finish == FinishReason::kStopToken) {
      // Cut short by -n or a stop string, an unfinished message is expected; after EOS it is not.
      printer.End();
      std::fprintf(stderr, "\n[dsv4: completion does not parse: %s]\n",
                   done.status().message().c_str());
    }
  }
  printer.End();
  std::printf("\n");
  std::fflush(stdout);
  return result;
}

void PrintSpeed(const GenerateResult& r) {
  std::fprintf(stderr,
               "[dsv4] prompt %lld tokens in %.2f s (%.1f tok/s prefill), generated %lld tokens "
               "in %.2f s (%.1f tok/s decode), finish: %s\n",
               static_cast<long long>(r.prompt_tokens), r.prefill_s, r.PrefillTokensPerSecond(),
               static_cast<long long>(r.generated()), r.decode_s, r.DecodeTokensPerSecond(),
               FinishReasonName(r.finish));
}

}  // namespace dsv4
