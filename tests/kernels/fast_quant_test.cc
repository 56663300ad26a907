// SIMD e4m3 activation quantization against ref, bit for bit, for every compiled Highway target:
// random blocks of many magnitudes, values on rounding ties, subnormal codes, saturation, zeros,
// NaN and infinities, and lengths that are not multiples of the block or the vector width.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "base/numeric.h"
#include "for_each_target.h"
#include "kernels/cpu/cpu.h"
#include "kernels/ref/ref.h"

namespace dsv4 {
namespace {

bool SameBits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

std::vector<float> QuantInputs(std::mt19937& rng, int k) {
  std::normal_distribution<float> g(0, 1);
  std::vector<float> x(k);
  for (int i = 0; i < k; ++i) {
    const int kind = static_cast<int>(rng() % 16);
    float v = g(rng) * std::ldexp(1.0f, static_cast<int>(rng() % 40) - 20);
    if (kind == 0) v = 0.0f;
    if (kind == 1) v = -0.0f;
    if (kind == 2) v = E4M3ToFloat(static_cast<uint8_t>(rng() % 0x7f)) * 1.0625f;  // near ties
    if (kind == 3) v = std::ldexp(static_cast<float>(rng() % 16) + 0.5f, -9);      // subnormal ties
    x[i] = v;
  }
  return x;
}

TEST(FastQuantizeE4M3, BitIdenticalToRef) {
  ForEachTarget([] {
    std::mt19937 rng(21);
    for (int k : {1, 7, 128, 130, 257, 1000, 4096}) {
      for (int block : {32, 64, 128}) {
        for (int rep = 0; rep < 4; ++rep) {
          std::vector<float> x = QuantInputs(rng, k);
          if (rep == 1) x[rng() % k] = std::numeric_limits<float>::quiet_NaN();
          if (rep == 2) x[rng() % k] = -std::numeric_limits<float>::infinity();
          if (rep == 3) {
            for (auto& v : x) v *= 1e-36f;  // below the amax floor: tiny scales
          }
          const int nb = (k + block - 1) / block;
          std::vector<float> q(k), s(nb), q_ref(k), s_ref(nb);
          cpu::QuantizeE4M3(x.data(), k, block, q.data(), s.data());
          ref::QuantizeE4M3(x.data(), k, block, q_ref.data(), s_ref.data());
          for (int b = 0; b < nb; ++b)
            EXPECT_TRUE(SameBits(s[b], s_ref[b])) << "k=" << k << " block " << b;
          int bad = 0;
          for (int i = 0; i < k; ++i) {
            if (!SameBits(q[i], q_ref[i]) && bad++ < 5) {
              ADD_FAILURE() << "k=" << k << " block=" << block << " x[" << i << "]=" << x[i] << ": "
                            << q[i] << " vs ref " << q_ref[i];
            }
          }
        }
      }
    }
  });
}

}  // namespace
}  // namespace dsv4
