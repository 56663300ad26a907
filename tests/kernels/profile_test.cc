// kernel_profile: off by default, counts calls and the exact weight bytes of each linear kernel.
#include "kernels/profile.h"

#include <gtest/gtest.h>

#include <vector>

#include "kernels/kernels.h"

namespace dsv4 {
namespace {

TEST(KernelProfile, CountsCallsAndWeightBytesOnlyWhenEnabled) {
  const int n = 256, k = 384;  // 2 x 3 scale blocks
  std::vector<uint8_t> w(static_cast<size_t>(n) * k, 0x38), s(2 * 3, 127);  // e4m3 1.0, scale 1
  std::vector<uint16_t> wb(static_cast<size_t>(n) * k, 0x3f80);            // bf16 1.0
  std::vector<float> x(k, 0.5f), y(n);
  kernel_profile::Reset();
  LinearFp8(x.data(), 1, Fp8Weight{w.data(), s.data(), n, k}, y.data());
  EXPECT_TRUE(kernel_profile::Snapshot().empty()) << "profiling must be off by default";

  kernel_profile::Enable(true);
  LinearFp8(x.data(), 1, Fp8Weight{w.data(), s.data(), n, k}, y.data());
  LinearFp8(x.data(), 1, Fp8Weight{w.data(), s.data(), n, k}, y.data());
  LinearBf16(x.data(), 1, Bf16Weight{wb.data(), n, k}, y.data(), false);
  kernel_profile::Enable(false);
  LinearBf16(x.data(), 1, Bf16Weight{wb.data(), n, k}, y.data(), false);  // not counted

  const std::vector<KernelProfileRow> rows = kernel_profile::Snapshot();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].name, "LinearFp8");
  EXPECT_EQ(rows[0].calls, 2);
  EXPECT_DOUBLE_EQ(rows[0].bytes, 2.0 * (n * k + 6));  // codes + e8m0 scales, twice
  EXPECT_GT(rows[0].seconds, 0.0);
  EXPECT_EQ(rows[1].name, "LinearBf16");
  EXPECT_EQ(rows[1].calls, 1);
  EXPECT_DOUBLE_EQ(rows[1].bytes, 2.0 * n * k);
  EXPECT_FLOAT_EQ(y[0], 0.5f * k);  // the kernels still computed: 384 x 0.5 x 1.0
  kernel_profile::Reset();
  EXPECT_TRUE(kernel_profile::Snapshot().empty());
}

}  // namespace
}  // namespace dsv4
