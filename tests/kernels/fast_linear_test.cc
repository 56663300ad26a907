// Every SIMD linear kernel (kernels/cpu) against its scalar twin (kernels/ref), for every Highway
// target compiled in and supported by this CPU, on random inputs of odd shapes. Contract
// (kernels.h): each output equals ref or is 1 bf16 ulp away.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "base/numeric.h"
#include "kernels/cpu/cpu.h"
#include "kernels/cpu/gemm_onednn.h"
#include "kernels/kernels.h"
#include "kernels/ref/ref.h"
#include "kernels/thread_pool.h"
#include "for_each_target.h"

namespace dsv4 {
namespace {

constexpr int kMs[] = {1, 2, 3, 7, 17};
constexpr int kNs[] = {1, 5, 128, 130, 257};

// bf16 patterns as a monotone integer line, so neighbours differ by 1 (and +0/-0 by 0).
int64_t Bf16Ordinal(float v) {
  const int32_t b = static_cast<int32_t>(FloatToBf16(v));
  return (b & 0x8000) ? -static_cast<int64_t>(b & 0x7fff) : b;
}

struct UlpStats {
  int64_t equal = 0, one_ulp = 0, more = 0;
};

// Fast vs ref outputs: identical, or both bf16 values 1 ulp apart (NaN only where ref is NaN).
// With `mags` (Σ|x·w| per output, k terms): an output may also differ by the reordering bound,
// the final bf16 rounding plus ~k fp32 roundings of Σ|x·w| — a cancelling sum (result far below
// Σ|x·w|) reordered can move more than 1 bf16 ulp of its small result. Those are counted in
// `more`; the callers check they stay rare.
void ExpectWithinOneBf16Ulp(const std::vector<float>& fast, const std::vector<float>& ref,
                            UlpStats* stats, const std::string& what, bool fail = true,
                            const std::vector<double>* mags = nullptr, int k = 0) {
  ASSERT_EQ(fast.size(), ref.size());
  int reported = 0;
  for (size_t i = 0; i < fast.size(); ++i) {
    if (std::isnan(ref[i])) {
      EXPECT_TRUE(std::isnan(fast[i])) << what << " [" << i << "]";
      continue;
    }
    EXPECT_EQ(fast[i], RoundBf16(fast[i])) << what << " [" << i << "] not a bf16 value";
    const int64_t d = std::abs(Bf16Ordinal(fast[i]) - Bf16Ordinal(ref[i]));
    if (d == 0) {
      ++stats->equal;
      continue;
    }
    if (d == 1) {
      ++stats->one_ulp;
      continue;
    }
    ++stats->more;
    bool within = false;
    if (mags != nullptr) {
      const double ulp = std::ldexp(1.0, std::ilogb(std::max(std::fabs(ref[i]), 1e-30f)) - 7);
      within = std::fabs(double(fast[i]) - ref[i]) <= ulp + 2.0 * k * std::ldexp((*mags)[i], -24);
    }
    if (!within && fail && reported++ < 5) {
      ADD_FAILURE() << what << " [" << i << "]: fast " << fast[i] << " vs ref " << ref[i];
    }
  }
}

// Σ|x·w| of every output (m × n) for weight values w_value(o, i).
template <class WeightValue>
std::vector<double> AbsDotSums(const std::vector<float>& x, int m, int n, int k,
                               const WeightValue& w_value) {
  std::vector<double> mags(static_cast<size_t>(m) * n);
  for (int o = 0; o < n; ++o) {
    std::vector<double> w(k);
    for (int i = 0; i < k; ++i) w[i] = std::fabs(w_value(o, i));
    for (int r = 0; r < m; ++r) {
      double mag = 0;
      for (int i = 0; i < k; ++i) mag += std::fabs(x[static_cast<size_t>(r) * k + i]) * w[i];
      mags[static_cast<size_t>(r) * n + o] = mag;
    }
  }
  return mags;
}

// For kernels whose products are not exact in fp32 (unquantized fp32 activations): a reordered
// sum differs from ref by at most ~k fp32 roundings of Σ|x·w| (which cancellation can make large
// next to the result), plus the final bf16 rounding when bf16 out.
void ExpectCloseToRef(const std::vector<float>& fast, const std::vector<float>& ref,
                      const std::vector<float>& x, const std::vector<float>& w_values, int m, int n,
                      int k, bool bf16_out, const std::string& what) {
  int reported = 0;
  for (int r = 0; r < m; ++r) {
    for (int o = 0; o < n; ++o) {
      double mag = 0;
      for (int i = 0; i < k; ++i) {
        mag += std::fabs(double(x[static_cast<size_t>(r) * k + i]) *
                         w_values[static_cast<size_t>(o) * k + i]);
      }
      const size_t at = static_cast<size_t>(r) * n + o;
      const double ulp =
          bf16_out ? std::ldexp(1.0, std::ilogb(std::max(std::fabs(ref[at]), 1e-30f)) - 7) : 0;
      const double tol = ulp + 2.0 * k * std::ldexp(mag, -24) + 1e-30;
      if (bf16_out) {
        EXPECT_EQ(fast[at], RoundBf16(fast[at])) << what;
      }
      if (std::fabs(fast[at] - ref[at]) > tol && reported++ < 5) {
        ADD_FAILURE() << what << " [" << at << "]: fast " << fast[at] << " vs ref " << ref[at]
                      << " tol " << tol;
      }
    }
  }
}

// Random activations with a spread of magnitudes (per-row scale), exact zeros, and runs of tiny
// values that quantize to e4m3 subnormals next to large ones in the same 128-block.
std::vector<float> RandomActivations(std::mt19937& rng, int m, int k) {
  std::normal_distribution<float> g(0, 1);
  std::vector<float> x(static_cast<size_t>(m) * k);
  for (int r = 0; r < m; ++r) {
    const float row_scale = std::ldexp(1.0f, static_cast<int>(rng() % 12) - 6);
    for (int i = 0; i < k; ++i) {
      float v = g(rng) * row_scale;
      const uint32_t u = rng() % 64;
      if (u == 0) v = 0.0f;
      if (u == 1) v *= 1e-3f;
      x[static_cast<size_t>(r) * k + i] = RoundBf16(v);
    }
  }
  return x;
}

// A row's output never depends on how many rows are computed with it: linear(x, m, y) for the m
// rows of x (k values each) equals linear on each row alone, bit for bit. Returns the m × n
// outputs of the batched call.
template <class Linear>
std::vector<float> ExpectBatchInvariant(const std::vector<float>& x, int m, int k, int n,
                                        const std::string& what, const Linear& linear) {
  std::vector<float> y(static_cast<size_t>(m) * n), one(n);
  linear(x.data(), m, y.data());
  for (int r = 0; r < m; ++r) {
    linear(x.data() + static_cast<size_t>(r) * k, 1, one.data());
    EXPECT_TRUE(std::equal(one.begin(), one.end(), y.begin() + static_cast<size_t>(r) * n))
        << what << " m=" << m << " row " << r;
  }
  return y;
}

// ExpectBatchInvariant for one weight of each format (bf16: fp32 out).
void ExpectEveryFormatBatchInvariant(const std::vector<float>& x, int m, int k, int n,
                                     const Fp8Weight& wt8, const Fp4Weight& wt4,
                                     const Bf16Weight& wtb) {
  ExpectBatchInvariant(x, m, k, n, "fp8", [&](const float* xs, int rows, float* out) {
    cpu::LinearFp8(xs, rows, wt8, out);
  });
  ExpectBatchInvariant(x, m, k, n, "fp4", [&](const float* xs, int rows, float* out) {
    cpu::LinearFp4(xs, rows, wt4, out);
  });
  ExpectBatchInvariant(x, m, k, n, "bf16", [&](const float* xs, int rows, float* out) {
    cpu::LinearBf16(xs, rows, wtb, out, /*round_bf16=*/false);
  });
}

TEST(FastLinearFp4, MatchesRefOnOddShapes) {
  ForEachTarget([] {
    std::mt19937 rng(11);
    UlpStats stats;
    for (int m : kMs) {
      for (int n : kNs) {
        for (int k : {32, 96, 256, 544, 1184, 4096}) {  // 1184: 37 blocks, a partial second scale group
          if (k == 4096 && (m > 3 || n > 130)) continue;  // the decode shape, kept small
          std::vector<uint8_t> w(static_cast<size_t>(n) * k / 2),
              s(static_cast<size_t>(n) * k / 32);
          for (auto& b : w) b = static_cast<uint8_t>(rng());
          for (auto& e : s) e = static_cast<uint8_t>(112 + rng() % 24);
          const std::vector<float> x = RandomActivations(rng, m, k);
          std::vector<float> y(static_cast<size_t>(m) * n), y_ref(y.size());
          const Fp4Weight wt{w.data(), s.data(), n, k};
          cpu::LinearFp4(x.data(), m, wt, y.data());
          ref::LinearFp4(x.data(), m, wt, y_ref.data());
          const std::vector<double> mags = AbsDotSums(x, m, n, k, [&](int o, int i) {
            const uint8_t byte = w[static_cast<size_t>(o) * k / 2 + i / 2];
            return E2M1ToFloat(i % 2 ? byte >> 4 : byte & 15) *
                   E8M0ToFloat(s[static_cast<size_t>(o) * k / 32 + i / 32]);
          });
          ExpectWithinOneBf16Ulp(
              y, y_ref, &stats,
              "fp4 m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k),
              /*fail=*/true, &mags, k);
        }
      }
    }
    // Almost every output is identical: the fp32 partial sums are exact or nearly so; beyond
    // 1 ulp only a few cancelling sums.
    EXPECT_GT(stats.equal, 50 * stats.one_ulp)
        << stats.equal << " equal, " << stats.one_ulp << " 1 ulp";
    EXPECT_LT(stats.more * 2000, stats.equal) << stats.more << " beyond 1 ulp";
  });
}

TEST(FastLinearFp8, MatchesRefOnOddShapes) {
  ForEachTarget([] {
    std::mt19937 rng(12);
    UlpStats stats;
    for (int m : kMs) {
      for (int n : kNs) {
        for (int k : {128, 200, 384, 2176}) {  // 2176 = 17 blocks: one full group of 16 and a tail
          if (k == 2176 && m > 3 && n > 5) continue;
          const int kb = (k + 127) / 128;
          std::vector<uint8_t> w(static_cast<size_t>(n) * k),
              s(static_cast<size_t>((n + 127) / 128) * kb);
          for (auto& c : w) {
            c = static_cast<uint8_t>(rng());
            if ((c & 0x7f) == 0x7f) c &= 0xfe;  // NaN codes get their own test
          }
          for (auto& e : s) e = static_cast<uint8_t>(110 + rng() % 24);
          const std::vector<float> x = RandomActivations(rng, m, k);
          std::vector<float> y(static_cast<size_t>(m) * n), y_ref(y.size());
          const Fp8Weight wt{w.data(), s.data(), n, k};
          cpu::LinearFp8(x.data(), m, wt, y.data());
          ref::LinearFp8(x.data(), m, wt, y_ref.data());
          ExpectWithinOneBf16Ulp(
              y, y_ref, &stats,
              "fp8 m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k));
        }
      }
    }
    EXPECT_GT(stats.equal, 50 * stats.one_ulp)
        << stats.equal << " equal, " << stats.one_ulp << " 1 ulp";
  });
}

// NaN weight codes (0x7f, 0xff) and NaN scales (e8m0 0xff) poison exactly the outputs ref poisons.
TEST(FastLinearFp8, NaNCodesAndScalesLikeRef) {
  ForEachTarget([] {
    std::mt19937 rng(13);
    const int m = 2, n = 256, k = 256;
    std::vector<uint8_t> w(static_cast<size_t>(n) * k), s(2 * 2, 127);
    for (auto& c : w) c = static_cast<uint8_t>(rng() % 0x70);
    w[5 * k + 3] = 0x7f;
    w[9 * k + 200] = 0xff;
    s[3] = 0xff;  // rows 128.., K block 1
    const std::vector<float> x = RandomActivations(rng, m, k);
    std::vector<float> y(static_cast<size_t>(m) * n), y_ref(y.size());
    cpu::LinearFp8(x.data(), m, Fp8Weight{w.data(), s.data(), n, k}, y.data());
    ref::LinearFp8(x.data(), m, Fp8Weight{w.data(), s.data(), n, k}, y_ref.data());
    UlpStats stats;
    ExpectWithinOneBf16Ulp(y, y_ref, &stats, "fp8 nan");
    EXPECT_TRUE(std::isnan(y[5]) && std::isnan(y[9]) && std::isnan(y[200]));
  });
}

TEST(FastLinearFp8AsBf16, MatchesRefOnOddShapes) {
  ForEachTarget([] {
    std::mt19937 rng(14);
    for (int m : kMs) {
      for (int n : kNs) {
        for (int k : {128, 200, 384}) {
          const int kb = (k + 127) / 128;
          std::vector<uint8_t> w(static_cast<size_t>(n) * k),
              s(static_cast<size_t>((n + 127) / 128) * kb);
          for (auto& c : w)
            c = static_cast<uint8_t>(rng() % 0x7f) | static_cast<uint8_t>(rng() & 0x80);
          for (auto& e : s) e = static_cast<uint8_t>(110 + rng() % 24);
          const std::vector<float> x = RandomActivations(rng, m, k);
          std::vector<float> y(static_cast<size_t>(m) * n), y_ref(y.size());
          const Fp8Weight wt{w.data(), s.data(), n, k};
          cpu::LinearFp8AsBf16(x.data(), m, wt, y.data());
          ref::LinearFp8AsBf16(x.data(), m, wt, y_ref.data());
          std::vector<float> wv(w.size());
          for (size_t i = 0; i < w.size(); ++i) {
            const size_t o = i / k, c = i % k;
            wv[i] = E4M3ToFloat(w[i]) * E8M0ToFloat(s[(o / 128) * kb + c / 128]);
          }
          ExpectCloseToRef(y, y_ref, x, wv, m, n, k, true,
                           "fp8-as-bf16 m=" + std::to_string(m) + " n=" + std::to_string(n) +
                               " k=" + std::to_string(k));
        }
      }
    }
  });
}

// bf16 activations far beyond e4m3's range (the AVX2 kernel carries x·2^119 in fp32 and lowers
// that shift per row where it would overflow, then scales the output back) and tiny ones, each row
// of its own magnitude: every target within the ref contract, and no row depends on the others.
TEST(FastLinearFp8AsBf16, LargeAndTinyActivationsMatchRef) {
  ForEachTarget([] {
    std::mt19937 rng(19);
    const int m = 5, n = 130, k = 384, kb = 3;
    std::vector<uint8_t> w(static_cast<size_t>(n) * k), s(2 * kb);
    for (auto& c : w) c = static_cast<uint8_t>(rng() % 0x7f) | static_cast<uint8_t>(rng() & 0x80);
    for (auto& e : s) e = static_cast<uint8_t>(110 + rng() % 24);
    std::vector<float> x = RandomActivations(rng, m, k);
    const float row_scale[m] = {1.0f, 3.0e4f, 1.0e30f, 1.0e-30f, 1.0e20f};
    for (int r = 0; r < m; ++r) {
      for (int i = 0; i < k; ++i) {
        float& v = x[static_cast<size_t>(r) * k + i];
        v = RoundBf16(v * row_scale[r]);
      }
    }
    const Fp8Weight wt{w.data(), s.data(), n, k};
    std::vector<float> y_ref(static_cast<size_t>(m) * n);
    const std::vector<float> y =
        ExpectBatchInvariant(x, m, k, n, "fp8-as-bf16 large", [&](const float* xs, int rows, float* out) {
          cpu::LinearFp8AsBf16(xs, rows, wt, out);
        });
    ref::LinearFp8AsBf16(x.data(), m, wt, y_ref.data());
    std::vector<float> wv(w.size());
    for (size_t i = 0; i < w.size(); ++i) {
      const size_t o = i / k, c = i % k;
      wv[i] = E4M3ToFloat(w[i]) * E8M0ToFloat(s[(o / 128) * kb + c / 128]);
    }
    ExpectCloseToRef(y, y_ref, x, wv, m, n, k, true, "fp8-as-bf16 large/tiny activations");
    int finite = 0;
    for (float v : y_ref) finite += std::isfinite(v);
    EXPECT_EQ(finite, m * n) << "every output should stay finite in ref";
  });
}

TEST(FastLinearBf16, MatchesRefOnOddShapes) {
  ForEachTarget([] {
    std::mt19937 rng(15);
    std::normal_distribution<float> g(0, 1);
    for (int m : kMs) {
      for (int n : kNs) {
        // 4200: m = 1 reads 4 rows per activation load (fp32 kernel); 96: an odd number of
        // 32-value vectors (bf16 dot kernel).
        for (int k : {1, 7, 96, 130, 257, 4200}) {
          if (k == 4200 && (m > 3 || n > 130)) continue;
          std::vector<uint16_t> w(static_cast<size_t>(n) * k);
          for (auto& b : w) b = FloatToBf16(g(rng));
          std::vector<float> wv(w.size());
          for (size_t i = 0; i < w.size(); ++i) wv[i] = Bf16ToFloat(w[i]);
          const Bf16Weight wt{w.data(), n, k};
          // fp32 activations take the fp32 kernel on every target; bf16-valued ones (what the
          // model passes) the bf16 dot-product kernel where the CPU has one.
          for (bool bf16_x : {false, true}) {
            std::vector<float> x(static_cast<size_t>(m) * k);
            for (auto& v : x) v = bf16_x ? RoundBf16(g(rng)) : g(rng);
            std::vector<float> y(static_cast<size_t>(m) * n), y_ref(y.size());
            const std::string what = "bf16 m=" + std::to_string(m) + " n=" + std::to_string(n) +
                                     " k=" + std::to_string(k) + (bf16_x ? " bf16 x" : " fp32 x");
            for (bool bf16_out : {true, false}) {
              cpu::LinearBf16(x.data(), m, wt, y.data(), bf16_out);
              ref::LinearBf16(x.data(), m, wt, y_ref.data(), bf16_out);
              ExpectCloseToRef(y, y_ref, x, wv, m, n, k, bf16_out,
                               what + (bf16_out ? " bf16 out" : " fp32 out"));
            }
          }
        }
      }
    }
  });
}

// A row's output never depends on how many rows are computed with it (batched decode must equal
// separate decodes): m rows at once vs one at a time, FP8 (in-register and panel paths), FP4, bf16.
TEST(FastLinear, BatchSizeDoesNotChangeResults) {
  ForEachTarget([] {
    std::mt19937 rng(17);
    for (int m : {2, 5, 9}) {
      const int n = 133, k = m == 2 ? 4352 : 640;  // 4352: the bf16 4-row path at m = 1
      const std::vector<float> x = RandomActivations(rng, m, k);
      std::vector<uint8_t> w8(static_cast<size_t>(n) * k),
          s8(2 * static_cast<size_t>((k + 127) / 128));
      for (auto& c : w8) c = static_cast<uint8_t>(rng() % 0x7f);
      for (auto& e : s8) e = static_cast<uint8_t>(118 + rng() % 12);
      std::vector<uint8_t> w4(static_cast<size_t>(n) * k / 2), s4(static_cast<size_t>(n) * k / 32);
      for (auto& b : w4) b = static_cast<uint8_t>(rng());
      for (auto& e : s4) e = static_cast<uint8_t>(118 + rng() % 12);
      const Fp8Weight wt8{w8.data(), s8.data(), n, k};
      const Fp4Weight wt4{w4.data(), s4.data(), n, k};
      ExpectBatchInvariant(x, m, k, n, "fp8", [&](const float* xs, int rows, float* out) {
        cpu::LinearFp8(xs, rows, wt8, out);
      });
      ExpectBatchInvariant(x, m, k, n, "fp4", [&](const float* xs, int rows, float* out) {
        cpu::LinearFp4(xs, rows, wt4, out);
      });
      // bf16 weights with bf16-valued activations (the bf16 dot kernel where the CPU has one:
      // rows at m < 8, register tiles at m >= 8) and with fp32 ones (the fp32 kernel: register
      // tiles at m > 1, one row at a time at m = 1).
      std::vector<uint16_t> wb(static_cast<size_t>(n) * k);
      for (auto& b : wb) b = FloatToBf16(std::ldexp(static_cast<float>(rng() % 255) - 127.0f, -7));
      const Bf16Weight wtb{wb.data(), n, k};
      std::vector<float> x32 = x;
      for (auto& v : x32) v *= 1.0f + 0x1p-12f;  // no longer bf16 values (except zeros)
      auto bf16 = [&](const float* xs, int rows, float* out) {
        cpu::LinearBf16(xs, rows, wtb, out, /*round_bf16=*/false);
      };
      ExpectBatchInvariant(x, m, k, n, "bf16, bf16 x", bf16);
      ExpectBatchInvariant(x32, m, k, n, "bf16, fp32 x", bf16);
    }
  });
}

// The test above sees a summation order only where it flips a bf16 rounding (rare: the products
// are exact and short). Here blocks 3-5 of every row cancel blocks 0-2 exactly (x negated, the
// same weights), with weight scales spread over 2^±20 so their partial sums round, and are ~2^30
// larger than blocks 6-7: the rounding errors of the cancelling sums, which depend on the exact
// order of additions, dominate the outputs, and a GEMM path that adds in another order than the
// matrix-vector path differs in most of them (checked by mutation: FP8's matrix-vector kernel
// with another chain assignment, MXFP4's GEMM tiles with another chain count).
// k = 4096 takes the GEMM's split-layout tiles (SplitPanelGemm, k >= 3072), k = 1024 the 4×3×2
// tiles.
TEST(FastLinear, BatchSizeDoesNotChangeCancellingSums) {
  ForEachTarget([] {
    for (int k : {1024, 4096}) {
      std::mt19937 rng(19);
      std::normal_distribution<float> g(0, 1);
      const int m = 9, n = 64, span = 3 * k / 8;  // [0, span) cancels [span, 2·span)
      auto source = [&](int i) { return i >= span && i < 2 * span ? i - span : i; };
      std::vector<float> x(static_cast<size_t>(m) * k);
      for (int r = 0; r < m; ++r) {
        float* row = x.data() + static_cast<size_t>(r) * k;
        for (int i = 0; i < k; ++i) {
          row[i] = i < span       ? RoundBf16(std::ldexp(g(rng), 20))
                   : i < 2 * span ? -row[i - span]
                                  : RoundBf16(std::ldexp(g(rng), -10));
        }
      }
      // Per 128-block: 2^-22, 2^-2, 2^18 repeating over the cancelling halves (so a block and its
      // negation share a scale), then 2^-2.
      std::vector<uint8_t> s8(k / 128);
      for (int b = 0; b < k / 128; ++b) {
        const int sb = span / 128;
        s8[b] = b < 2 * sb ? static_cast<uint8_t>(105 + 20 * ((b % sb) % 3)) : 125;
      }
      std::vector<uint8_t> w8(static_cast<size_t>(n) * k);
      std::vector<uint8_t> w4(static_cast<size_t>(n) * k / 2), s4(static_cast<size_t>(n) * k / 32);
      std::vector<uint16_t> wb(static_cast<size_t>(n) * k);
      for (int o = 0; o < n; ++o) {
        uint8_t* r8 = w8.data() + static_cast<size_t>(o) * k;
        uint8_t* r4 = w4.data() + static_cast<size_t>(o) * k / 2;
        uint8_t* q4 = s4.data() + static_cast<size_t>(o) * k / 32;
        uint16_t* rb = wb.data() + static_cast<size_t>(o) * k;
        for (int i = 0; i < k; ++i) {
          const int src = source(i);
          r8[i] = i == src ? static_cast<uint8_t>(rng() % 0x7f) | (rng() & 0x80) : r8[src];
          rb[i] = i == src ? FloatToBf16(std::ldexp(g(rng), static_cast<int>(rng() % 41) - 20))
                           : rb[src];
          if (i % 2 == 1) r4[i / 2] = i == src ? static_cast<uint8_t>(rng()) : r4[src / 2];
          if (i % 32 == 0) q4[i / 32] = i == src ? 107 + rng() % 41 : q4[src / 32];
        }
      }
      const Fp8Weight wt8{w8.data(), s8.data(), n, k};
      const Fp4Weight wt4{w4.data(), s4.data(), n, k};
      const Bf16Weight wtb{wb.data(), n, k};
      ExpectEveryFormatBatchInvariant(x, m, k, n, wt8, wt4, wtb);
    }
  });
}

// Scales outside the range where folding them into the bf16 operands is exact (kernels/cpu,
// linear_{fp8,fp4}_avx512bf16-inl.h) take the per-block kernels: whole calls for FP8, single
// rows for MXFP4 (mixed here with ordinary rows in one panel). Still within 1 bf16 ulp of ref, and
// still independent of the batch size.
TEST(FastLinear, ExtremeScalesMatchRef) {
  ForEachTarget([] {
    std::mt19937 rng(18);
    const int n = 40, k = 384;
    for (int m : {1, 3, 6}) {
      const std::vector<float> x = RandomActivations(rng, m, k);
      std::vector<uint8_t> w8(static_cast<size_t>(n) * k), s8(3);
      for (auto& c : w8) c = static_cast<uint8_t>(rng() % 0x7f) | static_cast<uint8_t>(rng() & 0x80);
      s8 = {120, 8, 125};  // 2^-119: products below fp32's normal range
      std::vector<uint8_t> w4(static_cast<size_t>(n) * k / 2), s4(static_cast<size_t>(n) * k / 32);
      for (auto& b : w4) b = static_cast<uint8_t>(rng());
      for (auto& e : s4) e = static_cast<uint8_t>(118 + rng() % 12);
      for (int row : {0, 5, 17, 39}) s4[static_cast<size_t>(row) * k / 32 + 3] = 60;  // 2^-67
      s4[static_cast<size_t>(9) * k / 32] = 200;                                       // 2^73
      // The edges of the folded range (2^-45, 2^50: kFp4ScaleLo/Hi), still folded rows.
      for (int b = 0; b < k / 32; ++b) {
        s4[static_cast<size_t>(25) * k / 32 + b] = b % 2 ? 82 : 177;
        s4[static_cast<size_t>(26) * k / 32 + b] = 177;
        s4[static_cast<size_t>(27) * k / 32 + b] = 82;
      }
      const Fp8Weight wt8{w8.data(), s8.data(), n, k};
      const Fp4Weight wt4{w4.data(), s4.data(), n, k};
      std::vector<float> y_ref(static_cast<size_t>(m) * n);
      UlpStats stats;
      const std::vector<float> y8 =
          ExpectBatchInvariant(x, m, k, n, "fp8 extreme", [&](const float* xs, int rows, float* out) {
            cpu::LinearFp8(xs, rows, wt8, out);
          });
      ref::LinearFp8(x.data(), m, wt8, y_ref.data());
      ExpectWithinOneBf16Ulp(y8, y_ref, &stats, "fp8 extreme m=" + std::to_string(m));
      const std::vector<float> y4 =
          ExpectBatchInvariant(x, m, k, n, "fp4 extreme", [&](const float* xs, int rows, float* out) {
            cpu::LinearFp4(xs, rows, wt4, out);
          });
      ref::LinearFp4(x.data(), m, wt4, y_ref.data());
      ExpectWithinOneBf16Ulp(y4, y_ref, &stats, "fp4 extreme m=" + std::to_string(m));
    }
  });
}

// Prefill-sized calls in fast-prefill mode (m >= kFastGemmMinRows: oneDNN where it is built in,
// else the register tiles) against ref: FP8, MXFP4, FP8-as-bf16 and bf16 weights, with weight-row
// counts that span several oneDNN calls per thread and end mid-call, and odd k (padded
// activations).
TEST(FastLinear, FastPrefillMatchesRef) {
  SetFastPrefill(true);
  const int64_t calls_before = cpu::OneDnnGemmCalls();
  ForEachTarget([] {
    std::mt19937 rng(23);
    UlpStats stats;
    for (int m : {cpu::kFastGemmMinRows, 101}) {
      for (const auto& [n, k] : {std::pair{130, 544}, std::pair{2200, 256}}) {
        const std::string what =
            " m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k);
        const std::vector<float> x = RandomActivations(rng, m, k);
        std::vector<float> y(static_cast<size_t>(m) * n), y_ref(y.size());
        const int kb = (k + 127) / 128;
        std::vector<uint8_t> w8(static_cast<size_t>(n) * k), s8(static_cast<size_t>((n + 127) / 128) * kb);
        for (auto& c : w8) c = static_cast<uint8_t>(rng() % 0x7f) | (rng() & 0x80);
        for (auto& e : s8) e = static_cast<uint8_t>(118 + rng() % 12);
        const Fp8Weight wt8{w8.data(), s8.data(), n, k};
        std::vector<float> wv(w8.size());
        for (size_t i = 0; i < w8.size(); ++i) {
          const size_t o = i / k, c = i % k;
          wv[i] = E4M3ToFloat(w8[i]) * E8M0ToFloat(s8[(o / 128) * kb + c / 128]);
        }
        // Exact products, one fp32 sum per output in oneDNN's order: within the reordering bound
        // of that sum (the matrix-vector kernels' lane-split sums stay within 1 ulp of ref).
        cpu::LinearFp8(x.data(), m, wt8, y.data());
        ref::LinearFp8(x.data(), m, wt8, y_ref.data());
        ExpectCloseToRef(y, y_ref, x, wv, m, n, k, true, "fp8" + what);
        cpu::LinearFp8AsBf16(x.data(), m, wt8, y.data());
        ref::LinearFp8AsBf16(x.data(), m, wt8, y_ref.data());
        ExpectCloseToRef(y, y_ref, x, wv, m, n, k, true, "fp8 as bf16" + what);
        std::vector<uint8_t> w4(static_cast<size_t>(n) * k / 2), s4(static_cast<size_t>(n) * k / 32);
        for (auto& b : w4) b = static_cast<uint8_t>(rng());
        for (auto& e : s4) e = static_cast<uint8_t>(112 + rng() % 24);
        const Fp4Weight wt4{w4.data(), s4.data(), n, k};
        cpu::LinearFp4(x.data(), m, wt4, y.data());
        ref::LinearFp4(x.data(), m, wt4, y_ref.data());
        for (size_t i = 0; i < wv.size(); ++i) {
          wv[i] = E2M1ToFloat(static_cast<uint8_t>(w4[i / 2] >> (i % 2 * 4) & 0xf)) *
                  E8M0ToFloat(s4[i / 32]);
        }
        ExpectCloseToRef(y, y_ref, x, wv, m, n, k, true, "fp4" + what);
        ExpectWithinOneBf16Ulp(y, y_ref, &stats, "fp4 (counted)" + what, /*fail=*/false);
        std::vector<uint16_t> wb(static_cast<size_t>(n) * k);
        for (auto& b : wb) b = FloatToBf16(std::ldexp(static_cast<float>(rng() % 255) - 127.0f, -7));
        const Bf16Weight wtb{wb.data(), n, k};
        std::vector<float> xb = x;  // bf16-valued, as the model's: the bf16 dot-product path
        for (float& v : xb) v = RoundBf16(v);
        cpu::LinearBf16(xb.data(), m, wtb, y.data(), /*round_bf16=*/true);
        ref::LinearBf16(xb.data(), m, wtb, y_ref.data(), /*round_bf16=*/true);
        for (size_t i = 0; i < wb.size(); ++i) wv[i] = Bf16ToFloat(wb[i]);
        ExpectCloseToRef(y, y_ref, xb, wv, m, n, k, true, "bf16" + what);
      }
    }
    // Still almost every output equals ref.
    EXPECT_GT(stats.equal, 50 * (stats.one_ulp + stats.more))
        << stats.equal << " equal, " << stats.one_ulp << " 1 ulp, " << stats.more << " more";
  });
  EXPECT_EQ(FastPrefill(), cpu::FastGemmEnabled());
#ifdef DSV4_HAVE_ONEDNN
  // oneDNN really ran: its brgemm on AVX-512 BF16, its sgemm on every other target.
  EXPECT_GT(cpu::OneDnnGemmCalls(), calls_before);
#else
  EXPECT_EQ(cpu::OneDnnGemmCalls(), calls_before);
#endif
  SetFastPrefill(false);
}

// Fast-prefill mode with block scales outside the range where folding them into fp32 operands
// keeps every product exact (linear_sgemm-inl.h: 2^-54..2^46): the call takes the default
// kernels instead, so it equals default mode bit for bit (and ref within 1 bf16 ulp). Weight
// scales of 2^-120 (folded, small codes would become fp32 subnormals) and 2^100. (Activation scales cannot leave the range: the quantizer's amax floor
// of 1e-4 keeps s_x ≥ 2^-22.)
TEST(FastLinear, FastPrefillKeepsExactProductsAtExtremeScales) {
  ForEachTarget([] {
    std::mt19937 rng(31);
    const int m = cpu::kFastGemmMinRows + 1, n = 140, k = 256;
    const std::vector<float> x = RandomActivations(rng, m, k);
    std::vector<uint8_t> w8(static_cast<size_t>(n) * k), s8(2 * 2);
    for (auto& c : w8) c = static_cast<uint8_t>(rng() % 0x7f) | (rng() & 0x80);
    std::vector<uint8_t> w4(static_cast<size_t>(n) * k / 2), s4(static_cast<size_t>(n) * k / 32);
    for (auto& b : w4) b = static_cast<uint8_t>(rng());
    for (const int scale_byte : {127 - 120, 127 + 100}) {
      const std::string what = " scale byte " + std::to_string(scale_byte);
      for (auto& e : s8) e = static_cast<uint8_t>(scale_byte);
      for (auto& e : s4) e = static_cast<uint8_t>(scale_byte);
      const Fp8Weight wt8{w8.data(), s8.data(), n, k};
      const Fp4Weight wt4{w4.data(), s4.data(), n, k};
      std::vector<float> fast8(static_cast<size_t>(m) * n), fast4(fast8.size()), base8(fast8.size()),
          base4(fast8.size()), ref_y(fast8.size());
      SetFastPrefill(true);
      const int64_t calls_before = cpu::OneDnnGemmCalls();
      cpu::LinearFp8(x.data(), m, wt8, fast8.data());
      cpu::LinearFp4(x.data(), m, wt4, fast4.data());
      if (std::string(cpu::TargetName()).find("+BF16") == std::string::npos) {
        EXPECT_EQ(cpu::OneDnnGemmCalls(), calls_before) << what;  // sgemm declined
      }
      SetFastPrefill(false);
      cpu::LinearFp8(x.data(), m, wt8, base8.data());
      cpu::LinearFp4(x.data(), m, wt4, base4.data());
      EXPECT_TRUE(std::equal(fast8.begin(), fast8.end(), base8.begin())) << "fp8" << what;
      EXPECT_TRUE(std::equal(fast4.begin(), fast4.end(), base4.begin())) << "fp4" << what;
      UlpStats stats;
      ref::LinearFp8(x.data(), m, wt8, ref_y.data());
      ExpectWithinOneBf16Ulp(fast8, ref_y, &stats, "fp8 vs ref" + what);
      ref::LinearFp4(x.data(), m, wt4, ref_y.data());
      ExpectWithinOneBf16Ulp(fast4, ref_y, &stats, "fp4 vs ref" + what);
    }
  });
  SetFastPrefill(false);
}

// The default mode (kernels.h) keeps the matrix-vector order at prefill sizes too, for sums
// whose rounding depends on the order (x with cancelling halves, weights scaled over 2^±20).
TEST(FastLinear, DefaultModeKeepsTheOrderAtPrefillSizes) {
  SetFastPrefill(false);
  ForEachTarget([] {
    std::mt19937 rng(29);
    std::normal_distribution<float> g(0, 1);
    const int m = cpu::kFastGemmMinRows + 3, n = 150, k = 512;
    std::vector<float> x(static_cast<size_t>(m) * k);
    for (int r = 0; r < m; ++r) {
      for (int i = 0; i < k; ++i) {
        float& v = x[static_cast<size_t>(r) * k + i];
        v = i < k / 2 ? RoundBf16(std::ldexp(g(rng), 20)) : -x[static_cast<size_t>(r) * k + i - k / 2];
        if (i % 7 == 0) v = RoundBf16(std::ldexp(g(rng), -10));
      }
    }
    std::vector<uint8_t> w8(static_cast<size_t>(n) * k), s8(4 * 2, 127);
    for (auto& c : w8) c = static_cast<uint8_t>(rng() % 0x7f) | (rng() & 0x80);
    std::vector<uint8_t> w4(static_cast<size_t>(n) * k / 2), s4(static_cast<size_t>(n) * k / 32);
    for (auto& b : w4) b = static_cast<uint8_t>(rng());
    for (auto& e : s4) e = static_cast<uint8_t>(107 + rng() % 41);
    std::vector<uint16_t> wb(static_cast<size_t>(n) * k);
    for (auto& b : wb) b = FloatToBf16(std::ldexp(g(rng), static_cast<int>(rng() % 41) - 20));
    const Fp8Weight wt8{w8.data(), s8.data(), n, k};
    const Fp4Weight wt4{w4.data(), s4.data(), n, k};
    const Bf16Weight wtb{wb.data(), n, k};
    ExpectEveryFormatBatchInvariant(x, m, k, n, wt8, wt4, wtb);
  });
  EXPECT_FALSE(FastPrefill());
}

// The work split changes nothing: 1 thread and the global pool give identical outputs.
TEST(FastLinear, ThreadCountDoesNotChangeResults) {
  std::mt19937 rng(16);
  const int m = 3, n = 300, k = 512;
  std::vector<uint8_t> w(static_cast<size_t>(n) * k / 2), s(static_cast<size_t>(n) * k / 32);
  for (auto& b : w) b = static_cast<uint8_t>(rng());
  for (auto& e : s) e = static_cast<uint8_t>(118 + rng() % 12);
  const std::vector<float> x = RandomActivations(rng, m, k);
  std::vector<float> y(static_cast<size_t>(m) * n), y1(y.size());
  cpu::LinearFp4(x.data(), m, Fp4Weight{w.data(), s.data(), n, k}, y.data());
  // One output row at a time: a different split of the same rows.
  for (int o = 0; o < n; ++o) {
    std::vector<float> yo(m);
    cpu::LinearFp4(x.data(), m,
                   Fp4Weight{w.data() + static_cast<size_t>(o) * k / 2,
                             s.data() + static_cast<size_t>(o) * k / 32, 1, k},
                   yo.data());
    for (int r = 0; r < m; ++r) y1[static_cast<size_t>(r) * n + o] = yo[r];
  }
  EXPECT_EQ(y, y1);
}

}  // namespace
}  // namespace dsv4
