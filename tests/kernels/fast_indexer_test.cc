// The SIMD lightning-indexer scores (kernels/cpu/indexer.cc) against the scalar twin
// (kernels/ref/indexer.cc), for every Highway target compiled in and supported by this CPU.
// Contract (kernels.h): on FP4-simulated inputs, bit-identical to ref for any n and thread count.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "base/numeric.h"
#include "kernels/cpu/cpu.h"
#include "kernels/kernels.h"
#include "kernels/ref/ref.h"
#include "kernels/thread_pool.h"
#include "for_each_target.h"

namespace dsv4 {
namespace {

constexpr int kFp4Sim = 32;  // FP4_sim block of indexer queries and keys

// `rows` vectors of `dim` FP4-simulated values, as the model makes them: roughly Gaussian (after
// the Hadamard transform), a magnitude per row spread over 2^±8, and optionally per 32-block
// magnitudes spread over 2^[0, block_spread) (wide spreads make the bf16 path fall back).
std::vector<float> RandomFp4Sim(std::mt19937& rng, int64_t rows, int dim, int block_spread = 1) {
  std::normal_distribution<float> g(0, 1);
  std::vector<float> x(static_cast<size_t>(rows) * dim);
  for (int64_t r = 0; r < rows; ++r) {
    const float row_scale = std::ldexp(1.0f, static_cast<int>(rng() % 17) - 8);
    float* v = x.data() + r * dim;
    for (int d = 0; d < dim; ++d) {
      const int block_exp = static_cast<int>((r * 7 + d / kFp4Sim) % block_spread);
      v[d] = RoundBf16(g(rng) * row_scale * std::ldexp(1.0f, block_exp));
      if (rng() % 50 == 0) v[d] = 0.0f;
    }
    ref::Fp4Sim(v, dim, kFp4Sim);
  }
  return x;
}

// Head weights as IndexerHeadWeights makes them: bf16, either sign.
std::vector<float> RandomHeadWeights(std::mt19937& rng, int heads) {
  std::normal_distribution<float> g(0, 0.01f);
  std::vector<float> w(heads);
  for (float& v : w) v = RoundBf16(g(rng));
  return w;
}

// Bit-identical (NaN where ref is NaN).
void ExpectIdentical(const std::vector<float>& fast, const std::vector<float>& ref,
                     const std::string& what) {
  ASSERT_EQ(fast.size(), ref.size());
  int reported = 0;
  for (size_t i = 0; i < fast.size(); ++i) {
    const bool same =
        std::isnan(ref[i]) ? std::isnan(fast[i]) : FloatBits(fast[i]) == FloatBits(ref[i]);
    if (!same && reported++ < 5) {
      ADD_FAILURE() << what << " [" << i << "]: fast " << fast[i] << " vs ref " << ref[i];
    }
  }
}

void ExpectFastEqualsRef(const std::vector<float>& q, const std::vector<float>& w,
                         const std::vector<float>& keys, int64_t n, int heads, int dim,
                         const std::string& what) {
  const IndexerHeads query{.q = q.data(), .weights = w.data(), .heads = heads, .dim = dim};
  std::vector<float> fast(n + 1, 7.0f), ref(n + 1, 7.0f);  // one guard slot past the end
  cpu::IndexerScore(query, keys.data(), n, fast.data());
  ref::IndexerScore(query, keys.data(), n, ref.data());
  EXPECT_EQ(fast[n], 7.0f) << what << ": wrote past n";
  ExpectIdentical(fast, ref, what);
}

// The claim the kernels rest on: FP4-simulated values (e2m1 × 2^e) are exact in bf16, and the
// product of two is exact in fp32 (at most 2 + 2 significant bits), over the whole exponent range
// where the product is a normal fp32 number.
TEST(Fp4SimProducts, ExactInBf16AndFp32) {
  for (int a = 0; a < 16; ++a) {
    for (int b = 0; b < 16; ++b) {
      for (int ea = -120; ea <= 120; ea += 7) {
        for (int eb = -4; eb <= 4; ++eb) {
          const float x = std::ldexp(E2M1ToFloat(static_cast<uint8_t>(a)), ea);
          const float y = std::ldexp(E2M1ToFloat(static_cast<uint8_t>(b)), eb);
          ASSERT_EQ(RoundBf16(x), x);
          ASSERT_EQ(static_cast<double>(x * y), static_cast<double>(x) * y) << x << " " << y;
        }
      }
    }
  }
}

TEST(FastIndexerScore, MatchesRefOnModelShape) {
  ForEachTarget([] {
    std::mt19937 rng(41);
    const int heads = 64, dim = 128;
    const std::vector<float> q = RandomFp4Sim(rng, heads, dim);
    const std::vector<float> w = RandomHeadWeights(rng, heads);
    for (int64_t n : {0, 1, 2, 15, 16, 17, 33, 255, 1000, 4099}) {
      const std::vector<float> keys = RandomFp4Sim(rng, std::max<int64_t>(n, 1), dim);
      ExpectFastEqualsRef(q, w, keys, n, heads, dim, "n=" + std::to_string(n));
    }
  });
}

TEST(FastIndexerScore, MatchesRefOnOddShapes) {
  ForEachTarget([] {
    std::mt19937 rng(42);
    for (int heads : {1, 3, 16, 17, 33}) {
      for (int dim : {32, 64, 96, 20, 7}) {  // 20 and 7: not whole 32-value tiles
        const int64_t n = 1 + rng() % 70;
        const std::vector<float> q = RandomFp4Sim(rng, heads, dim);
        const std::vector<float> w = RandomHeadWeights(rng, heads);
        const std::vector<float> keys = RandomFp4Sim(rng, n, dim);
        ExpectFastEqualsRef(
            q, w, keys, n, heads, dim,
            "H=" + std::to_string(heads) + " d=" + std::to_string(dim) + " n=" + std::to_string(n));
      }
    }
  });
}

// Inputs outside the bf16 path's exactness guard still match ref: per-block scale spreads too wide
// for any-order exact sums, bf16 values with 8 significant bits (products still exact in fp32),
// subnormal FP4 values, zero keys and heads, Inf and NaN.
TEST(FastIndexerScore, MatchesRefWhereTheBf16PathFallsBack) {
  ForEachTarget([] {
    std::mt19937 rng(43);
    const int heads = 64, dim = 128;
    const int64_t n = 100;
    const std::vector<float> w = RandomHeadWeights(rng, heads);
    {
      const std::vector<float> q = RandomFp4Sim(rng, heads, dim, /*block_spread=*/12);
      const std::vector<float> keys = RandomFp4Sim(rng, n, dim, /*block_spread=*/12);
      ExpectFastEqualsRef(q, w, keys, n, heads, dim, "wide block spread");
    }
    {
      std::normal_distribution<float> g(0, 1);
      std::vector<float> q(heads * dim), keys(n * dim);
      for (float& v : q) v = RoundBf16(g(rng));
      for (float& v : keys) v = RoundBf16(g(rng));
      ExpectFastEqualsRef(q, w, keys, n, heads, dim, "bf16 inputs");
    }
    {
      std::vector<float> q = RandomFp4Sim(rng, heads, dim);
      std::vector<float> keys = RandomFp4Sim(rng, n, dim);
      for (int d = 0; d < dim; ++d) {
        q[5 * dim + d] = 0.0f;                                        // a zero head
        keys[3 * dim + d] = 0.0f;                                     // a zero key
        keys[40 * dim + d] = std::ldexp(d % 2 ? 1.5f : -1.0f, -127);  // subnormal FP4 values
      }
      keys[70 * dim + 9] = std::numeric_limits<float>::infinity();
      keys[90 * dim + 100] = std::numeric_limits<float>::quiet_NaN();
      ExpectFastEqualsRef(q, w, keys, n, heads, dim, "special values");
    }
  });
}

// The keys are split over the pool in blocks: a call run serially (nested inside a pool task)
// gives the same bits as one spread over every thread.
TEST(FastIndexerScore, SameBitsForAnyThreadCount) {
  std::mt19937 rng(44);
  const int heads = 64, dim = 128;
  const int64_t n = 3001;
  const std::vector<float> q = RandomFp4Sim(rng, heads, dim);
  const std::vector<float> w = RandomHeadWeights(rng, heads);
  const std::vector<float> keys = RandomFp4Sim(rng, n, dim);
  const IndexerHeads query{.q = q.data(), .weights = w.data(), .heads = heads, .dim = dim};
  std::vector<float> parallel(n), serial(n);
  IndexerScore(query, keys.data(), n, parallel.data());
  ThreadPool::Global().ParallelFor(2, [&](int b, int e) {
    for (int t = b; t < e; ++t) {
      if (t == 0) IndexerScore(query, keys.data(), n, serial.data());
    }
  });
  ExpectIdentical(serial, parallel, "serial vs parallel");
}

}  // namespace
}  // namespace dsv4
