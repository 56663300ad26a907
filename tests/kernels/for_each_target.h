// Runs a test body once per Highway target that is both compiled and supported on this machine, so
// every SIMD kernel is checked against its scalar twin on each target, not only the best one.
#pragma once

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cstdint>

#include "kernels/cpu/cpu.h"

namespace dsv4 {

template <class Body>
void ForEachTarget(const Body& body) {
  for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(cpu::TargetName());
    body();
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace dsv4
