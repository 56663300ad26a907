// The generation loop: prefill (chunked), then sample and decode until a stop condition. Token-level:
// text (detokenization, stop strings, chat parsing) is the caller's, through the callback.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "base/status.h"
#include "runtime/sampler.h"
#include "runtime/sequence.h"

namespace dsv4 {

struct GenerateOptions {
  SamplingParams sampling;
  int max_new_tokens = 256;
  std::vector<int32_t> stop_token_ids;  // e.g. EOS; the stop token is reported to the callback
  int prefill_chunk = 512;              // prompt tokens per forward call
};

struct GenerateStats {
  int64_t prompt_tokens = 0, generated = 0;
  double prefill_s = 0, decode_s = 0;
  bool stopped_by_callback = false, stopped_by_token = false;
};

// Called with each generated token; return false to stop (e.g. a stop string was seen).
using TokenCallback = std::function<bool(int32_t token)>;

// Appends `prompt` to `seq` (which may already hold earlier turns) and generates. Errors before any
// work: invalid sampling params, empty prompt, prompt + max_new_tokens beyond `context_limit` (> 0).
Result<GenerateStats> Generate(Sequence& seq, std::span<const int32_t> prompt,
                               const GenerateOptions& options, int64_t context_limit,
                               const TokenCallback& on_token);

}  // namespace dsv4
