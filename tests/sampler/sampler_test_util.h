// Helpers shared by the sampler tests: build a sampler, draw many tokens, softmax in double.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "runtime/sampler.h"

namespace dsv4::testing {

inline Sampler MakeSampler(const SamplingParams& params) {
  Result<Sampler> sampler = Sampler::Create(params);
  EXPECT_TRUE(sampler.ok()) << sampler.status().ToString();
  return std::move(sampler).value();
}

inline SampleResult SampleOnce(Sampler& sampler, std::span<const float> logits,
                               std::span<const int32_t> previous = {}) {
  Result<SampleResult> r = sampler.Sample(logits, previous);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : SampleResult{};
}

// Empirical frequency of each id over `draws` samples.
inline std::vector<double> Frequencies(const SamplingParams& params, std::span<const float> logits,
                                       int draws) {
  Sampler sampler = MakeSampler(params);
  std::vector<double> freq(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i) {
    const int32_t t = SampleOnce(sampler, logits).token;
    if (t >= 0) freq[t] += 1.0 / draws;
  }
  return freq;
}

inline std::vector<double> Softmax(std::span<const float> logits, double temperature = 1.0) {
  double max = -INFINITY;
  for (float l : logits) max = std::max(max, l / temperature);
  std::vector<double> p;
  double sum = 0;
  for (float l : logits) sum += p.emplace_back(std::exp(l / temperature - max));
  for (double& x : p) x /= sum;
  return p;
}

// 20000 draws: one standard deviation of a frequency is at most 0.0036, so 0.015 is > 4 sigma.
// The seed is fixed, so these tests are deterministic; the bound only guards against bias.
inline constexpr int kDraws = 20000;
inline constexpr double kFreqTolerance = 0.015;

}  // namespace dsv4::testing
