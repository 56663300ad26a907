// Sequence / forward-pass properties on a real golden checkpoint (pro-tiny: HCA, CSA, hash layers,
// MTP): chunked prefill and prompt continuation reproduce the one-shot prefill bit for bit, a reset
// sequence is fresh, and bad input is rejected without touching the state.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "model/model.h"
#include "runtime/sequence.h"

namespace dsv4 {
namespace {

class SequenceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dir = std::string(DSV4_SHARED_DIR) + "/golden/pro-tiny";
    auto m = Model::Load(dir + "/model");
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    model_ = std::move(m).value().release();
    std::ifstream f(dir + "/case.json");
    prompt_ = nlohmann::json::parse(f)["prompt_ids"].get<std::vector<int32_t>>();
    prompt_.resize(200);  // > window (128), > one HCA block, 50 CSA entries > top-k 16
  }
  static void TearDownTestSuite() { delete model_; }

  // Prefill `prompt_` (in chunks), then 3 decode steps; returns all logits rows.
  static std::vector<float> Run(Sequence& seq, int chunk_calls) {
    std::vector<float> rows, logits;
    if (chunk_calls <= 0) {
      EXPECT_TRUE(seq.Append(prompt_, &logits).ok());
    } else {
      for (size_t at = 0; at < prompt_.size(); at += chunk_calls) {
        const size_t n = std::min<size_t>(chunk_calls, prompt_.size() - at);
        EXPECT_TRUE(seq.Append(std::span(prompt_).subspan(at, n), &logits).ok());
      }
    }
    rows = logits;
    for (int32_t t : {5, 17, 1999}) {
      EXPECT_TRUE(seq.Append({&t, 1}, &logits).ok());
      rows.insert(rows.end(), logits.begin(), logits.end());
    }
    return rows;
  }

  static Model* model_;
  static std::vector<int32_t> prompt_;
};
Model* SequenceTest::model_ = nullptr;
std::vector<int32_t> SequenceTest::prompt_;

void ExpectSameCaches(const ModelState& a, const ModelState& b) {
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t l = 0; l < a.layers.size(); ++l) {
    EXPECT_EQ(a.layers[l].ring, b.layers[l].ring) << "layer " << l;
    EXPECT_EQ(a.layers[l].cmp.entries, b.layers[l].cmp.entries) << "layer " << l;
    EXPECT_EQ(a.layers[l].idx.entries, b.layers[l].idx.entries) << "layer " << l;
  }
}

TEST_F(SequenceTest, ChunkedPrefillIsBitIdenticalToOneShot) {
  Sequence one(*model_);
  const std::vector<float> reference = Run(one, 0);
  for (int chunk : {1, 3, 4, 127, 128, 129}) {
    Sequence seq(*model_, SequenceOptions{.prefill_chunk = chunk});
    EXPECT_EQ(Run(seq, 0), reference) << "prefill_chunk " << chunk;
    ExpectSameCaches(seq.state(), one.state());
  }
}

TEST_F(SequenceTest, PromptContinuationEqualsOnePrefill) {
  Sequence one(*model_);
  const std::vector<float> reference = Run(one, 0);
  Sequence turns(*model_);  // a multi-turn chat appends each new turn to the same sequence
  EXPECT_EQ(Run(turns, 61), reference);
  EXPECT_EQ(turns.length(), one.length());
}

