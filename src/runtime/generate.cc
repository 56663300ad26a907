#include "runtime/generate.h"

#include <algorithm>
#include <chrono>

namespace dsv4 {
namespace {
double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

Result<GenerateStats> Generate(Sequence& seq, std::span<const int32_t> prompt,
                               const GenerateOptions& o, int64_t context_limit,
                               const TokenCallback& on_token) {
  if (prompt.empty()) return InvalidArgument("empty prompt");
  if (o.max_new_tokens < 1) return InvalidArgument("max_new_tokens must be at least 1");
  const int64_t needed = seq.length() + static_cast<int64_t>(prompt.size()) + o.max_new_tokens;
  if (context_limit > 0 && needed > context_limit) {
    return InvalidArgument("prompt of " + std::to_string(prompt.size()) + " tokens (+" +
                           std::to_string(seq.length()) + " already in the sequence) plus " +
                           std::to_string(o.max_new_tokens) + " new tokens exceeds the context of " +
                           std::to_string(context_limit) + " tokens");
  }
  DSV4_ASSIGN_OR_RETURN(Sampler sampler, Sampler::Create(o.sampling));
  GenerateStats stats;
  stats.prompt_tokens = static_cast<int64_t>(prompt.size());
  std::vector<float> logits;
  auto t0 = std::chrono::steady_clock::now();
  const size_t chunk = o.prefill_chunk > 0 ? o.prefill_chunk : prompt.size();
  for (size_t at = 0; at < prompt.size(); at += chunk) {
    DSV4_RETURN_IF_ERROR(seq.Append(prompt.subspan(at, std::min(chunk, prompt.size() - at)), &logits));
  }
  stats.prefill_s = Since(t0);
  t0 = std::chrono::steady_clock::now();
  std::vector<int32_t> history(seq.tokens().begin(), seq.tokens().end());  // for penalties
  while (stats.generated < o.max_new_tokens) {
    DSV4_ASSIGN_OR_RETURN(SampleResult r, sampler.Sample(logits, history));
    ++stats.generated;
    history.push_back(r.token);
    if (!on_token(r.token)) {
      stats.stopped_by_callback = true;
      break;
    }
    if (std::find(o.stop_token_ids.begin(), o.stop_token_ids.end(), r.token) != o.stop_token_ids.end()) {
      stats.stopped_by_token = true;
      break;
    }
    if (stats.generated == o.max_new_tokens) break;  // no need to feed the last token
    DSV4_RETURN_IF_ERROR(seq.Append({&r.token, 1}, &logits));
  }
  stats.decode_s = Since(t0);
  return stats;
}

}  // namespace dsv4
