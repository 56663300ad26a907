// cpu::HcMixes against ref::HcMixes on every compiled target: double sums in another order, so
// the fp32 results are equal except at an fp32 rounding boundary (then one ulp apart).
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <random>
#include <vector>

#include "for_each_target.h"
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

}  // namespace
}  // namespace dsv4
