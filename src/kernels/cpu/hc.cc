// SIMD hyper-connection kernels (spec §2-3). The mixes: the weightless RMSNorm of the 4 streams
// folded into the 24-row mixing GEMM, in double precision like ref::HcMixes. Products of two
// floats are exact in double, so only the double summation order differs from ref (~1e-16
// relative): the fp32 results are equal except when the double sum lies within that distance of
// an fp32 rounding boundary. The collapse and the post mix: ref's fp32 operations lane by lane
// (separate multiply and add, as ref compiles without FMA), so equal bit for bit. At decode they
// were ~1.3 ms of an 80 ms flash-slice token as scalar loops.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/hc.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep (must precede highway.h)
#include <hwy/highway.h>

#include <cmath>

#include "base/numeric.h"
#include "kernels/cpu/round_bf16-inl.h"
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

// The lanes' loop over d; a tail of fewer than a vector runs the scalar twin on its elements.
void HcCollapseImpl(const float* X, int hc, int D, const float* pre, float* x) {
  const hn::ScalableTag<float> df;
  const int lanes = static_cast<int>(hn::Lanes(df)), whole = D / lanes * lanes;
  for (int d = 0; d < whole; d += lanes) {
    auto acc = hn::Zero(df);
    for (int j = 0; j < hc; ++j) {
      const auto v = hn::LoadU(df, X + static_cast<size_t>(j) * D + d);
      acc = hn::Add(acc, hn::Mul(hn::Set(df, pre[j]), v));
    }
    hn::StoreU(RoundBf16Lanes(df, acc), df, x + d);
  }
  for (int d = whole; d < D; ++d) {
    float acc = 0.0f;
    for (int j = 0; j < hc; ++j) acc += pre[j] * X[static_cast<size_t>(j) * D + d];
    x[d] = RoundBf16(acc);
  }
}

void HcPostMixImpl(const float* x, const float* R, const float* post, const float* comb, int hc,
                   int D, float* out) {
  const hn::ScalableTag<float> df;
  const int lanes = static_cast<int>(hn::Lanes(df)), whole = D / lanes * lanes;
  for (int k = 0; k < hc; ++k) {
    float* o = out + static_cast<size_t>(k) * D;
    for (int d = 0; d < whole; d += lanes) {
      auto mixed = hn::Zero(df);
      for (int j = 0; j < hc; ++j) {
        const auto r = hn::LoadU(df, R + static_cast<size_t>(j) * D + d);
        mixed = hn::Add(mixed, hn::Mul(hn::Set(df, comb[j * hc + k]), r));
      }
      const auto px = hn::Mul(hn::Set(df, post[k]), hn::LoadU(df, x + d));
      hn::StoreU(RoundBf16Lanes(df, hn::Add(px, mixed)), df, o + d);
    }
    for (int d = whole; d < D; ++d) {
      float mixed = 0.0f;
      for (int j = 0; j < hc; ++j) mixed += comb[j * hc + k] * R[static_cast<size_t>(j) * D + d];
      o[d] = RoundBf16(post[k] * x[d] + mixed);
    }
  }
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
HWY_EXPORT(HcCollapseImpl);
HWY_EXPORT(HcPostMixImpl);

void HcMixes(const float* x, int width, const float* fn, int outputs, float eps, float* m) {
  HWY_DYNAMIC_DISPATCH(HcMixesImpl)(x, width, fn, outputs, eps, m);
}

void HcCollapse(const float* X, int hc, int D, const float* pre, float* x) {
  HWY_DYNAMIC_DISPATCH(HcCollapseImpl)(X, hc, D, pre, x);
}

void HcPostMix(const float* x, const float* R, const float* post, const float* comb, int hc, int D,
               float* out) {
  HWY_DYNAMIC_DISPATCH(HcPostMixImpl)(x, R, post, comb, hc, D, out);
}
}  // namespace dsv4::cpu
#endif  // HWY_ONCE
