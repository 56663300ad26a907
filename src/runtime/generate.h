// The generation loop: prefill (chunked), then sample and decode until EOS, a stop token, a stop
// string, the token limit, or the caller says stop. Streaming: the callback sees every generated
// token as it is produced, with the text that is safe to show (stop strings held back) when the
// caller supplies an incremental detokenizer. The runtime layer knows no tokenizer: text comes in
// through `TextDecoder`.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "model/model.h"
#include "runtime/sampler.h"
#include "runtime/sequence.h"
#include "runtime/stop.h"

namespace dsv4 {

// An incremental detokenizer, e.g. a tokenizer's StreamDecoder: `feed` returns the text one token
// completes (incomplete UTF-8 held back), `flush` what is still held back at the end.
struct TextDecoder {
  std::function<std::string(int32_t token)> feed;
  std::function<std::string()> flush;
};

struct GenerateOptions {
  SamplingParams sampling;
  // Stop token ids and stop strings (strings need `decoder`). stop.max_tokens is ignored:
  // max_new_tokens is the limit.
  StopParams stop;
  int max_new_tokens = 256;
  int prefill_chunk = 512;    // prompt tokens per forward call; 0: the whole prompt in one call
  bool stop_at_eos = true;    // the config's eos_token_id ends generation (added to stop ids)
  int64_t context_limit = 0;  // positions; 0: the model's max_position_embeddings
  TextDecoder decoder;        // optional; without it callbacks carry no text
};

enum class FinishReason {
  kStopToken,   // EOS or another stop token id (its text is not in the streamed text)
  kStopString,  // a stop string appeared (it and what follows are not streamed)
  kLength,      // max_new_tokens generated
  kCallback,    // the callback returned false
};

// "stop_token", "stop_string", "length", "callback".
const char* FinishReasonName(FinishReason reason);

// What the callback sees for each generated token.
struct GeneratedToken {
  static constexpr int32_t kNoToken = -1;
  // The new token; kNoToken for the one final call that releases text still held back when
  // generation ends (made only when there is such text).
  int32_t id = kNoToken;
  float logprob = 0.0f;
  std::string_view text;  // text safe to show now; concatenated over all calls = the output text
};

// Return false to stop generating (the token just reported stays generated).
using TokenCallback = std::function<bool(const GeneratedToken& token)>;

struct GenerateResult {
  int64_t prompt_tokens = 0;   // tokens prefilled by this call
  int64_t decode_steps = 0;    // single-token forward calls
  double prefill_s = 0;        // prompt forward calls (chunked)
  double decode_s = 0;         // sampling + decode forward calls after the prefill
  FinishReason finish = FinishReason::kLength;
  // Every generated id, stop token included. The last one is not yet in the sequence (nothing
  // needed its logits): a caller that continues the sequence appends it first.
  std::vector<int32_t> tokens;
  std::string text;  // the streamed text (empty without a decoder)

  int64_t generated() const { return static_cast<int64_t>(tokens.size()); }
  double PrefillTokensPerSecond() const;  // prompt tokens / prefill time
  double DecodeTokensPerSecond() const;   // decode steps / decode time (0 when none)
};

// Appends `prompt` to `seq` (a sequence of `model`, which may already hold earlier turns) and
// generates. Errors before any work: bad sampling or stop parameters, empty prompt, token ids
// outside the vocabulary, stop strings without a decoder, and seq + prompt + max_new_tokens beyond
// the context limit.
Result<GenerateResult> Generate(const Model& model, Sequence& seq,
                                std::span<const int32_t> prompt, const GenerateOptions& options,
                                const TokenCallback& on_token);

}  // namespace dsv4
