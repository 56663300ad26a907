// The generation loop on a made tiny model (2048-token vocabulary, random weights): greedy is
// reproducible, chunked prefill changes nothing, limits and stop ids/strings end generation with
// the right finish reason, and bad requests fail before any work.
#include "runtime/generate.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "model/model.h"
#include "runtime/make_model.h"

namespace dsv4 {
namespace {

namespace fs = std::filesystem;

class GenerateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("dsv4_gen_" + std::to_string(getpid()));
    ASSERT_TRUE(MakeModel(FindPreset("tiny")->config, {.out_dir = dir_.string(), .seed = 3}).ok());
    auto m = Model::Load(dir_.string());
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    model_ = std::move(*m).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    fs::remove_all(dir_);
  }

  // Greedy, no EOS stop (random weights may well produce id 1), n new tokens.
  static GenerateOptions Greedy(int n) {
    return {.max_new_tokens = n, .prefill_chunk = 0, .stop_at_eos = false};
  }
  static Result<GenerateResult> Run(const GenerateOptions& o, std::span<const int32_t> prompt,
                                    std::vector<int32_t>* streamed = nullptr) {
    Sequence seq(*model_);
    return Generate(*model_, seq, prompt, o, [&](const GeneratedToken& t) {
      if (streamed && t.id != GeneratedToken::kNoToken) streamed->push_back(t.id);
      return true;
    });
  }

  static inline fs::path dir_;
  static inline Model* model_ = nullptr;
  const std::vector<int32_t> prompt_ = {0, 17, 300, 2047, 5, 6, 7, 8, 9, 1000, 42};
};

TEST_F(GenerateTest, GreedyIsReproducibleAndStreamsEveryToken) {
  std::vector<int32_t> streamed;
  auto a = Run(Greedy(6), prompt_, &streamed);
  auto b = Run(Greedy(6), prompt_);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status().ToString();
  EXPECT_EQ(a->tokens, b->tokens);
  EXPECT_EQ(streamed, a->tokens);
  EXPECT_EQ(a->generated(), 6);
  EXPECT_EQ(a->finish, FinishReason::kLength);
  EXPECT_EQ(a->prompt_tokens, static_cast<int64_t>(prompt_.size()));
  EXPECT_EQ(a->decode_steps, 5);  // the last token's logits are never needed
  EXPECT_GT(a->PrefillTokensPerSecond(), 0);
  EXPECT_GT(a->DecodeTokensPerSecond(), 0);
}

TEST_F(GenerateTest, ChunkedPrefillGivesTheSameTokens) {
  GenerateOptions chunked = Greedy(4);
  chunked.prefill_chunk = 3;  // 11 prompt tokens: chunks 3, 3, 3, 2
  auto a = Run(Greedy(4), prompt_);
  auto b = Run(chunked, prompt_);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tokens, b->tokens);
}

TEST_F(GenerateTest, SeededSamplingIsReproducible) {
  GenerateOptions o = Greedy(5);
  o.sampling = {.temperature = 1.0f, .top_k = 50, .seed = 9};
  auto a = Run(o, prompt_), b = Run(o, prompt_);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tokens, b->tokens);
}

TEST_F(GenerateTest, StopTokenEndsGenerationAndIsReported) {
  auto free_run = Run(Greedy(5), prompt_);
  ASSERT_TRUE(free_run.ok());
  GenerateOptions o = Greedy(5);
  o.stop.stop_token_ids = {free_run->tokens[2]};
  auto r = Run(o, prompt_);
  ASSERT_TRUE(r.ok());
  // Ends at the first occurrence of that id (which may be earlier than position 2).
  const auto first = std::find(free_run->tokens.begin(), free_run->tokens.end(), free_run->tokens[2]);
  EXPECT_EQ(r->tokens, std::vector<int32_t>(free_run->tokens.begin(), first + 1));
  EXPECT_EQ(r->finish, FinishReason::kStopToken);
}

TEST_F(GenerateTest, EosOfTheConfigStopsByDefault) {
  // With stop_at_eos the config's eos id joins the stop ids; no generated token after it.
  GenerateOptions o = Greedy(8);
  o.stop_at_eos = true;
  auto r = Run(o, prompt_);
  ASSERT_TRUE(r.ok());
  const int32_t eos = model_->config().eos_token_id;
  for (size_t i = 0; i + 1 < r->tokens.size(); ++i) EXPECT_NE(r->tokens[i], eos);
  EXPECT_EQ(r->finish == FinishReason::kStopToken, r->tokens.back() == eos);
}

