// The dot-product peak probe `dsv4 bench` reports prefill against (cpu/peak.cc): on every compiled
// target it runs and names the instruction the linear kernels multiply with there. Its speed is
// never asserted (the machine is shared); only that it measured something.
#include <gtest/gtest.h>

#include <string>

#include "kernels/cpu/cpu.h"
#include "for_each_target.h"

namespace dsv4 {
namespace {

TEST(DotPeak, EveryTargetMeasuresTheLinearKernelsInstruction) {
  ForEachTarget([] {
    const cpu::DotPeak peak = cpu::MeasureDotPeak(/*threads=*/2, /*passes=*/1);
    EXPECT_GT(peak.gflops, 0.0);
    const std::string op = peak.op;
    // The AVX-512 BF16 linear kernels run exactly where the target name says so.
    const bool bf16 = std::string(cpu::TargetName()).find("+BF16") != std::string::npos;
    EXPECT_EQ(op.find("vdpbf16ps") != std::string::npos, bf16) << op;
    if (!bf16) {
      EXPECT_NE(op.find("fp32 FMA"), std::string::npos) << op;
    }
  });
}

}  // namespace
}  // namespace dsv4
