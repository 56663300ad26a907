// SIMD hyper-connection mixes: the weightless RMSNorm of the 4 streams folded into the 24-row
// mixing GEMM (spec §2), in double precision like ref::HcMixes. Products of two floats are exact
// in double, so only the double summation order differs from ref (~1e-16 relative): the fp32
// results are equal except when the double sum lies within that distance of an fp32 rounding
// boundary.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/hc.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep (must precede highway.h)
#include <hwy/highway.h>

#include <cmath>

#include "kernels/hc.h"
#include "kernels/thread_pool.h"

HWY_BEFORE_NAMESPACE();
namespace dsv4::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Σ double(a[i])·double(b[i]) over n values.
HWY_INLINE double DotF64(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, int n) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;  // half a vector of floats per vector of doubles
  const int lanes = static_cast<int>(hn::Lanes(dd));
  auto acc0 = hn::Zero(dd), acc1 = hn::Zero(dd), acc2 = hn::Zero(dd), acc3 = hn::Zero(dd);
  auto load = [&](const float* p) { return hn::PromoteTo(dd, hn::LoadU(df, p)); };
  int i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    acc0 = hn::MulAdd(load(a + i), load(b + i), acc0);
    acc1 = hn::MulAdd(load(a + i + lanes), load(b + i + lanes), acc1);
    acc2 = hn::MulAdd(load(a + i + 2 * lanes), load(b + i + 2 * lanes), acc2);
    acc3 = hn::MulAdd(load(a + i + 3 * lanes), load(b + i + 3 * lanes), acc3);
  }
  for (; i + lanes <= n; i += lanes) acc0 = hn::MulAdd(load(a + i), load(b + i), acc0);
  double sum = hn::GetLane(hn::SumOfLanes(dd, hn::Add(hn::Add(acc0, acc1), hn::Add(acc2, acc3))));
  for (; i < n; ++i) sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

void HcMixesImpl(const float* x, int width, const float* fn, int outputs, float eps, float* m) {
  const float r = 1.0f / std::sqrt(static_cast<float>(DotF64(x, x, width) / width) + eps);
  // A single token's 24 rows are split over the threads (serial inside a per-token ParallelFor).
  ThreadPool::Global().ParallelFor(outputs, [&](int j0, int j1) {
    for (int j = j0; j < j1; ++j) {
      m[j] = static_cast<float>(DotF64(x, fn + static_cast<size_t>(j) * width, width)) * r;
    }
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace dsv4::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace dsv4::cpu {
HWY_EXPORT(HcMixesImpl);

void HcMixes(const float* x, int width, const float* fn, int outputs, float eps, float* m) {
  HWY_DYNAMIC_DISPATCH(HcMixesImpl)(x, width, fn, outputs, eps, m);
}
}  // namespace dsv4::cpu
#endif  // HWY_ONCE