TEST_F(GenerateTest, CallbackCanStop) {
  Sequence seq(*model_);
  int calls = 0;
  auto r = Generate(*model_, seq, prompt_, Greedy(10), [&](const GeneratedToken&) {
    return ++calls < 3;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->generated(), 3);
  EXPECT_EQ(r->finish, FinishReason::kCallback);
  // The sequence holds the prompt and every generated token but the last.
  EXPECT_EQ(seq.length(), static_cast<int64_t>(prompt_.size()) + 2);
}

// A fake detokenizer: token t decodes to "<t>". Stop strings are matched on that text.
TEST_F(GenerateTest, StopStringsNeedADecoderAndCutTheText) {
  GenerateOptions o = Greedy(6);
  o.stop.stop_strings = {"never appears"};
  EXPECT_FALSE(Run(o, prompt_).ok());  // no decoder: refused up front
  o.decoder.feed = [](int32_t t) { return "<" + std::to_string(t) + ">"; };
  auto all = Run(o, prompt_);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->finish, FinishReason::kLength);
  std::string expected;
  for (int32_t t : all->tokens) expected += "<" + std::to_string(t) + ">";
  EXPECT_EQ(all->text, expected);

  o.stop.stop_strings = {"<" + std::to_string(all->tokens[1]) + ">"};
  std::string streamed;
  Sequence seq(*model_);
  auto cut = Generate(*model_, seq, prompt_, o, [&](const GeneratedToken& t) {
    streamed += t.text;
    return true;
  });
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->finish, FinishReason::kStopString);
  EXPECT_EQ(cut->text, streamed);
  EXPECT_EQ(expected.find(o.stop.stop_strings[0]), cut->text.size());  // text before the match
}

TEST_F(GenerateTest, BadRequestsFailBeforeAnyWork) {
  Sequence seq(*model_);
  auto never = [](const GeneratedToken&) {
    ADD_FAILURE() << "no token expected";
    return false;
  };
  const std::vector<int32_t> empty, out_of_vocab = {1, 2048};
  EXPECT_FALSE(Generate(*model_, seq, empty, Greedy(2), never).ok());
  EXPECT_FALSE(Generate(*model_, seq, out_of_vocab, Greedy(2), never).ok());
  EXPECT_FALSE(Generate(*model_, seq, prompt_, Greedy(0), never).ok());
  GenerateOptions small = Greedy(4);
  small.context_limit = 14;  // 11 + 4 > 14
  auto r = Generate(*model_, seq, prompt_, small, never);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("exceeds the context of 14"), std::string::npos);
  GenerateOptions bad_temp = Greedy(2);
  bad_temp.sampling.temperature = -1;
  EXPECT_FALSE(Generate(*model_, seq, prompt_, bad_temp, never).ok());
  EXPECT_EQ(seq.length(), 0);  // nothing was appended
  small.context_limit = 15;    // exactly fits
  EXPECT_TRUE(Generate(*model_, seq, prompt_, small, [](const GeneratedToken&) { return true; }).ok());
}

TEST_F(GenerateTest, ContinuingASequenceEqualsOneLongPrompt) {
  // Turn 1 generates; turn 2 appends the unfed last token plus more prompt. The logits then match
  // a fresh sequence fed everything at once (the chat CLI's reuse of the sequence relies on it).
  Sequence seq(*model_);
  auto accept = [](const GeneratedToken&) { return true; };
  auto first = Generate(*model_, seq, prompt_, Greedy(3), accept);
  ASSERT_TRUE(first.ok());
  std::vector<int32_t> next = {first->tokens.back(), 11, 12};
  auto second = Generate(*model_, seq, next, Greedy(3), accept);
  ASSERT_TRUE(second.ok());
  std::vector<int32_t> whole = prompt_;
  whole.insert(whole.end(), first->tokens.begin(), first->tokens.end());
  whole.insert(whole.end(), {11, 12});
  auto fresh = Run(Greedy(3), whole);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(second->tokens, fresh->tokens);
}

}  // namespace
}  // namespace dsv4