// A batched step (one prefill chunk, two decodes of different lengths) equals running each alone.
TEST_F(SequenceTest, BatchedStepIsBitIdenticalToSeparateSteps) {
  Sequence a(*model_), b(*model_), c(*model_), a1(*model_), b1(*model_), c1(*model_);
  std::vector<float> logits;
  const auto p = std::span(prompt_);
  ASSERT_TRUE(a.Append(p.first(150), &logits).ok());
  ASSERT_TRUE(a1.Append(p.first(150), &logits).ok());
  ASSERT_TRUE(b.Append(p.first(9), &logits).ok());
  ASSERT_TRUE(b1.Append(p.first(9), &logits).ok());
  for (int step = 0; step < 3; ++step) {
    const int32_t ta = 100 + step, tb = 200 + step;
    const std::vector<std::span<const int32_t>> toks = {
        std::span<const int32_t>(&ta, 1), std::span<const int32_t>(&tb, 1),
        p.subspan(step * 40, 40)};  // c: a prompt fed in 40-token chunks alongside the decodes
    Sequence* seqs[] = {&a, &b, &c};
    std::vector<std::vector<float>> batched;
    ASSERT_TRUE(Sequence::AppendBatch(seqs, toks, &batched).ok());
    std::vector<float> la, lb, lc;
    ASSERT_TRUE(a1.Append(toks[0], &la).ok());
    ASSERT_TRUE(b1.Append(toks[1], &lb).ok());
    ASSERT_TRUE(c1.Append(toks[2], &lc).ok());
    EXPECT_EQ(batched[0], la) << step;
    EXPECT_EQ(batched[1], lb) << step;
    EXPECT_EQ(batched[2], lc) << step;
  }
  EXPECT_EQ(c.length(), 120);
  // A bad token in one item rejects the whole batch and changes no sequence.
  const int32_t good = 1, bad = -5;
  const std::vector<std::span<const int32_t>> toks = {std::span<const int32_t>(&good, 1),
                                                      std::span<const int32_t>(&bad, 1)};
  Sequence* seqs[] = {&a, &b};
  std::vector<std::vector<float>> out;
  EXPECT_EQ(Sequence::AppendBatch(seqs, toks, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a.length(), 153);
  Sequence* twice[] = {&a, &a};
  EXPECT_EQ(Sequence::AppendBatch(twice, toks, &out).code(), StatusCode::kInvalidArgument);
}

TEST_F(SequenceTest, ResetMakesTheSequenceFresh) {
  Sequence seq(*model_);
  const std::vector<float> first = Run(seq, 0);
  seq.Reset();
  EXPECT_EQ(seq.length(), 0);
  EXPECT_EQ(Run(seq, 0), first);
}

TEST_F(SequenceTest, BadTokensAreRejectedWithoutChangingState) {
  Sequence seq(*model_);
  std::vector<float> logits;
  const std::vector<int32_t> bad = {1, 2, model_->config().vocab_size};
  const Status s = seq.Append(bad, &logits);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("outside the vocabulary"), std::string::npos);
  EXPECT_EQ(seq.length(), 0);
  const std::vector<int32_t> negative = {-1};
  EXPECT_EQ(seq.Append(negative, &logits).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(seq.Append({}, &logits).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(seq.MtpLogits(3, &logits).code(), StatusCode::kInvalidArgument);  // MTP not enabled
}

TEST_F(SequenceTest, ContextLimitIsEnforcedBeforeAnyWork) {
  Sequence seq(*model_, SequenceOptions{.max_tokens = 150});
  std::vector<float> logits;
  const Status s = seq.Append(prompt_, &logits);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("context limit of 150"), std::string::npos);
  EXPECT_EQ(seq.length(), 0);
  EXPECT_TRUE(seq.Append(std::span(prompt_).first(150), &logits).ok());
  const int32_t t = 7;
  EXPECT_EQ(seq.Append({&t, 1}, &logits).code(), StatusCode::kResourceExhausted);
}

TEST_F(SequenceTest, MtpNeedsPendingPositions) {
  Sequence seq(*model_, SequenceOptions{.mtp = true});
  std::vector<float> logits, mtp;
  EXPECT_EQ(seq.MtpLogits(3, &mtp).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(seq.Append(std::span(prompt_).first(10), &logits).ok());
  ASSERT_TRUE(seq.MtpLogits(3, &mtp).ok());
  EXPECT_EQ(mtp.size(), static_cast<size_t>(model_->config().vocab_size));
  EXPECT_EQ(seq.state().n_mtp_tokens, 10);
  EXPECT_EQ(seq.MtpLogits(3, &mtp).code(), StatusCode::kInvalidArgument);  // consumed
}

}  // namespace
}  // namespace dsv4
