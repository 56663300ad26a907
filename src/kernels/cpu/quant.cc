// SIMD e4m3 activation quantization (Highway), bit-identical to ref::QuantizeE4M3: the same
// amax (NaN ignored, as std::max does), the same scalar UE8M0 scale per block, the same IEEE
// division x / s, and round-to-nearest-even to the e4m3 grid done on the fp32 bits.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/quant.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep (must precede highway.h)
#include <hwy/highway.h>

#include <algorithm>

#include "base/numeric.h"
#include "kernels/cpu/cpu.h"
#include "kernels/ref/ref.h"

HWY_BEFORE_NAMESPACE();
namespace dsv4::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr float kActAmaxFloor = 1e-4f;  // act_quant amax floor, as ref

// |v| <= 448 rounded to the e4m3 grid (RNE): 3 mantissa bits for normals (>= 2^-6), a fixed
// quantum of 2^-9 below; sign and NaN kept.
template <class D, class V>
HWY_INLINE V RoundE4M3Vec(D d, V v) {
  const hn::RebindToUnsigned<D> du;
  const auto a = hn::Abs(v);
  const auto u = hn::BitCast(du, a);
  const auto rne =
      hn::Add(u, hn::Add(hn::Set(du, 0x7ffff), hn::And(hn::ShiftRight<20>(u), hn::Set(du, 1))));
  const auto normal = hn::BitCast(d, hn::And(rne, hn::Set(du, 0xfff00000u)));
  const auto sub = hn::Mul(hn::Round(hn::Mul(a, hn::Set(d, 512.0f))), hn::Set(d, 1.0f / 512.0f));
  auto r = hn::IfThenElse(hn::Lt(a, hn::Set(d, 1.0f / 64.0f)), sub, normal);
  r = hn::Min(r, hn::Set(d, kE4M3Max));
  r = hn::CopySignToAbs(r, v);
  return hn::IfThenElse(hn::IsNaN(v), v, r);
}

void QuantizeE4M3Impl(const float* HWY_RESTRICT x, int k, int block, float* HWY_RESTRICT q,
                      float* HWY_RESTRICT s) {
  const hn::ScalableTag<float> d;
  const int lanes = static_cast<int>(hn::Lanes(d));
  const auto max_code = hn::Set(d, kE4M3Max), min_code = hn::Set(d, -kE4M3Max);
  for (int b0 = 0, bi = 0; b0 < k; b0 += block, ++bi) {
    const int b1 = std::min(k, b0 + block);
    auto vmax = hn::Set(d, kActAmaxFloor);
    int i = b0;
    for (; i + lanes <= b1; i += lanes) {
      const auto v = hn::LoadU(d, x + i);
      vmax = hn::Max(vmax, hn::IfThenZeroElse(hn::IsNaN(v), hn::Abs(v)));  // std::max skips NaN
    }
    float amax = hn::GetLane(hn::MaxOfLanes(d, vmax));
    for (; i < b1; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float scale = Ue8m0Scale(amax, 1.0f / kE4M3Max);
    s[bi] = scale;
    const auto vs = hn::Set(d, scale);
    i = b0;
    for (; i + lanes <= b1; i += lanes) {
      const auto v = hn::Div(hn::LoadU(d, x + i), vs);
      // clamp as std::clamp: NaN passes through.
      const auto c = hn::IfThenElse(hn::IsNaN(v), v, hn::Min(hn::Max(v, min_code), max_code));
      hn::StoreU(RoundE4M3Vec(d, c), d, q + i);
    }
    for (; i < b1; ++i) q[i] = RoundE4M3(std::clamp(x[i] / scale, -kE4M3Max, kE4M3Max));
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace dsv4::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace dsv4::cpu {

HWY_EXPORT(QuantizeE4M3Impl);

void QuantizeE4M3(const float* x, int k, int block, float* q, float* s) {
  HWY_DYNAMIC_DISPATCH(QuantizeE4M3Impl)(x, k, block, q, s);
}

}  // namespace dsv4::cpu
#endif  // HWY_ONCE
