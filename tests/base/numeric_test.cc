#include "base/numeric.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace dsv4 {
namespace {

TEST(Bf16, RoundTripAndRne) {
  EXPECT_EQ(Bf16ToFloat(FloatToBf16(1.0f)), 1.0f);
  // 1 + 2^-8 is exactly half-way between 1 and 1 + 2^-7: ties go to even (1.0).
  EXPECT_EQ(RoundBf16(1.0f + std::ldexp(1.0f, -8)), 1.0f);
  EXPECT_EQ(RoundBf16(1.0f + 3 * std::ldexp(1.0f, -8)), 1.0f + std::ldexp(1.0f, -6));
  EXPECT_TRUE(std::isnan(RoundBf16(NAN)));
}

// Every e4m3 code decodes to a value that encodes back to the same code (except NaN / -0).
TEST(E4M3, ExhaustiveRoundTrip) {
  std::set<float> values;
  for (int c = 0; c < 256; ++c) {
    const float v = E4M3ToFloat(static_cast<uint8_t>(c));
    if (std::isnan(v)) {
      EXPECT_TRUE((c & 0x7f) == 0x7f) << c;
      continue;
    }
    if (c == 0x80) continue;  // -0
    EXPECT_EQ(FloatToE4M3(v), c) << c;
    EXPECT_EQ(RoundE4M3(v), v);
    values.insert(v);
  }
  EXPECT_EQ(*values.rbegin(), kE4M3Max);
  EXPECT_EQ(E4M3ToFloat(1), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(E4M3ToFloat(0x7e), 448.0f);
  EXPECT_EQ(E4M3ToFloat(0x38), 1.0f);              // exponent 7 = bias
  EXPECT_EQ(E4M3ToFloat(0xb9), -1.125f);
}

// Rounding to e4m3 is round-to-nearest, ties to even, against a brute-force search of the grid.
TEST(E4M3, RoundingMatchesBruteForce) {
  std::vector<float> grid;
  for (int c = 0; c < 0x7f; ++c) grid.push_back(E4M3ToFloat(static_cast<uint8_t>(c)));
  for (int i = 0; i < 200000; ++i) {
    const float x = std::ldexp(static_cast<float>(i) / 200000.0f * 448.0f, 0) * (i % 7 == 0 ? 1e-3f : 1.0f);
    float best = grid[0];
    int best_code = 0;
    for (int c = 0; c < static_cast<int>(grid.size()); ++c) {
      const float d = std::fabs(grid[c] - x), db = std::fabs(best - x);
      if (d < db || (d == db && (c & 1) == 0)) {
        best = grid[c];
        best_code = c;
      }
    }
    ASSERT_EQ(RoundE4M3(x), best) << x << " code " << best_code;
    ASSERT_EQ(RoundE4M3(-x), -best) << x;
  }
}

TEST(E2M1, GridAndTies) {
  const float grid[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  for (int n = 0; n < 16; ++n) {
    const float v = E2M1ToFloat(static_cast<uint8_t>(n));
    EXPECT_EQ(std::fabs(v), grid[n & 7]);
    if (n != 8) {
      EXPECT_EQ(FloatToE2M1(v), n);
    }
  }
  // Ties to even mantissa.
  EXPECT_EQ(RoundE2M1(0.25f), 0.0f);
  EXPECT_EQ(RoundE2M1(0.75f), 1.0f);
  EXPECT_EQ(RoundE2M1(1.25f), 1.0f);
  EXPECT_EQ(RoundE2M1(1.75f), 2.0f);
  EXPECT_EQ(RoundE2M1(2.5f), 2.0f);
  EXPECT_EQ(RoundE2M1(3.5f), 4.0f);
  EXPECT_EQ(RoundE2M1(5.0f), 4.0f);
  EXPECT_EQ(RoundE2M1(5.01f), 6.0f);
  EXPECT_EQ(RoundE2M1(100.0f), 6.0f);
  EXPECT_EQ(RoundE2M1(-2.6f), -3.0f);
}

TEST(Ue8m0, MatchesCeilLog2) {
  for (float amax : {1e-4f, 0.3f, 1.0f, 447.0f, 448.0f, 449.0f, 896.0f, 3.14159f, 1e6f}) {
    const double exact = std::ldexp(1.0, static_cast<int>(std::ceil(std::log2(amax / 448.0))));
    EXPECT_EQ(Ue8m0Scale(amax, 1.0f / 448.0f), static_cast<float>(exact)) << amax;
  }
  for (int e = 0; e < 255; ++e) {
    EXPECT_EQ(E8M0ToFloat(static_cast<uint8_t>(e)), std::ldexp(1.0f, e - 127)) << e;
  }
  EXPECT_EQ(E8M0ToFloat(127), 1.0f);
  EXPECT_EQ(E8M0ToFloat(130), 8.0f);
  EXPECT_TRUE(std::isnan(E8M0ToFloat(255)));
}

}  // namespace
}  // namespace dsv4
