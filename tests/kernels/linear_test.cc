// Reference (scalar) linear kernels against float64 math on odd shapes, and the thread pool's
// ranges.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <vector>

#include "base/numeric.h"
#include "kernels/kernels.h"
#include "kernels/ref/ref.h"
#include "kernels/thread_pool.h"

namespace dsv4 {
namespace {

// |a - b| within one bf16 ulp of b (the kernels round once; float64 vs fp32 sums may straddle).
void ExpectBf16Close(float a, double b, const char* what) {
  const double ulp = std::ldexp(1.0, std::ilogb(std::max(std::fabs(b), 1e-30)) - 7);
  EXPECT_LE(std::fabs(a - b), ulp * 1.01 + 1e-30) << what << ": " << a << " vs " << b;
}

TEST(LinearFp8, MatchesFloat64OnOddShapes) {
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0, 1);
  for (int m : {1, 3, 7}) {
    for (int n : {1, 5, 130}) {
      for (int k : {128, 384}) {
        std::vector<uint8_t> w(static_cast<size_t>(n) * k), s(((n + 127) / 128) * (k / 128));
        for (auto& c : w) c = FloatToE4M3(std::clamp(64.0f * g(rng), -448.0f, 448.0f));
        for (auto& e : s) e = static_cast<uint8_t>(120 + rng() % 6);
        std::vector<float> x(static_cast<size_t>(m) * k), y(static_cast<size_t>(m) * n);
        for (auto& v : x) v = RoundBf16(g(rng));
        ref::LinearFp8(x.data(), m, Fp8Weight{w.data(), s.data(), n, k}, y.data());
        std::vector<float> q(k), qs(k / 128);
        for (int r = 0; r < m; ++r) {
          QuantizeE4M3(&x[static_cast<size_t>(r) * k], k, 128, q.data(), qs.data());
          for (int o = 0; o < n; ++o) {
            double acc = 0;
            for (int i = 0; i < k; ++i) {
              acc += double(q[i]) * qs[i / 128] * E4M3ToFloat(w[static_cast<size_t>(o) * k + i]) *
                     E8M0ToFloat(s[(o / 128) * (k / 128) + i / 128]);
            }
            ExpectBf16Close(y[static_cast<size_t>(r) * n + o], acc, "fp8");
          }
        }
      }
    }
  }
}

TEST(LinearFp4, MatchesFloat64OnOddShapes) {
  std::mt19937 rng(4);
  std::normal_distribution<float> g(0, 1);
  for (int m : {1, 2, 17}) {
    for (int n : {1, 7, 129}) {
      const int k = 256;
      std::vector<uint8_t> w(static_cast<size_t>(n) * k / 2), s(static_cast<size_t>(n) * k / 32);
      for (auto& b : w)
        b = static_cast<uint8_t>(FloatToE2M1(2 * g(rng)) | (FloatToE2M1(2 * g(rng)) << 4));
      for (auto& e : s) e = static_cast<uint8_t>(122 + rng() % 5);
      std::vector<float> x(static_cast<size_t>(m) * k), y(static_cast<size_t>(m) * n);
      for (auto& v : x) v = RoundBf16(g(rng));
      ref::LinearFp4(x.data(), m, Fp4Weight{w.data(), s.data(), n, k}, y.data());
      std::vector<float> q(k), qs(k / 128);
      for (int r = 0; r < m; ++r) {
        QuantizeE4M3(&x[static_cast<size_t>(r) * k], k, 128, q.data(), qs.data());
        for (int o = 0; o < n; ++o) {
          double acc = 0;
          for (int i = 0; i < k; ++i) {
            const uint8_t byte = w[(static_cast<size_t>(o) * k + i) / 2];
            const float v = E2M1ToFloat(i % 2 ? byte >> 4 : byte & 0xf);  // element 2j low nibble
            acc += double(q[i]) * qs[i / 128] * v *
                   E8M0ToFloat(s[static_cast<size_t>(o) * (k / 32) + i / 32]);
          }
          ExpectBf16Close(y[static_cast<size_t>(r) * n + o], acc, "fp4");
        }
      }
    }
  }
}

TEST(ThreadPool, RangesCoverEverythingOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    // From 16 · threads up the ranges halve level by level (guided, small n leaving some levels
    // empty, which must not be called); below they are equal.
    for (int n : {0, 1, 2, 7, 31, 32, 33, 47, 48, 100, 129, 300, 1000, 2047, 2048, 2049, 100003}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<int> calls{0};
      pool.ParallelFor(n, [&](int b, int e) {
        ++calls;
        EXPECT_LT(b, e);
        for (int i = b; i < e; ++i) ++hits[i];
      });
      for (int i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << threads << " " << n;
      EXPECT_LE(calls.load(), std::max(1, std::min(n, 8 * threads)));
    }
    // Nested use runs serially instead of deadlocking.
    std::atomic<int> inner{0}, outer_calls{0};
    pool.ParallelFor(4, [&](int, int) {
      ++outer_calls;
      pool.ParallelFor(3, [&](int b, int e) { inner += e - b; });
    });
    EXPECT_EQ(inner.load(), 3 * outer_calls.load());
    // Back-to-back calls of different sizes (workers still leaving the previous call while the
    // next one is published) never mix: every index of every call runs exactly once. A stale task
    // count once let a worker claim past the end of a call, and the caller then waited forever.
    const int reps = threads <= 3 ? 100000 : 2000;  // oversubscribed pools are slow, not racier
    for (int rep = 0; rep < reps; ++rep) {
      const int n = rep % 5 == 0 ? 500 + (rep * 7919) % 3000 : 2 + (rep * 7919) % 61;
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.ParallelFor(n, [&](int b, int e) {
        for (int i = b; i < e; ++i) hits[i] += 1;
      });
      for (int i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << threads << " " << rep;
    }
  }
}

}  // namespace
}  // namespace dsv4
