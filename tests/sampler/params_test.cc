// Invalid parameters and invalid logits are errors with a message naming the culprit.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "runtime/sampler.h"
#include "sampler_test_util.h"

namespace dsv4 {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

void ExpectInvalid(const SamplingParams& params, const std::string& field) {
  const Status st = params.Validate();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << field;
  EXPECT_NE(st.message().find(field), std::string::npos) << st.message();
  EXPECT_FALSE(Sampler::Create(params).ok()) << field;
}

TEST(SamplingParams, DefaultsAndBoundsAreValid) {
  EXPECT_TRUE(SamplingParams{}.Validate().ok());
  const SamplingParams edges{.temperature = 100,
                             .top_k = 1,
                             .top_p = 1,
                             .min_p = 1,
                             .presence_penalty = -2,
                             .frequency_penalty = 2,
                             .repetition_penalty = 0.01f,
                             .top_logprobs = 20};
  EXPECT_TRUE(edges.Validate().ok()) << edges.Validate().ToString();
}

TEST(SamplingParams, RejectsOutOfRange) {
  ExpectInvalid({.temperature = -0.1f}, "temperature");
  ExpectInvalid({.temperature = NAN}, "temperature");
  ExpectInvalid({.temperature = kInf}, "temperature");
  ExpectInvalid({.top_k = -1}, "top_k");
  ExpectInvalid({.top_p = 0}, "top_p");
  ExpectInvalid({.top_p = 1.5f}, "top_p");
  ExpectInvalid({.top_p = NAN}, "top_p");
  ExpectInvalid({.min_p = -0.1f}, "min_p");
  ExpectInvalid({.min_p = 1.01f}, "min_p");
  ExpectInvalid({.presence_penalty = 2.5f}, "presence_penalty");
  ExpectInvalid({.frequency_penalty = -3}, "frequency_penalty");
  ExpectInvalid({.frequency_penalty = NAN}, "frequency_penalty");
  ExpectInvalid({.repetition_penalty = 0}, "repetition_penalty");
  ExpectInvalid({.repetition_penalty = -1}, "repetition_penalty");
  ExpectInvalid({.top_logprobs = -1}, "top_logprobs");
  ExpectInvalid({.top_logprobs = 21}, "top_logprobs");
}

TEST(SamplingParams, MessageShowsTheValue) {
  EXPECT_EQ(SamplingParams{.top_p = 1.5f}.Validate().message(),
            "sampling: top_p must be in (0, 1] (1 = off), got 1.5");
}

void ExpectSampleError(const std::vector<float>& logits, const std::vector<int32_t>& previous,
                       const std::string& needle) {
  for (float t : {0.0f, 1.0f}) {
    Sampler s = testing::MakeSampler({.temperature = t, .repetition_penalty = 1.1f});
    const Result<SampleResult> r = s.Sample(logits, previous);
    ASSERT_FALSE(r.ok()) << needle;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  }
}

TEST(Sample, RejectsBadLogits) {
  ExpectSampleError({}, {}, "empty logits");
  ExpectSampleError({0, NAN, 1}, {}, "token 1 is nan");
  ExpectSampleError({0, 1, kInf}, {}, "token 2 is inf");
  ExpectSampleError({-kInf, -kInf}, {}, "all masked");
}

TEST(Sample, RejectsPreviousTokensOutsideVocabulary) {
  ExpectSampleError({0, 1, 2}, {0, 3}, "previous token id 3");
  ExpectSampleError({0, 1, 2}, {-1}, "previous token id -1");
}

TEST(Sample, RecoversAfterAnError) {
  Sampler s = testing::MakeSampler({.frequency_penalty = 1});
  EXPECT_FALSE(s.Sample(std::vector<float>{NAN, 0}, std::vector<int32_t>{}).ok());
  EXPECT_FALSE(s.Sample(std::vector<float>{1, 0}, std::vector<int32_t>{0, 7}).ok());
  // The rejected previous tokens left no counts behind.
  EXPECT_EQ(testing::SampleOnce(s, std::vector<float>{1, 0}).token, 0);
}

TEST(Sample, PenaltyOverflowStaysFinite) {
  // 3e38 / 0.01 overflows fp32; the token must still win rather than turn the softmax into NaN.
  Sampler s = testing::MakeSampler({.temperature = 1, .repetition_penalty = 0.01f});
  const std::vector<int32_t> previous{1};
  EXPECT_EQ(testing::SampleOnce(s, std::vector<float>{0, 3e38f}, previous).token, 1);
}

}  // namespace
}  // namespace dsv4
