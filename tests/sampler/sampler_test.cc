// Greedy, temperature and the truncation filters on hand-written logits.
#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include "sampler_test_util.h"

namespace dsv4 {
namespace {

using testing::Frequencies;
using testing::kDraws;
using testing::kFreqTolerance;
using testing::MakeSampler;
using testing::SampleOnce;
using testing::Softmax;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// The set of ids drawn at least once.
std::set<int32_t> Support(const SamplingParams& params, const std::vector<float>& logits) {
  const std::vector<double> freq = Frequencies(params, logits, kDraws);
  std::set<int32_t> ids;
  for (size_t i = 0; i < freq.size(); ++i) {
    if (freq[i] > 0) ids.insert(static_cast<int32_t>(i));
  }
  return ids;
}

// Logits whose softmax at T = 1 is exactly `probs` (up to rounding of log).
std::vector<float> LogitsOf(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

TEST(Greedy, PicksArgmax) {
  Sampler s = MakeSampler({});  // temperature 0 by default
  EXPECT_EQ(SampleOnce(s, std::vector<float>{1, 3, 2}).token, 1);
  EXPECT_EQ(SampleOnce(s, std::vector<float>{-5, -7, -1.5f, -2}).token, 2);
}

TEST(Greedy, TiesGoToLowestId) {
  Sampler s = MakeSampler({});
  EXPECT_EQ(SampleOnce(s, std::vector<float>{5, 7, 7, 1, 7}).token, 1);
  EXPECT_EQ(SampleOnce(s, std::vector<float>{0, 0, 0}).token, 0);
}

TEST(Greedy, SkipsMaskedTokens) {
  Sampler s = MakeSampler({});
  EXPECT_EQ(SampleOnce(s, std::vector<float>{kNegInf, kNegInf, -30}).token, 2);
}

TEST(Greedy, IsUnaffectedByFilters) {
  const std::vector<float> logits{0.5f, 2, 1.9f, 2, -1};
  Sampler s = MakeSampler({.top_k = 1, .top_p = 0.1f, .min_p = 0.9f});
  EXPECT_EQ(SampleOnce(s, logits).token, 1);
}

TEST(VocabularyOfOne, AlwaysTokenZero) {
  const std::vector<float> logits{-3.5f};
  for (float t : {0.0f, 1.0f}) {
    Sampler s = MakeSampler({.temperature = t, .top_k = 5, .top_p = 0.3f, .top_logprobs = 3});
    const SampleResult r = SampleOnce(s, logits);
    EXPECT_EQ(r.token, 0);
    EXPECT_FLOAT_EQ(r.logprob, 0.0f);
    ASSERT_EQ(r.top_logprobs.size(), 1u);
    EXPECT_EQ(r.top_logprobs[0].first, 0);
  }
}

TEST(Temperature, FrequenciesFollowSoftmaxOfScaledLogits) {
  const std::vector<float> logits{1, 2, 3, 0, 2.5f};
  for (float t : {0.7f, 1.0f, 2.0f}) {
    const std::vector<double> freq = Frequencies({.temperature = t, .seed = 7}, logits, kDraws);
    const std::vector<double> want = Softmax(logits, t);
    for (size_t i = 0; i < logits.size(); ++i) {
      EXPECT_NEAR(freq[i], want[i], kFreqTolerance) << "T=" << t << " id " << i;
    }
  }
}

TEST(Temperature, TinyTemperatureIsClampedLikeTheReference) {
  // At max(1e-7, 1e-5) the gap 0.001 becomes 100 nats: token 1 always wins, and nothing overflows
  // although 1e30 / 1e-5 is beyond fp32.
  EXPECT_EQ(Support({.temperature = 1e-7f}, {1.0f, 1.001f, 0.5f}), std::set<int32_t>{1});
  EXPECT_EQ(Support({.temperature = 1e-7f}, {1e30f, -1e30f}), std::set<int32_t>{0});
}

TEST(Temperature, NeverDrawsMaskedTokens) {
  EXPECT_EQ(Support({.temperature = 1.5f}, {0, kNegInf, 0, kNegInf}), (std::set<int32_t>{0, 2}));
}

TEST(TopK, KeepsTheKMostLikely) {
  const std::vector<float> logits{1, 4, 3, 2, 0};
  const std::vector<double> freq = Frequencies({.temperature = 1, .top_k = 2}, logits, kDraws);
  const std::vector<double> want = Softmax(std::vector<float>{4, 3});  // renormalized over {1, 2}
  EXPECT_NEAR(freq[1], want[0], kFreqTolerance);
  EXPECT_NEAR(freq[2], want[1], kFreqTolerance);
  EXPECT_EQ(freq[0] + freq[3] + freq[4], 0.0);
  EXPECT_EQ(Support({.temperature = 1, .top_k = 1}, logits), std::set<int32_t>{1});
}

TEST(TopK, LargerThanVocabularyIsOff) {
  EXPECT_EQ(Support({.temperature = 1, .top_k = 50}, {0, 0.1f, 0.2f}),
            (std::set<int32_t>{0, 1, 2}));
}

TEST(TopK, TiesAtTheBoundaryKeepLowerIds) {
  EXPECT_EQ(Support({.temperature = 1, .top_k = 2}, {2, 2, 2, 0}), (std::set<int32_t>{0, 1}));
  EXPECT_EQ(Support({.temperature = 1, .top_k = 2}, {0, 2, 3, 2}), (std::set<int32_t>{1, 2}));
}

// probs: id 2 → 0.5, id 0 → 0.25, id 3 → 0.125, id 1 → 0.125 (not in id order on purpose).
const std::vector<double> kQuarterProbs{0.25, 0.125, 0.5, 0.125};

TEST(TopP, SmallestPrefixReachingP) {
  const std::vector<float> logits = LogitsOf(kQuarterProbs);
  auto support = [&](float p) { return Support({.temperature = 1, .top_p = p}, logits); };
  EXPECT_EQ(support(0.01f), std::set<int32_t>{2});  // the most likely token always stays
  EXPECT_EQ(support(0.4f), std::set<int32_t>{2});
  EXPECT_EQ(support(0.6f), (std::set<int32_t>{0, 2}));
}

TEST(TopP, TiesAreBrokenByLowerId) {
  const std::vector<float> logits = LogitsOf(kQuarterProbs);
  // 0.5 + 0.25 leaves 0.05 to cover: of the two 0.125 tokens, id 1 comes first.
  EXPECT_EQ(Support({.temperature = 1, .top_p = 0.8f}, logits), (std::set<int32_t>{0, 1, 2}));
}

TEST(TopP, BoundaryExactlyAtP) {
  const std::vector<float> logits = LogitsOf(kQuarterProbs);
  // 0.5 + 0.25 reaches 0.75 exactly: the next token is not needed.
  EXPECT_EQ(Support({.temperature = 1, .top_p = 0.75f}, logits), (std::set<int32_t>{0, 2}));
  EXPECT_EQ(Support({.temperature = 1, .top_p = 0.5f}, logits), std::set<int32_t>{2});
  EXPECT_EQ(Support({.temperature = 1, .top_p = 0.875f}, logits), (std::set<int32_t>{0, 1, 2}));
}

TEST(TopP, IsRelativeToWhatTopKKept) {
  // After top-k = 2 the kept mass is {0.5, 0.25} → {2/3, 1/3}: top_p 0.6 keeps only id 2
  // (relative to the full distribution it would have kept id 0 too).
  const std::vector<float> logits = LogitsOf(kQuarterProbs);
  EXPECT_EQ(Support({.temperature = 1, .top_k = 2, .top_p = 0.6f}, logits), std::set<int32_t>{2});
}

TEST(TopP, LargeFlatVocabulary) {
  // 1000 equal logits: top_p 0.5 keeps exactly ids [0, 500) (ties → lower ids), which needs the
  // sorted prefix to grow past its first size.
  const std::vector<float> logits(1000, 1.0f);
  const std::vector<double> freq = Frequencies({.temperature = 1, .top_p = 0.5f}, logits, 5000);
  for (size_t i = 0; i < freq.size(); ++i) {
    if (i < 500) {
      EXPECT_GT(freq[i], 0) << "id " << i;  // each has 1 - (1 - 1/500)^5000 > 0.9999 to appear
    } else {
      EXPECT_EQ(freq[i], 0) << "id " << i;
    }
  }
}

TEST(MinP, KeepsTokensAboveFractionOfMax) {
  // probs 0.5, 0.25, 0.15, 0.1.
  const std::vector<float> logits = LogitsOf({0.5, 0.25, 0.15, 0.1});
  auto support = [&](float m) { return Support({.temperature = 1, .min_p = m}, logits); };
  EXPECT_EQ(support(0.25f), (std::set<int32_t>{0, 1, 2}));  // threshold 0.125
  EXPECT_EQ(support(0.4f), (std::set<int32_t>{0, 1}));      // threshold 0.2
  EXPECT_EQ(support(0.9f), std::set<int32_t>{0});
  EXPECT_EQ(support(1.0f), std::set<int32_t>{0});
  const std::vector<double> freq = Frequencies({.temperature = 1, .min_p = 0.4f}, logits, kDraws);
  EXPECT_NEAR(freq[0], 2.0 / 3, kFreqTolerance);  // renormalized over the kept {0.5, 0.25}
}

TEST(Seed, SameSeedSameTokens) {
  const std::vector<float> logits{0.1f, 0.3f, 0.2f, 0.0f, 0.25f, 0.15f};
  Sampler a = MakeSampler({.temperature = 1, .seed = 42});
  Sampler b = MakeSampler({.temperature = 1, .seed = 42});
  for (int i = 0; i < 200; ++i) EXPECT_EQ(SampleOnce(a, logits).token, SampleOnce(b, logits).token);
}

TEST(Seed, DifferentSeedsDiffer) {
  const std::vector<float> logits{0.1f, 0.3f, 0.2f, 0.0f, 0.25f, 0.15f};
  Sampler a = MakeSampler({.temperature = 1, .seed = 1});
  Sampler b = MakeSampler({.temperature = 1, .seed = 2});
  int same = 0;
  for (int i = 0; i < 200; ++i) same += SampleOnce(a, logits).token == SampleOnce(b, logits).token;
  EXPECT_LT(same, 100);  // ~1/6 agree by chance
}

TEST(Seed, StreamIsPinned) {
  // std::mt19937_64 is fully specified and uniforms come from its raw bits, so this sequence is
  // the same on every platform. A change here breaks users' seeded reproducibility: say so.
  const std::vector<float> logits{0.1f, 0.3f, 0.2f, 0.0f, 0.25f, 0.15f};
  Sampler s = MakeSampler({.temperature = 1, .seed = 2024});
  std::vector<int32_t> got;
  for (int i = 0; i < 16; ++i) got.push_back(SampleOnce(s, logits).token);
  EXPECT_EQ(got, (std::vector<int32_t>{1, 0, 5, 2, 4, 5, 4, 5, 4, 4, 4, 5, 2, 3, 2, 0}));
}

}  // namespace
}  // namespace dsv4
