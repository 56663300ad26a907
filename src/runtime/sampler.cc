#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "base/check.h"

namespace dsv4 {
namespace {

// Mass within this relative distance of top_p counts as reaching it, so that a boundary that is
// exact in real arithmetic (probs 0.5, 0.25, 0.25 with top_p = 0.75) is not lost to fp32 rounding.
constexpr double kTopPTolerance = 1e-6;
// top-p sorts only a most-probable prefix, grown by this factor until it holds top_p of the mass;
// a peaked distribution then never pays for a full-vocabulary sort.
constexpr size_t kTopPFirstPrefix = 256;
constexpr size_t kTopPPrefixGrowth = 8;
constexpr double kTwoPowMinus53 = 0x1.0p-53;

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

Status Bad(const char* field, double value, const char* range) {
  return InvalidArgument(std::string("sampling: ") + field + " must be " + range + ", got " +
                         Num(value));
}

// Most probable first; equal probabilities → lower id first (deterministic tie-breaking).
bool MoreLikely(const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
  return a.first != b.first ? a.first > b.first : a.second < b.second;
}

}  // namespace

Status SamplingParams::Validate() const {
  if (!std::isfinite(temperature) || temperature < 0) {
    return Bad("temperature", temperature, "finite and >= 0 (0 = greedy)");
  }
  if (top_k < 0) return Bad("top_k", top_k, ">= 0 (0 = off)");
  if (!std::isfinite(top_p) || top_p <= 0 || top_p > 1) {
    return Bad("top_p", top_p, "in (0, 1] (1 = off)");
  }
  if (!std::isfinite(min_p) || min_p < 0 || min_p > 1) {
    return Bad("min_p", min_p, "in [0, 1] (0 = off)");
  }
  if (!std::isfinite(presence_penalty) || std::fabs(presence_penalty) > kMaxPenalty) {
    return Bad("presence_penalty", presence_penalty, "in [-2, 2]");
  }
  if (!std::isfinite(frequency_penalty) || std::fabs(frequency_penalty) > kMaxPenalty) {
    return Bad("frequency_penalty", frequency_penalty, "in [-2, 2]");
  }
  if (!std::isfinite(repetition_penalty) || repetition_penalty <= 0) {
    return Bad("repetition_penalty", repetition_penalty, "finite and > 0 (1 = off)");
  }
  if (top_logprobs < 0 || top_logprobs > kMaxTopLogprobs) {
    return Bad("top_logprobs", top_logprobs, "in [0, 20]");
  }
  return Status::Ok();
}

Result<Sampler> Sampler::Create(const SamplingParams& params) {
  DSV4_RETURN_IF_ERROR(params.Validate());
  return Sampler(params);
}

Result<SampleResult> Sampler::Sample(std::span<const float> logits,
                                     std::span<const int32_t> previous_tokens) {
  if (logits.empty()) return InvalidArgument("sampling: empty logits (vocabulary of size 0)");
  for (size_t i = 0; i < logits.size(); ++i) {
    if (std::isnan(logits[i]) || logits[i] == std::numeric_limits<float>::infinity()) {
      return InvalidArgument("sampling: logit of token " + std::to_string(i) + " is " +
                             Num(logits[i]) + "; the model produced non-finite output");
    }
  }
  logits_.assign(logits.begin(), logits.end());
  DSV4_RETURN_IF_ERROR(ApplyPenalties(previous_tokens));

  // [vocab] penalized logits; the first maximum is the greedy token (ties → lowest id).
  const auto max_it = std::max_element(logits_.begin(), logits_.end());
  max_logit_ = *max_it;
  if (max_logit_ == -std::numeric_limits<float>::infinity()) {
    return InvalidArgument("sampling: every token has logit -inf (all masked); nothing to sample");
  }
  SampleResult result;
  if (params_.temperature == 0) {
    result.token = static_cast<int32_t>(max_it - logits_.begin());
    const float untempered = 1.0f;  // greedy reports the model distribution at T = 1
    FillLogprobs(untempered, ShiftedExp(untempered), result);
    return result;
  }
  const float temperature = std::max(params_.temperature, kMinTemperature);
  const double sum = ShiftedExp(temperature);
  const float inv_sum = static_cast<float>(1.0 / sum);
  for (float& p : probs_) p *= inv_sum;
  ApplyTopK();
  ApplyTopP();
  ApplyMinP();
  result.token = Draw();
  FillLogprobs(temperature, sum, result);  // of the model distribution, not of the filtered one
  return result;
}

Status Sampler::ApplyPenalties(std::span<const int32_t> previous_tokens) {
  const size_t vocab = logits_.size();
  for (const int32_t t : previous_tokens) {
    if (t < 0 || static_cast<size_t>(t) >= vocab) {
      return InvalidArgument("sampling: previous token id " + std::to_string(t) +
                             " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
  }
  const bool active = params_.repetition_penalty != 1.0f || params_.presence_penalty != 0.0f ||
                      params_.frequency_penalty != 0.0f;
  if (!active) return Status::Ok();
  if (counts_.size() != vocab) counts_.assign(vocab, 0);
  for (const int32_t t : previous_tokens) {
    if (counts_[t]++ == 0) touched_.push_back(t);
  }
  const float r = params_.repetition_penalty;
  for (const int32_t t : touched_) {
    float& l = logits_[t];
    l = l > 0 ? l / r : l * r;  // HF RepetitionPenaltyLogitsProcessor / llama.cpp
    l -= params_.presence_penalty + params_.frequency_penalty * static_cast<float>(counts_[t]);
    // A huge logit over a penalty < 1 can overflow; +inf would turn the softmax into NaN.
    l = std::min(l, std::numeric_limits<float>::max());
    counts_[t] = 0;
  }
  touched_.clear();
  return Status::Ok();
}

// probs_[i] = exp((l_i - max) / T) in fp32, like the reference's softmax(logits / T) except that
// the max is subtracted before the division (same value up to rounding), so that huge logits over
// T = 1e-5 cannot overflow to inf - inf = NaN. The sum is accumulated in double.
double Sampler::ShiftedExp(float temperature) {
  probs_.resize(logits_.size());
  double sum = 0;
  for (size_t i = 0; i < logits_.size(); ++i) {
    probs_[i] = std::exp((logits_[i] - max_logit_) / temperature);  // -inf → 0
    sum += probs_[i];
  }
  return sum;  // >= 1: the max contributes exp(0)
}

void Sampler::ApplyTopK() {
  const size_t k = static_cast<size_t>(params_.top_k);
  if (k == 0 || k >= probs_.size()) return;
  order_.clear();
  for (size_t i = 0; i < probs_.size(); ++i) {
    if (probs_[i] > 0) order_.emplace_back(probs_[i], static_cast<int32_t>(i));
  }
  if (k >= order_.size()) return;
  std::nth_element(order_.begin(), order_.begin() + k, order_.end(), MoreLikely);
  for (size_t i = k; i < order_.size(); ++i) probs_[order_[i].second] = 0;
}

void Sampler::ApplyTopP() {
  if (params_.top_p >= 1.0f) return;
  order_.clear();
  double mass = 0;  // what top-k kept: top-p is relative to the renormalized top-k distribution
  for (size_t i = 0; i < probs_.size(); ++i) {
    if (probs_[i] > 0) {
      order_.emplace_back(probs_[i], static_cast<int32_t>(i));
      mass += probs_[i];
    }
  }
  const double target = params_.top_p * mass * (1 - kTopPTolerance);
  // Sort only a most-probable prefix that holds the target mass: select it in O(n), grow if short.
  size_t prefix = std::min(order_.size(), kTopPFirstPrefix);
  while (true) {
    std::nth_element(order_.begin(), order_.begin() + (prefix - 1), order_.end(), MoreLikely);
    double prefix_mass = 0;
    for (size_t i = 0; i < prefix; ++i) prefix_mass += order_[i].first;
    if (prefix_mass >= target || prefix == order_.size()) break;
    prefix = std::min(order_.size(), prefix * kTopPPrefixGrowth);
  }
  std::sort(order_.begin(), order_.begin() + prefix, MoreLikely);
  size_t keep = 1;  // the most probable token always stays
  double cum = order_[0].first;
  while (keep < prefix && cum < target) cum += order_[keep++].first;
  for (size_t i = keep; i < order_.size(); ++i) probs_[order_[i].second] = 0;
}

void Sampler::ApplyMinP() {
  if (params_.min_p <= 0.0f) return;
  // The most probable token survives top-k and top-p, so this is also the maximum after them.
  const float threshold = params_.min_p * *std::max_element(probs_.begin(), probs_.end());
  for (float& p : probs_) {
    if (p < threshold) p = 0;
  }
}

// The exponential race of the reference, argmax_i(p_i / E_i) with E_i ~ Exp(1): token i wins with
// probability p_i / sum(p), so the kept probabilities need no renormalization.
int32_t Sampler::Draw() {
  int32_t best = -1;
  double best_score = -1;
  for (size_t i = 0; i < probs_.size(); ++i) {
    if (probs_[i] <= 0) continue;
    const double u = static_cast<double>((rng_() >> 11) + 1) * kTwoPowMinus53;  // (0, 1]
    // -log(u) >= 1 - u, so p / (1 - u) bounds the score from above: most tokens of a large
    // vocabulary lose without computing the log. Exact, not an approximation.
    if (probs_[i] <= best_score * (1 - u)) continue;
    const double e = -std::log(u);  // Exp(1); 0 when u == 1, and p / 0 = inf wins
    const double score = probs_[i] / e;
    if (score > best_score) {
      best_score = score;
      best = static_cast<int32_t>(i);
    }
  }
  DSV4_CHECK(best >= 0);  // the most probable token always has p >= 1 / vocab
  return best;
}

void Sampler::FillLogprobs(float temperature, double sum, SampleResult& result) {
  const double t = temperature;
  const double log_sum = std::log(sum);
  const auto logprob = [&](int32_t id) {
    return static_cast<float>((double{logits_[id]} - max_logit_) / t - log_sum);
  };
  result.logprob = logprob(result.token);

  const size_t n = std::min<size_t>(params_.top_logprobs, logits_.size());
  if (n == 0) return;
  order_.resize(logits_.size());
  for (size_t i = 0; i < logits_.size(); ++i) order_[i] = {logits_[i], static_cast<int32_t>(i)};
  std::partial_sort(order_.begin(), order_.begin() + n, order_.end(), MoreLikely);
  for (size_t i = 0; i < n; ++i) {
    const float lp = logprob(order_[i].second);
    if (lp == -std::numeric_limits<float>::infinity()) break;  // masked: not an alternative
    result.top_logprobs.emplace_back(order_[i].second, lp);
  }
}

}  // namespace dsv4
