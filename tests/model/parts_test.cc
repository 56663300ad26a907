// Model parts against the spec, independently of the goldens: YaRN frequencies, Sinkhorn, the
// compressor's overlapped pooling orientation, the indexer's top-k tie rule.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "base/numeric.h"
#include "kernels/kernels.h"
#include "model/compressor.h"
#include "model/hc.h"
#include "model/indexer.h"
#include "model/rope.h"

namespace dsv4 {
namespace {

ModelConfig SmallConfig() {
  ModelConfig c;
  c.vocab_size = 64;
  c.dim = 128;
  c.n_layers = 1;
  c.n_heads = 2;
  c.head_dim = 512;
  c.rope_head_dim = 64;
  c.hc_mult = 4;
  c.rope_theta = 10000;
  c.compress_rope_theta = 160000;
  c.original_seq_len = 65536;
  c.rope_factor = 16;
  c.beta_fast = 32;
  c.beta_slow = 1;
  c.index_n_heads = 2;
  c.index_head_dim = 128;
  return c;
}

// Spec §6: base 160000 → dims i <= 15 keep f_i, i >= 25 are divided by 16, linear in between.
TEST(Rope, YarnBlendsFrequenciesBetween15And25) {
  const ModelConfig c = SmallConfig();
  const Rope plain(c, false), yarn(c, true);
  float cos_p[32], sin_p[32], cos_y[32], sin_y[32];
  plain.CosSin(1, cos_p, sin_p);
  yarn.CosSin(1, cos_y, sin_y);
  for (int i = 0; i < 32; ++i) {
    const double base_f = std::pow(10000.0, -2.0 * i / 64);  // ratio-0 layers: no YaRN
    EXPECT_NEAR(std::atan2(sin_p[i], cos_p[i]), base_f, 1e-6) << i;
    const double f = std::pow(160000.0, -2.0 * i / 64);
    const double ramp = std::clamp((i - 15.0) / (25.0 - 15.0), 0.0, 1.0);
    EXPECT_NEAR(std::atan2(sin_y[i], cos_y[i]), f / 16 * ramp + f * (1 - ramp), 1e-6) << i;
  }
}

TEST(Rope, InverseUndoesForwardOnInterleavedPairs) {
  const ModelConfig c = SmallConfig();
  const Rope rope(c, true);
  std::vector<float> x(512);
  for (int i = 0; i < 512; ++i) x[i] = RoundBf16(std::sin(0.1f * i));
  std::vector<float> y = x;
  rope.Apply(y.data(), 1, 512, 12345, false);
  EXPECT_EQ(std::vector<float>(y.begin(), y.begin() + 448), std::vector<float>(x.begin(), x.begin() + 448));
  EXPECT_NE(y, x);
  // Pair (448, 449) rotates by the angle of frequency 0 (= position, f_0 = 1).
  const float angle = 12345.0f;
  EXPECT_NEAR(y[448], x[448] * std::cos(angle) - x[449] * std::sin(angle), 1e-2);
  rope.Apply(y.data(), 1, 512, 12345, true);
  for (int i = 448; i < 512; ++i) EXPECT_NEAR(y[i], x[i], 2e-2) << i;
}

TEST(HyperConnections, SinkhornCombIsDoublyStochastic) {
  const ModelConfig c = SmallConfig();
  std::mt19937 rng(1);
  std::normal_distribution<float> n(0, 1);
  HcWeights w;
  w.fn.resize(24 * 4 * c.dim);
  for (float& v : w.fn) v = 0.05f * n(rng);
  w.base.resize(24);
  for (float& v : w.base) v = n(rng);
  w.scale = {0.5f, 0.7f, 1.3f};
  std::vector<float> X(3 * 4 * c.dim), x(3 * c.dim), post(12), comb(48);
  for (float& v : X) v = RoundBf16(n(rng));
  HcPre(X.data(), 3, w, c, x.data(), post.data(), comb.data());
  for (int s = 0; s < 3; ++s) {
    for (int j = 0; j < 4; ++j) {
      float row = 0, col = 0;
      for (int k = 0; k < 4; ++k) {
        row += comb[s * 16 + j * 4 + k];
        col += comb[s * 16 + k * 4 + j];
      }
      EXPECT_NEAR(row, 1.0f, 1e-3);
      EXPECT_NEAR(col, 1.0f, 1e-5);  // the last Sinkhorn step normalizes columns
      EXPECT_GT(post[s * 4 + j], 0.0f);
      EXPECT_LT(post[s * 4 + j], 2.0f);
    }
  }
}

// HC_post: output stream k gathers column k of comb (comb[j][k] mixes input j into output k).
TEST(HyperConnections, PostUsesCombColumns) {
  ModelConfig c = SmallConfig();
  c.dim = 1;
  const float x[1] = {1.0f}, post[4] = {0, 0, 0, 0};
  const float R[4] = {1, 10, 100, 1000};
  float comb[16] = {};
  comb[1 * 4 + 0] = 1.0f;  // input stream 1 → output stream 0
  comb[3 * 4 + 2] = 1.0f;  // input stream 3 → output stream 2
  float out[4];
  HcPost(x, R, post, comb, 1, c, out);
  EXPECT_EQ(out[0], 10.0f);
  EXPECT_EQ(out[1], 0.0f);
  EXPECT_EQ(out[2], 1000.0f);
}

TEST(Indexer, TopKBreaksTiesByLowerIndexAndMarksInvisible) {
  const float inf = std::numeric_limits<float>::infinity();
  const float score[2 * 6] = {1, 3, 2, 3, 3, 0,          // ties at 3: entries 1, 3, 4
                              5, -inf, -inf, -inf, -inf, -inf};
  int32_t idx[2 * 3];
  IndexerTopK(score, 2, 6, 3, idx);
  EXPECT_EQ(std::vector<int32_t>(idx, idx + 3), (std::vector<int32_t>{1, 3, 4}));
  EXPECT_EQ(std::vector<int32_t>(idx + 3, idx + 6), (std::vector<int32_t>{0, -1, -1}));
}

// Overlapped (ratio 4) pooling: entry i = softmax over {A half of block i-1} ∪ {B half of block i},
// per feature. Checked against a direct float64 evaluation of spec §4.5, and fed token by token.
TEST(Compressor, OverlappedPoolingMatchesTheFormula) {
  const ModelConfig c = SmallConfig();
  const int d = 512, D = c.dim, r = 4, width = 2 * d, T = 8;
  std::mt19937 rng(7);
  std::normal_distribution<float> n(0, 1);
  std::vector<uint16_t> wkv(width * D), wgate(width * D);
  for (auto& v : wkv) v = FloatToBf16(0.1f * n(rng));
  for (auto& v : wgate) v = FloatToBf16(0.3f * n(rng));
  CompressorWeights w;
  w.ratio = r;
  w.head_dim = d;
  w.wkv = Bf16Weight{wkv.data(), width, D};
  w.wgate = Bf16Weight{wgate.data(), width, D};
  w.ape.resize(r * width);
  for (float& v : w.ape) v = n(rng);
  w.norm.assign(d, 1.0f);
  std::vector<float> x(T * D);
  for (float& v : x) v = RoundBf16(n(rng));
  const Rope rope(c, true);

  CompressorState all, one;
  all.Init(r, d);
  one.Init(r, d);
  CompressorAppend(x.data(), T, 0, w, rope, c, CompressorKind::kAttention, all);
  for (int t = 0; t < T; ++t) {
    CompressorAppend(x.data() + t * D, 1, t, w, rope, c, CompressorKind::kAttention, one);
  }
  ASSERT_EQ(all.n_entries(), 2);
  EXPECT_EQ(all.entries, one.entries);

  // Entry 1 from the formula (float64), then the same finishing steps.
  std::vector<double> a(T * width), z(T * width);
  for (int t = 0; t < T; ++t) {
    for (int f = 0; f < width; ++f) {
      double av = 0, zv = 0;
      for (int k = 0; k < D; ++k) {
        av += static_cast<double>(x[t * D + k]) * Bf16ToFloat(wkv[f * D + k]);
        zv += static_cast<double>(x[t * D + k]) * Bf16ToFloat(wgate[f * D + k]);
      }
      a[t * width + f] = av;
      z[t * width + f] = zv + w.ape[(t % r) * width + f];
    }
  }
  std::vector<float> pooled(d);
  for (int f = 0; f < d; ++f) {
    double mx = -1e300, sum = 0, acc = 0;
    auto col = [&](int t) { return t < r ? f : d + f; };  // block 0: A half, block 1: B half
    for (int t = 0; t < T; ++t) mx = std::max(mx, z[t * width + col(t)]);
    for (int t = 0; t < T; ++t) sum += std::exp(z[t * width + col(t)] - mx);
    for (int t = 0; t < T; ++t) acc += std::exp(z[t * width + col(t)] - mx) / sum * a[t * width + col(t)];
    pooled[f] = RoundBf16(static_cast<float>(acc));
  }
  std::vector<float> e(d);
  RmsNorm(pooled.data(), 1, d, w.norm.data(), c.norm_eps, e.data());
  rope.Apply(e.data(), 1, d, 1 * r, false);
  Fp8Sim(e.data(), d - 64, 64);
  int differing = 0;
  for (int f = 0; f < d; ++f) differing += e[f] != all.entry(1)[f];
  EXPECT_LE(differing, d / 50) << "entries differ beyond rounding";  // fp32 vs f64 pooling
}

}  // namespace
}  // namespace dsv4
