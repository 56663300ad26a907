// Token sampling: penalties, temperature, top-k / top-p / min-p, and the reference's
// exponential-race draw. The full contract (order, RNG, logprob definition) is docs/sampling.md.
//
// Order of operations on one logit vector [vocab]:
//   1. penalties (on raw logits, using the counts of `previous_tokens`):
//        repetition (HF / llama.cpp): seen token: l > 0 ? l / r : l * r
//        presence / frequency (OpenAI): l -= presence * (count > 0) + frequency * count
//   2. temperature: T == 0 → greedy argmax of the penalized logits (ties → lowest id), done.
//      Otherwise probs = softmax(l / max(T, 1e-5)) in fp32, as in the reference generate.py.
//   3. top-k: keep the k most probable tokens (ties → lower ids first).
//   4. top-p: keep the smallest most-probable prefix whose mass reaches top_p of what top-k kept.
//   5. min-p: keep tokens with prob >= min_p * (largest prob).
//   6. draw: argmax over kept tokens of probs / Exp(1), Exp(1) = -log(u), u uniform in (0, 1]
//      from std::mt19937_64 raw bits (one u per kept token, in id order).
// Logprobs: log_softmax(penalized logits / T') with T' = max(T, 1e-5) when sampling, T' = 1 when
// greedy; before the truncation filters (so the chosen token's logprob is always finite).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "base/status.h"

namespace dsv4 {

struct SamplingParams {
  float temperature = 0.0f;         // 0: greedy argmax; else softmax(l / max(T, 1e-5))
  int top_k = 0;                    // 0: off; else keep the k most probable tokens
  float top_p = 1.0f;               // (0, 1]; 1: off
  float min_p = 0.0f;               // [0, 1]; 0: off; keep p >= min_p * p_max
  float presence_penalty = 0.0f;    // [-2, 2] (OpenAI range)
  float frequency_penalty = 0.0f;   // [-2, 2] (OpenAI range)
  float repetition_penalty = 1.0f;  // > 0; 1: off
  uint64_t seed = 0;                // seeds the sampler's std::mt19937_64
  int top_logprobs = 0;             // [0, kMaxTopLogprobs]: alternatives reported per token

  static constexpr float kMaxPenalty = 2.0f;  // |presence|, |frequency| (OpenAI's bound)
  static constexpr int kMaxTopLogprobs = 20;  // OpenAI's bound

  // InvalidArgument naming the field, its value and the allowed range; NaN/inf always rejected.
  Status Validate() const;
};

struct SampleResult {
  int32_t token = -1;
  float logprob = 0.0f;  // log-probability of `token` (definition above)
  // The top_logprobs most likely tokens, most likely first (ties → lower id); may omit `token`.
  std::vector<std::pair<int32_t, float>> top_logprobs;
};

// Smallest temperature the reference divides by: softmax(logits / max(T, kMinTemperature)).
inline constexpr float kMinTemperature = 1e-5f;

// One sampler per sequence: it owns the RNG stream, so a fixed seed and the same logits give the
// same tokens on every platform. Not thread-safe; reuses its scratch buffers between calls.
class Sampler {
 public:
  static Result<Sampler> Create(const SamplingParams& params);

  // Picks the next token from `logits` [vocab]. `previous_tokens` are the ids the penalties count
  // (the caller chooses the window, e.g. the generated tokens for OpenAI semantics).
  // Errors (InvalidArgument): empty logits, NaN or +inf logits, previous token out of range,
  // every token at -inf after penalties.
  Result<SampleResult> Sample(std::span<const float> logits,
                              std::span<const int32_t> previous_tokens);

  const SamplingParams& params() const { return params_; }

 private:
  explicit Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

  Status ApplyPenalties(std::span<const int32_t> previous_tokens);  // on logits_
  // probs_ = exp((logits_ - max) / T), unnormalized; returns their sum.
  double ShiftedExp(float temperature);
  void ApplyTopK();
  void ApplyTopP();
  void ApplyMinP();
  int32_t Draw();
  // log_softmax(logits_ / T) for result.token and the top list; `sum` is ShiftedExp(T).
  void FillLogprobs(float temperature, double sum, SampleResult& result);

  SamplingParams params_;
  std::mt19937_64 rng_;  // fully specified by the standard: same stream everywhere
  // Scratch, sized to the vocabulary on first use.
  float max_logit_ = 0;                           // max of logits_
  std::vector<float> logits_;                     // penalized logits
  std::vector<float> probs_;                      // filtered probabilities (not renormalized)
  std::vector<int32_t> counts_;                   // occurrences in previous_tokens
  std::vector<int32_t> touched_;                  // ids with counts_ != 0
  std::vector<std::pair<float, int32_t>> order_;  // (prob, id) candidates for top-k / top-p
};

}  // namespace dsv4
