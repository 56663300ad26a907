// Penalties and logprobs: observed through greedy logprobs, which are log_softmax of the
// penalized logits, so every penalized logit can be checked up to the common constant.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "runtime/sampler.h"
#include "sampler_test_util.h"

namespace dsv4 {
namespace {

using testing::MakeSampler;
using testing::SampleOnce;
using testing::Softmax;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The penalized logits, recovered from the greedy logprobs up to a constant: shifted so that
// id 0 is `logits0`.
std::vector<float> Penalized(SamplingParams params, const std::vector<float>& logits,
                             const std::vector<int32_t>& previous, float logits0) {
  params.temperature = 0;
  params.top_logprobs = static_cast<int>(logits.size());
  Sampler s = MakeSampler(params);
  const SampleResult r = SampleOnce(s, logits, previous);
  std::vector<float> lp(logits.size(), NAN);
  for (const auto& [id, logprob] : r.top_logprobs) lp[id] = logprob;
  std::vector<float> out;
  for (float x : lp) out.push_back(x - lp[0] + logits0);
  return out;
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << "id " << i;
}

TEST(RepetitionPenalty, DividesPositiveMultipliesNegative) {
  // Seen: 0 (2 → 1), 1 (-2 → -4, twice but counted once); unseen 2 and 3 unchanged.
  const std::vector<float> got =
      Penalized({.repetition_penalty = 2}, {2, -2, 1, 0.5f}, {0, 1, 1}, 1.0f);
  ExpectNear(got, {1, -4, 1, 0.5f});
}

TEST(RepetitionPenalty, ChangesGreedyChoice) {
  Sampler s = MakeSampler({.repetition_penalty = 2});
  const std::vector<int32_t> previous{0};
  EXPECT_EQ(SampleOnce(s, std::vector<float>{2, 1.5f}, previous).token, 1);  // 2 / 2 = 1 < 1.5
  Sampler below_one = MakeSampler({.repetition_penalty = 0.5f});  // < 1 encourages repeats
  EXPECT_EQ(SampleOnce(below_one, std::vector<float>{1, 1.5f}, previous).token, 0);
}

TEST(PresencePenalty, SubtractsOncePerSeenToken) {
  ExpectNear(Penalized({.presence_penalty = 0.5f}, {1, 1, 1}, {0, 0, 2}, 0.5f), {0.5f, 1, 0.5f});
}

TEST(FrequencyPenalty, SubtractsPerOccurrence) {
  ExpectNear(Penalized({.frequency_penalty = 0.5f}, {1, 1, 1}, {0, 0, 2}, 0.0f), {0, 1, 0.5f});
}

TEST(Penalties, RepetitionThenPresenceAndFrequency) {
  // id 0 (seen 2x): 2 / 2 - 0.5 - 2 * 0.25 = 0; id 1 (1x): -1 * 2 - 0.5 - 0.25 = -2.75; id 2: 3.
  const SamplingParams params{
      .presence_penalty = 0.5f, .frequency_penalty = 0.25f, .repetition_penalty = 2};
  ExpectNear(Penalized(params, {2, -1, 3}, {0, 0, 1}, 0.0f), {0, -2.75f, 3});
}

TEST(Penalties, NegativePresenceEncouragesAndMaskedStaysMasked) {
  Sampler s = MakeSampler({.presence_penalty = -1, .top_logprobs = 3});
  const std::vector<int32_t> previous{0, 2};
  const SampleResult r = SampleOnce(s, std::vector<float>{1, 1.5f, kNegInf}, previous);
  EXPECT_EQ(r.token, 0);                 // 1 + 1 = 2 > 1.5
  EXPECT_EQ(r.top_logprobs.size(), 2u);  // id 2 is still -inf: never listed
}

TEST(Penalties, DoNotLeakIntoTheNextCall) {
  Sampler s = MakeSampler({.frequency_penalty = 2});
  const std::vector<float> logits{1, 0.5f};
  const std::vector<int32_t> previous{0};
  EXPECT_EQ(SampleOnce(s, logits, previous).token, 1);
  EXPECT_EQ(SampleOnce(s, logits).token, 0);
}

TEST(Logprobs, AreLogSoftmaxAfterTemperature) {
  const std::vector<float> logits{1, 2, 3, 0.5f};
  const std::vector<double> want = Softmax(logits, 0.5);
  Sampler s = MakeSampler({.temperature = 0.5f, .top_logprobs = 4});
  const SampleResult r = SampleOnce(s, logits);
  ASSERT_EQ(r.top_logprobs.size(), 4u);
  double total = 0;
  for (size_t i = 0; i < r.top_logprobs.size(); ++i) {
    const auto [id, lp] = r.top_logprobs[i];
    EXPECT_NEAR(lp, std::log(want[id]), 1e-5) << "id " << id;
    if (i > 0) {
      EXPECT_GE(r.top_logprobs[i - 1].second, lp);  // most likely first
    }
    total += std::exp(lp);
  }
  EXPECT_NEAR(total, 1.0, 1e-5);
  EXPECT_EQ(r.top_logprobs[0].first, 2);
  EXPECT_NEAR(r.logprob, std::log(want[r.token]), 1e-5);
}

TEST(Logprobs, GreedyUsesTheUntemperedDistribution) {
  // softmax{0, ln 3} = {1/4, 3/4}.
  Sampler s = MakeSampler({.top_logprobs = 1});
  const SampleResult r = SampleOnce(s, std::vector<float>{0, std::log(3.0f)});
  EXPECT_EQ(r.token, 1);
  EXPECT_NEAR(r.logprob, std::log(0.75), 1e-6);
  ASSERT_EQ(r.top_logprobs.size(), 1u);
  EXPECT_EQ(r.top_logprobs[0].first, 1);
}

TEST(Logprobs, AreTakenBeforeTheFilters) {
  // top_k = 1 makes the draw certain, yet the reported logprob is the model's: log(3/4).
  Sampler s = MakeSampler({.temperature = 1, .top_k = 1});
  const SampleResult r = SampleOnce(s, std::vector<float>{0, std::log(3.0f)});
  EXPECT_EQ(r.token, 1);
  EXPECT_NEAR(r.logprob, std::log(0.75), 1e-6);
}

TEST(Logprobs, TopListTiesByLowerIdAndTruncated) {
  Sampler s = MakeSampler({.top_logprobs = 2});
  const SampleResult r = SampleOnce(s, std::vector<float>{1, 2, 2, 2});
  ASSERT_EQ(r.top_logprobs.size(), 2u);
  EXPECT_EQ(r.top_logprobs[0].first, 1);
  EXPECT_EQ(r.top_logprobs[1].first, 2);
  EXPECT_FLOAT_EQ(r.top_logprobs[0].second, r.top_logprobs[1].second);
  Sampler none = MakeSampler({});
  EXPECT_TRUE(SampleOnce(none, std::vector<float>{1, 2}).top_logprobs.empty());
}

}  // namespace
}  // namespace dsv4
