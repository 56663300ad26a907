// MTP speculative decoding is exact: the greedy output equals plain greedy decoding token for token,
// and a rejected draft is undone bit-exactly (snapshot/restore).
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/model.h"
#include "runtime/sequence.h"
#include "runtime/speculative.h"

namespace dsv4 {
namespace {

std::vector<int32_t> PlainGreedy(const Model& model, std::span<const int32_t> prompt, int n) {
  Sequence seq(model);
  std::vector<float> logits;
  EXPECT_TRUE(seq.Append(prompt, &logits).ok());
  std::vector<int32_t> out;
  while (static_cast<int>(out.size()) < n) {
    const int32_t t = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(t);
    EXPECT_TRUE(seq.Append({&t, 1}, &logits).ok());
  }
  return out;
}

TEST(Speculative, GreedyOutputEqualsPlainGreedy) {
  for (const char* name : {"flash-tiny", "pro-tiny"}) {
    const std::string dir = std::string(DSV4_SHARED_DIR) + "/golden/" + name;
    auto model = Model::Load(dir + "/model");
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    std::ifstream f(dir + "/case.json");
    auto prompt = nlohmann::json::parse(f)["prompt_ids"].get<std::vector<int32_t>>();
    prompt.resize(std::min<size_t>(prompt.size(), 125));  // the window wraps during generation
    const int n = 12;
    Sequence seq(**model, SequenceOptions{.mtp = true});
    SpeculativeStats stats;
    auto spec = GreedySpeculative(seq, prompt, n, -1, &stats);
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    EXPECT_EQ(*spec, PlainGreedy(**model, prompt, n)) << name;
    EXPECT_GT(stats.drafted, 0);
    std::printf("%s: %lld drafts, %lld accepted, %lld main calls for %d tokens\n", name,
                static_cast<long long>(stats.drafted), static_cast<long long>(stats.accepted),
                static_cast<long long>(stats.main_calls), n);
  }
}

// The accept path: a draft oracle that knows the greedy continuation is always right, so every
// draft is accepted, the output is unchanged and the main model runs about half as often.
TEST(Speculative, AcceptedDraftsKeepTheOutputAndHalveMainCalls) {
  auto model = Model::Load(std::string(DSV4_SHARED_DIR) + "/golden/flash-tiny/model");
  ASSERT_TRUE(model.ok());
  std::vector<int32_t> prompt = {5, 900, 17, 2048, 33};
  const int n = 10;
  const std::vector<int32_t> plain = PlainGreedy(**model, prompt, n);
  Sequence seq(**model);
  SpeculativeStats stats;
  auto oracle = [&](Sequence& s, int32_t) -> Result<int32_t> {
    const size_t at = static_cast<size_t>(s.length()) - prompt.size() + 1;  // index of the draft
    return at < plain.size() ? plain[at] : 0;
  };
  auto spec = GreedySpeculative(seq, prompt, n, -1, &stats, oracle);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(*spec, plain);
  EXPECT_EQ(stats.accepted, stats.drafted);
  EXPECT_LE(stats.main_calls, n / 2 + 1);
  // A wrong oracle is always rejected and still changes nothing.
  Sequence seq2(**model);
  SpeculativeStats stats2;
  auto wrong = [&](Sequence& s, int32_t) -> Result<int32_t> {
    const size_t at = static_cast<size_t>(s.length()) - prompt.size() + 1;
    return at < plain.size() ? (plain[at] + 1) % 2560 : 0;
  };
  auto spec2 = GreedySpeculative(seq2, prompt, n, -1, &stats2, wrong);
  ASSERT_TRUE(spec2.ok());
  EXPECT_EQ(*spec2, plain);
  EXPECT_EQ(stats2.accepted, 0);
}

// Append two tokens, restore, append them again: identical logits and caches.
TEST(Speculative, SnapshotRestoreIsExact) {
  auto model = Model::Load(std::string(DSV4_SHARED_DIR) + "/golden/pro-tiny/model");
  ASSERT_TRUE(model.ok());
  std::vector<int32_t> prompt(127);  // the next two positions complete a ratio-4 and a 128 block
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((i * 37) % 2000);
  Sequence seq(**model, SequenceOptions{.mtp = true});
  std::vector<float> logits, first, second;
  ASSERT_TRUE(seq.Append(prompt, &logits).ok());
  const ModelState before = seq.state();
  const auto snap = seq.TakeSnapshot(2);
  const int32_t pair[2] = {11, 22};
  ASSERT_TRUE(seq.AppendAll(pair, &first).ok());
  EXPECT_EQ(first.size(), 2u * 2048);
  seq.Restore(snap);
  EXPECT_EQ(seq.length(), 127);
  for (size_t l = 0; l < before.layers.size(); ++l) {
    EXPECT_EQ(seq.state().layers[l].ring, before.layers[l].ring) << l;
    EXPECT_EQ(seq.state().layers[l].cmp.entries, before.layers[l].cmp.entries) << l;
    EXPECT_EQ(seq.state().layers[l].cmp.carry_score, before.layers[l].cmp.carry_score) << l;
    EXPECT_EQ(seq.state().layers[l].idx.entries, before.layers[l].idx.entries) << l;
  }
  ASSERT_TRUE(seq.AppendAll(pair, &second).ok());
  EXPECT_EQ(first, second);
}

}  // namespace
}  // namespace dsv4
