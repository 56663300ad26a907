// cpu:: hyper-connection kernels against ref:: on every compiled target. HcMixes: double sums in
// another order, so the fp32 results are equal except at an fp32 rounding boundary (then one ulp
// apart). HcCollapse and HcPostMix: the same fp32 operations per element, so equal bit for bit.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "for_each_target.h"
#include "base/numeric.h"
#include "kernels/hc.h"

namespace dsv4 {
namespace {

TEST(FastHcMixes, MatchesRefToTheUlp) {
  ForEachTarget([] {
    std::mt19937 rng(41);
    std::normal_distribution<float> g(0, 1);
    int equal = 0, total = 0;
    for (const int width : {1, 7, 64, 1000, 4 * 4096}) {
      for (const int outputs : {1, 4, 24}) {
        std::vector<float> x(width), fn(static_cast<size_t>(outputs) * width), m(outputs),
            m_ref(outputs);
        for (float& v : x) v = g(rng) * 3.0f;
        for (float& v : fn) v = g(rng) * 0.02f;
        cpu::HcMixes(x.data(), width, fn.data(), outputs, 1e-6f, m.data());
        ref::HcMixes(x.data(), width, fn.data(), outputs, 1e-6f, m_ref.data());
        for (int j = 0; j < outputs; ++j) {
          const float ulp = std::nextafter(std::fabs(m_ref[j]), INFINITY) - std::fabs(m_ref[j]);
          ASSERT_LE(std::fabs(m[j] - m_ref[j]), ulp) << "width " << width << " row " << j;
          equal += m[j] == m_ref[j];
          ++total;
        }
      }
    }
    EXPECT_GT(equal, total * 9 / 10) << equal << " of " << total;
  });
}

// Bit patterns equal (NaN payloads included).
void ExpectSameBits(const std::vector<float>& a, const std::vector<float>& b, const char* what,
                    int D) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(0, std::memcmp(&a[i], &b[i], sizeof(float)))
        << what << " D " << D << " [" << i << "]: " << a[i] << " vs " << b[i];
  }
}

TEST(FastHcCollapseAndPostMix, EqualRefBitForBit) {
  ForEachTarget([] {
    std::mt19937 rng(42);
    std::normal_distribution<float> g(0, 1);
    for (const int D : {1, 7, 16, 100, 4096}) {
      const int hc = 4;
      std::vector<float> X(static_cast<size_t>(hc) * D), x(D), pre(hc), post(hc), comb(hc * hc);
      for (float& v : X) v = RoundBf16(g(rng) * 4.0f);
      for (float& v : x) v = RoundBf16(g(rng));
      for (float& v : pre) v = 1.0f / (1.0f + std::exp(-g(rng)));  // sigmoid-like weights
      for (float& v : post) v = 2.0f / (1.0f + std::exp(-g(rng)));
      for (float& v : comb) v = std::fabs(g(rng)) / 4.0f;
      if (D >= 7) {  // non-finite streams pass through like ref
        X[3] = INFINITY;
        X[static_cast<size_t>(D) + 5] = NAN;
      }
      std::vector<float> y(D), y_ref(D);
      cpu::HcCollapse(X.data(), hc, D, pre.data(), y.data());
      ref::HcCollapse(X.data(), hc, D, pre.data(), y_ref.data());
      ExpectSameBits(y, y_ref, "collapse", D);
      std::vector<float> out(static_cast<size_t>(hc) * D), out_ref(out.size());
      cpu::HcPostMix(x.data(), X.data(), post.data(), comb.data(), hc, D, out.data());
      ref::HcPostMix(x.data(), X.data(), post.data(), comb.data(), hc, D, out_ref.data());
      ExpectSameBits(out, out_ref, "post mix", D);
    }
  });
}

}  // namespace
}  // namespace dsv4
