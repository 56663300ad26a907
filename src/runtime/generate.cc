#include "runtime/generate.h"

#include <algorithm>
#include <chrono>

namespace dsv4 {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Everything that can be checked without running the model.
Status Validate(const Model& model, const Sequence& seq, std::span<const int32_t> prompt,
                const GenerateOptions& o) {
  if (prompt.empty()) return InvalidArgument("empty prompt");
  if (o.max_new_tokens < 1) {
    return InvalidArgument("max_new_tokens must be at least 1, got " +
                           std::to_string(o.max_new_tokens));
  }
  if (o.prefill_chunk < 0) {
    return InvalidArgument("prefill_chunk must be >= 0 (0 = one call), got " +
                           std::to_string(o.prefill_chunk));
  }
  DSV4_RETURN_IF_ERROR(o.sampling.Validate());
  if (!o.stop.stop_strings.empty() && !o.decoder.feed) {
    return InvalidArgument("stop strings need a text decoder (token ids alone have no text)");
  }
  const ModelConfig& cfg = model.config();
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= cfg.vocab_size) {
      return InvalidArgument("prompt token " + std::to_string(i) + " = " +
                             std::to_string(prompt[i]) + " is outside the vocabulary [0, " +
                             std::to_string(cfg.vocab_size) + ")");
    }
  }
  const int64_t limit = o.context_limit > 0 ? o.context_limit : cfg.max_position_embeddings;
  const int64_t needed = seq.length() + static_cast<int64_t>(prompt.size()) + o.max_new_tokens;
  if (needed > limit) {
    return InvalidArgument("prompt of " + std::to_string(prompt.size()) + " tokens (+" +
                           std::to_string(seq.length()) + " already in the sequence) plus " +
                           std::to_string(o.max_new_tokens) +
                           " new tokens exceeds the context of " + std::to_string(limit) +
                           " tokens (shorten the prompt, lower -n or raise --ctx)");
  }
  return Status::Ok();
}

FinishReason FromStopReason(StopReason r) {
  switch (r) {
    case StopReason::kStopToken:
      return FinishReason::kStopToken;
    case StopReason::kStopString:
      return FinishReason::kStopString;
    default:
      return FinishReason::kLength;
  }
}

}  // namespace

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStopToken:
      return "stop_token";
    case FinishReason::kStopString:
      return "stop_string";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCallback:
      return "callback";
  }
  return "unknown";
}

double GenerateResult::PrefillTokensPerSecond() const {
  return prefill_s > 0 ? prompt_tokens / prefill_s : 0.0;
}

double GenerateResult::DecodeTokensPerSecond() const {
  return decode_s > 0 && decode_steps > 0 ? decode_steps / decode_s : 0.0;
}

Result<GenerateResult> Generate(const Model& model, Sequence& seq,
                                std::span<const int32_t> prompt, const GenerateOptions& o,
                                const TokenCallback& on_token) {
  DSV4_RETURN_IF_ERROR(Validate(model, seq, prompt, o));
  StopParams stop_params = o.stop;
  stop_params.max_tokens = o.max_new_tokens;
  if (o.stop_at_eos) stop_params.stop_token_ids.push_back(model.config().eos_token_id);
  DSV4_ASSIGN_OR_RETURN(StopChecker stop, StopChecker::Create(std::move(stop_params)));
  DSV4_ASSIGN_OR_RETURN(Sampler sampler, Sampler::Create(o.sampling));

  GenerateResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());
  std::vector<float> logits;  // [V] of the last token fed
  auto t0 = Clock::now();
  const size_t chunk = o.prefill_chunk > 0 ? o.prefill_chunk : prompt.size();
  for (size_t at = 0; at < prompt.size(); at += chunk) {
    DSV4_RETURN_IF_ERROR(
        seq.Append(prompt.subspan(at, std::min(chunk, prompt.size() - at)), &logits));
  }
  result.prefill_s = Since(t0);

  t0 = Clock::now();
  std::vector<int32_t> history(seq.tokens().begin(), seq.tokens().end());  // for penalties
  while (true) {
    DSV4_ASSIGN_OR_RETURN(SampleResult r, sampler.Sample(logits, history));
    history.push_back(r.token);
    result.tokens.push_back(r.token);
    const std::string piece = o.decoder.feed ? o.decoder.feed(r.token) : std::string();
    const StopUpdate update = stop.Append(r.token, piece);
    result.text += update.text;
    const bool go_on = on_token({.id = r.token, .logprob = r.logprob, .text = update.text});
    if (update.stopped()) {
      result.finish = FromStopReason(update.reason);
      break;
    }
    if (!go_on) {
      result.finish = FinishReason::kCallback;
      break;
    }
    DSV4_RETURN_IF_ERROR(seq.Append({&r.token, 1}, &logits));
    ++result.decode_steps;
  }
  // Text still held back (a possible stop-string prefix, an incomplete character) is released
  // unless a stop string or stop token ended the output.
  if (result.finish == FinishReason::kLength || result.finish == FinishReason::kCallback) {
    std::string tail = stop.Flush();
    if (o.decoder.flush) tail += o.decoder.flush();
    if (!tail.empty()) {
      result.text += tail;
      on_token({.id = GeneratedToken::kNoToken, .text = tail});
    }
  }
  result.decode_s = Since(t0);
  return result;
}

}  // namespace dsv4
