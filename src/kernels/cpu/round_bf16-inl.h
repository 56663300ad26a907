// RoundBf16 on every lane of a Highway vector (kernels/cpu, per target): fp32 in, the nearest bf16
// value out (still fp32), round-to-nearest-even on the bits, NaN quieted and truncated — the same
// bits as RoundBf16 (base/numeric.h). Include after hwy/highway.h in a foreach_target file.
#if defined(DSV4_KERNELS_CPU_ROUND_BF16_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef DSV4_KERNELS_CPU_ROUND_BF16_INL_H_
#undef DSV4_KERNELS_CPU_ROUND_BF16_INL_H_
#else
#define DSV4_KERNELS_CPU_ROUND_BF16_INL_H_
#endif

#include <hwy/highway.h>

HWY_BEFORE_NAMESPACE();
namespace dsv4::cpu {
namespace HWY_NAMESPACE {

template <class D, class V>
HWY_INLINE V RoundBf16Lanes(D d, V v) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::RebindToUnsigned<D> du;
  const auto u = hn::BitCast(du, v);
  const auto odd = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1));
  const auto hi = hn::Set(du, 0xffff0000u);
  const auto rounded = hn::And(hn::Add(u, hn::Add(hn::Set(du, 0x7fff), odd)), hi);
  const auto nan = hn::And(hn::Or(u, hn::Set(du, 0x00400000u)), hi);
  return hn::BitCast(d, hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), nan, rounded));
}

}  // namespace HWY_NAMESPACE
}  // namespace dsv4::cpu
HWY_AFTER_NAMESPACE();

#endif  // DSV4_KERNELS_CPU_ROUND_BF16_INL_H_
