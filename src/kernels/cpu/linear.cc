// SIMD linear layers (Highway, compiled once per target and dispatched at runtime).
//
// Every target gets the portable kernels below: weights decoded a row at a time into fp32 (vector
// e4m3 decode, table e2m1 decode), then vector dot products per scale block. On AVX3_DL (Zen 4,
// Ice Lake+) with AVX512_BF16 the FP8/FP4 kernels of linear_avx512bf16-inl.h run instead: weights
// decoded in registers to bf16 by byte shuffles, multiplied with `vdpbf16ps` (Highway 1.0.3 has no
// op for it, hence the intrinsics there), and so do bf16-weight linears whose activations are bf16
// values (all of the model's: head, gate, compressors, indexer weights_proj). On AVX2 (Zen 2/3,
// Haswell+; also AVX-512 CPUs without BF16) the FP8/FP4 kernels of linear_avx2-inl.h run instead:
// weights decoded in registers to exact fp32 by integer shuffles, fp32 FMA per scale block (bf16
// weights stay on the portable path).
//
// Numerics (kernels.h): activations quantized exactly as ref (ref::QuantizeE4M3); products of e4m3
// and e4m3/e2m1 values are exact in fp32 and in bf16; per scale block one fp32 partial sum, times
// (s_x · s_w), added to an fp32 accumulator (the portable and AVX2 kernels), or, with both
// power-of-two scales folded into exact bf16 operands, one dot product per output (the AVX-512 BF16
// kernels, docs/kernels.md); bf16 out. Only the summation order differs from ref.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/linear.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep (must precede highway.h)
#include <hwy/highway.h>
#include <immintrin.h>  // the AVX-512 BF16 kernels of linear_avx512bf16-inl.h

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "base/aligned.h"
#include "base/check.h"
#include "base/numeric.h"
#include "kernels/cpu/cpu.h"
#include "kernels/cpu/gemm_onednn.h"
#include "kernels/cpu/round_bf16-inl.h"
#include "kernels/ref/ref.h"
#include "kernels/thread_pool.h"

#ifndef DSV4_KERNELS_CPU_LINEAR_SHARED
#define DSV4_KERNELS_CPU_LINEAR_SHARED
namespace dsv4::cpu::detail {

inline int CeilDiv(int a, int b) { return (a + b - 1) / b; }

// e4m3 activation values and per-128 UE8M0 scales of m rows, exactly as the reference computes
// them.
struct QuantizedRows {
  ScratchVector<float> q;  // [m, k]
  std::vector<float> s;  // [m, ceil(k/128)]
  int kb = 0;
};

// Activation preparation (quantize, fold, permute into the kernels' order) is per row; with this
// many rows or more (prefill) the rows are split over the pool. Serially it was ~5% of the linear
// kernels' time in a 512-token prefill, with the other threads waiting; at decode sizes a
// ParallelFor would cost more than the work.
constexpr int kParallelPrepRows = 16;
template <class F>
void ForActRows(int m, const F& f) {
  if (m >= kParallelPrepRows) {
    ThreadPool::Global().ParallelFor(m, [&](int r0, int r1) { f(r0, r1); });
  } else {
    f(0, m);
  }
}

inline QuantizedRows QuantizeRows(const float* x, int m, int k) {
  QuantizedRows a;
  a.kb = CeilDiv(k, kQuantBlock);
  a.q.resize(static_cast<size_t>(m) * k);
  a.s.resize(static_cast<size_t>(m) * a.kb);
  ForActRows(m, [&](int r0, int r1) {
    for (int r = r0; r < r1; ++r) {
      cpu::QuantizeE4M3(x + static_cast<size_t>(r) * k, k, kQuantBlock,
                        a.q.data() + static_cast<size_t>(r) * k,
                        a.s.data() + static_cast<size_t>(r) * a.kb);
    }
  });
  return a;
}

// Activation rows are processed in tiles of this many against one decoded weight row, so the tile
// stays in L2 while the weight row is reused.
constexpr int kRowTile = 64;

}  // namespace dsv4::cpu::detail
#endif  // DSV4_KERNELS_CPU_LINEAR_SHARED

HWY_BEFORE_NAMESPACE();
namespace dsv4::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using detail::CeilDiv;
using detail::kRowTile;

using DF = hn::ScalableTag<float>;
using DU = hn::RebindToUnsigned<DF>;

// Σ a[i]·b[i] over n values in fp32 (vector lanes, then a tree): the per-block partial sum.
HWY_INLINE float Dot(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, int n) {
  const DF df;
  const int lanes = static_cast<int>(hn::Lanes(df));
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  int i = 0;
  for (; i + 2 * lanes <= n; i += 2 * lanes) {
    acc0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), acc0);
    acc1 = hn::MulAdd(hn::LoadU(df, a + i + lanes), hn::LoadU(df, b + i + lanes), acc1);
  }
  for (; i + lanes <= n; i += lanes)
    acc0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), acc0);
  float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// e4m3 codes -> fp32 values (exact; 0x7f/0xff -> NaN), the bit-level definition of E4M3Decode.
HWY_INLINE void DecodeE4M3(const uint8_t* HWY_RESTRICT codes, int k, float* HWY_RESTRICT out) {
  const DF df;
  const DU du;
  const hn::Rebind<uint8_t, DU> d8;
  const hn::RebindToSigned<DF> di;
  const int lanes = static_cast<int>(hn::Lanes(df));
  const auto k7f = hn::Set(du, 0x7f), k80 = hn::Set(du, 0x80);
  const auto exp_bias = hn::Set(du, 120u << 23);           // e4m3 bias 7 -> fp32 bias 127
  const auto subnormal_unit = hn::Set(df, 1.0f / 512.0f);  // e4m3 subnormal: mant · 2^-9
  const auto nan = hn::Set(df, NAN);
  int i = 0;
  for (; i + lanes <= k; i += lanes) {
    const auto c = hn::PromoteTo(du, hn::LoadU(d8, codes + i));
    const auto mag = hn::And(c, k7f);
    const auto sign = hn::ShiftLeft<24>(hn::And(c, k80));
    const auto normal = hn::BitCast(df, hn::Add(hn::ShiftLeft<20>(mag), exp_bias));
    const auto sub = hn::Mul(hn::ConvertTo(df, hn::BitCast(di, mag)), subnormal_unit);
    auto v = hn::IfThenElse(hn::RebindMask(df, hn::Lt(mag, hn::Set(du, 8))), sub, normal);
    v = hn::IfThenElse(hn::RebindMask(df, hn::Eq(mag, k7f)), nan, v);
    hn::StoreU(hn::Or(v, hn::BitCast(df, sign)), df, out + i);
  }
  for (; i < k; ++i) out[i] = E4M3ToFloat(codes[i]);
}

// v[i] = RoundBf16(v[i] · scale) (round-to-nearest-even on the bits; NaN kept), n values.
HWY_INLINE void ScaleRoundBf16(float* HWY_RESTRICT v, int n, float scale) {
  const DF df;
  const DU du;
  const int lanes = static_cast<int>(hn::Lanes(df));
  const auto vs = hn::Set(df, scale);
  int i = 0;
  for (; i + lanes <= n; i += lanes) {
    const auto p = hn::Mul(hn::LoadU(df, v + i), vs);
    const auto u = hn::BitCast(du, p);
    const auto odd = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1));
    const auto r = hn::And(hn::Add(u, hn::Add(hn::Set(du, 0x7fff), odd)), hn::Set(du, 0xffff0000u));
    hn::StoreU(hn::IfThenElse(hn::IsNaN(p), p, hn::BitCast(df, r)), df, v + i);
  }
  for (; i < n; ++i) v[i] = RoundBf16(v[i] * scale);
}

// Rows [n0, n1) of an FP8 weight dequantized as ref does (convert.py's wo_a): RoundBf16(e4m3 · s_w)
// into out, k values a row. RoundBf16 is the identity here except for products in fp32's subnormal
// range; kept so the rows are bit-identical to ref's.
HWY_INLINE void DequantizeFp8Rows(const Fp8Weight& w, int n0, int n1, float* HWY_RESTRICT out) {
  const int k = w.k, kb = detail::CeilDiv(k, kQuantBlock);
  for (int n = n0; n < n1; ++n) {
    float* row = out + static_cast<size_t>(n - n0) * k;
    DecodeE4M3(w.w + static_cast<size_t>(n) * k, k, row);
    const uint8_t* ws = w.scale + static_cast<size_t>(n / kQuantBlock) * kb;
    for (int b = 0; b < kb; ++b) {
      const int i0 = b * kQuantBlock;
      ScaleRoundBf16(row + i0, std::min(kQuantBlock, k - i0), E8M0ToFloat(ws[b]));
    }
  }
}

// Σ x_j[t]·bf16(w_i[t]) over k values for NR weight rows (stride w_stride) × MR activation rows
// (stride x_stride) into out[j·NR + i], fp32 accumulate (the bf16 -> fp32 widening is exact). Every
// output has the same order for any NR and MR (two chains of vectors, the same lane sum, the same
// scalar tail), so tiling changes no bit. <NR, 1>: NR weight rows share each activation load (the
// matrix-vector path); <4, 3>: a register tile of 24 accumulators, 2·NR widened weight vectors and
// 2·MR activation vectors per 32 values for 24 FMAs (prefill's compressors and gate).
template <int NR, int MR>
HWY_INLINE void DotBf16Tile(const float* HWY_RESTRICT x, size_t x_stride,
                            const uint16_t* HWY_RESTRICT w, size_t w_stride, int k, float* out) {
  const DF df;
  const DU du;
  const hn::Rebind<uint16_t, DU> d16;
  const int lanes = static_cast<int>(hn::Lanes(df));
  auto widen = [&](const uint16_t* p) {
    return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(d16, p))));
  };
  hn::Vec<DF> acc0[NR][MR], acc1[NR][MR];
  for (int i = 0; i < NR; ++i) {
    for (int j = 0; j < MR; ++j) acc0[i][j] = acc1[i][j] = hn::Zero(df);
  }
  int t = 0;
  for (; t + 2 * lanes <= k; t += 2 * lanes) {
    hn::Vec<DF> w0[NR], w1[NR];
    for (int i = 0; i < NR; ++i) {
      w0[i] = widen(w + i * w_stride + t);
      w1[i] = widen(w + i * w_stride + t + lanes);
    }
    for (int j = 0; j < MR; ++j) {
      const auto x0 = hn::LoadU(df, x + j * x_stride + t);
      const auto x1 = hn::LoadU(df, x + j * x_stride + t + lanes);
      for (int i = 0; i < NR; ++i) {
        acc0[i][j] = hn::MulAdd(x0, w0[i], acc0[i][j]);
        acc1[i][j] = hn::MulAdd(x1, w1[i], acc1[i][j]);
      }
    }
  }
  for (; t + lanes <= k; t += lanes) {
    for (int j = 0; j < MR; ++j) {
      const auto x0 = hn::LoadU(df, x + j * x_stride + t);
      for (int i = 0; i < NR; ++i) acc0[i][j] = hn::MulAdd(x0, widen(w + i * w_stride + t), acc0[i][j]);
    }
  }
  for (int j = 0; j < MR; ++j) {
    for (int i = 0; i < NR; ++i) {
      float sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0[i][j], acc1[i][j])));
      for (int u = t; u < k; ++u) sum += x[j * x_stride + u] * Bf16ToFloat(w[i * w_stride + u]);
      out[j * NR + i] = sum;
    }
  }
}

// Portable FP8: decode a weight row to fp32 once, reuse it for every activation row.
void LinearFp8Portable(const detail::QuantizedRows& a, int m, const Fp8Weight& w, float* y) {
  const int k = w.k, kb = a.kb;
  ThreadPool::Global().ParallelFor(CeilDiv(w.n, kQuantBlock), [&](int b0, int b1) {
    std::vector<float> row(k);
    for (int mt = 0; mt < m; mt += kRowTile) {
      for (int n = b0 * kQuantBlock; n < std::min(w.n, b1 * kQuantBlock); ++n) {
        DecodeE4M3(w.w + static_cast<size_t>(n) * k, k, row.data());
        const uint8_t* ws = w.scale + static_cast<size_t>(n / kQuantBlock) * kb;
        for (int r = mt; r < std::min(m, mt + kRowTile); ++r) {
          const float* q = a.q.data() + static_cast<size_t>(r) * k;
          const float* xs = a.s.data() + static_cast<size_t>(r) * kb;
          float acc = 0.0f;
          for (int b = 0; b < kb; ++b) {
            const int i0 = b * kQuantBlock, len = std::min(k - i0, kQuantBlock);
            acc += Dot(q + i0, row.data() + i0, len) * (xs[b] * E8M0ToFloat(ws[b]));
          }
          y[static_cast<size_t>(r) * w.n + n] = RoundBf16(acc);
        }
      }
    }
  });
}

// Portable MXFP4: decode a weight row to fp32 by table, fp32 partial per 32-block.
void LinearFp4Portable(const detail::QuantizedRows& a, int m, const Fp4Weight& w, float* y) {
  const int k = w.k, kb = a.kb, k32 = k / kFp4Block;
  ThreadPool::Global().ParallelFor(w.n, [&](int n0, int n1) {
    float table[16];
    for (int c = 0; c < 16; ++c) table[c] = E2M1ToFloat(static_cast<uint8_t>(c));
    std::vector<float> row(k);
    for (int mt = 0; mt < m; mt += kRowTile) {
      for (int n = n0; n < n1; ++n) {
        const uint8_t* packed = w.w + static_cast<size_t>(n) * (k / 2);
        for (int i = 0; i < k / 2; ++i) {
          row[2 * i] = table[packed[i] & 0xf];  // element 2i in the low nibble
          row[2 * i + 1] = table[packed[i] >> 4];
        }
        const uint8_t* ws = w.scale + static_cast<size_t>(n) * k32;
        for (int r = mt; r < std::min(m, mt + kRowTile); ++r) {
          const float* q = a.q.data() + static_cast<size_t>(r) * k;
          const float* xs = a.s.data() + static_cast<size_t>(r) * kb;
          float acc = 0.0f;
          for (int b = 0; b < k32; ++b) {
            const float scale = xs[(b * kFp4Block) / kQuantBlock] * E8M0ToFloat(ws[b]);
            acc += Dot(q + b * kFp4Block, row.data() + b * kFp4Block, kFp4Block) * scale;
          }
          y[static_cast<size_t>(r) * w.n + n] = RoundBf16(acc);
        }
      }
    }
  });
}

#if HWY_TARGET == HWY_AVX3_DL
// GCC 12 reports the self-initialised _mm512_undefined_*() inside avx512fintrin.h as
// (maybe-)uninitialized wherever a masked/shuffle intrinsic inlines it; a known false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "kernels/cpu/linear_avx512bf16-inl.h"
#include "kernels/cpu/linear_fp8_avx512bf16-inl.h"
#include "kernels/cpu/linear_fp4_avx512bf16-inl.h"
#include "kernels/cpu/linear_bf16_avx512bf16-inl.h"
#pragma GCC diagnostic pop
#endif

// The AVX2 kernels also serve the AVX-512 targets on CPUs without AVX512_BF16 (AVX3: Skylake-SP,
// Cascade Lake; AVX3_DL without BF16: Ice Lake), unchanged: 256-bit code, which those CPUs run at
// full width (the portable kernels they had before decode a row to a buffer first).
ScratchVector<float> RoundedActs(const float* x, int m, int k);  // below

#undef DSV4_AVX2_KERNELS
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#define DSV4_AVX2_KERNELS 1
#include "kernels/cpu/linear_avx2-inl.h"
#else
#define DSV4_AVX2_KERNELS 0
#endif

#include "kernels/cpu/linear_sgemm-inl.h"  // every target: fast prefill where there is no BF16

bool UsesBf16Kernels() {
#if HWY_TARGET == HWY_AVX3_DL
  return HasAvx512Bf16();
#else
  return false;
#endif
}

const char* TargetNameImpl() {
  return UsesBf16Kernels() ? "AVX3_DL+BF16" : hwy::TargetName(HWY_TARGET);
}

void LinearFp8Impl(const float* x, int m, const Fp8Weight& w, float* y) {
  if (m <= 0 || w.n <= 0) return;
  detail::QuantizedRows a = detail::QuantizeRows(x, m, w.k);
#if HWY_TARGET == HWY_AVX3_DL
  if (HasAvx512Bf16()) return LinearFp8Bf16(std::move(a), m, w, y);
#endif
  if (UseSgemm(m) && LinearFp8Sgemm(a, m, w, y)) return;
#if DSV4_AVX2_KERNELS  // on AVX3_DL only reached without BF16
  return LinearFp8Avx2(PrepareAvx2Fp8Acts(a.q.data(), m, w.k, std::move(a.s)), m, w, y);
#endif
  LinearFp8Portable(a, m, w, y);
}

// Whether any job of a group takes the fast-prefill path (then the group runs job by job).
template <class Job>
bool AnyUsesSgemm(const Job* jobs, int count) {
  return std::any_of(jobs, jobs + count, [](const Job& job) { return UseSgemm(job.m); });
}

void LinearFp8GroupImpl(const Fp8Job* jobs, int count) {
#if HWY_TARGET == HWY_AVX3_DL
  if (HasAvx512Bf16()) return LinearFp8GroupBf16(jobs, count);
#endif
#if DSV4_AVX2_KERNELS
  if (!AnyUsesSgemm(jobs, count)) return LinearFp8GroupAvx2(jobs, count, /*bf16_acts=*/false);
#endif
  for (int j = 0; j < count; ++j) LinearFp8Impl(jobs[j].x, jobs[j].m, jobs[j].w, jobs[j].y);
}

void LinearFp4Impl(const float* x, int m, const Fp4Weight& w, float* y) {
  DSV4_CHECK(w.k % kFp4Block == 0);
  if (m <= 0 || w.n <= 0) return;
  const detail::QuantizedRows a = detail::QuantizeRows(x, m, w.k);
#if HWY_TARGET == HWY_AVX3_DL
  if (HasAvx512Bf16()) return LinearFp4Bf16(a, m, w, y);
#endif
  if (UseSgemm(m) && LinearFp4Sgemm(a, m, w, y)) return;
#if DSV4_AVX2_KERNELS  // on AVX3_DL only reached without BF16
  return LinearFp4Avx2(a, m, w, y);
#endif
  LinearFp4Portable(a, m, w, y);
}

void LinearFp4GroupImpl(const Fp4Job* jobs, int count) {
#if HWY_TARGET == HWY_AVX3_DL
  if (HasAvx512Bf16()) return LinearFp4GroupBf16(jobs, count);
#endif
#if DSV4_AVX2_KERNELS
  if (!AnyUsesSgemm(jobs, count)) return LinearFp4GroupAvx2(jobs, count);
#endif
  for (int j = 0; j < count; ++j) LinearFp4Impl(jobs[j].x, jobs[j].m, jobs[j].w, jobs[j].y);
}

// The activations of LinearFp8AsBf16: rounded to bf16 as ref does (a no-op for the model's
// inputs, which are bf16 tensors by contract).
ScratchVector<float> RoundedActs(const float* x, int m, int k) {
  ScratchVector<float> xb(static_cast<size_t>(m) * k);
  std::copy_n(x, xb.size(), xb.data());
  detail::ForActRows(m, [&](int r0, int r1) {  // RoundBf16, vectorized
    ScaleRoundBf16(xb.data() + static_cast<size_t>(r0) * k, (r1 - r0) * k, 1.0f);
  });
  return xb;
}

#if HWY_TARGET == HWY_AVX3_DL
// bf16 activations are exact operands of the bf16 dot, so the FP8 kernel applies unchanged with
// every activation scale 1: Σ_b s_w,b · Σ_i x_i·e4m3_i, products exact, fp32 sums.
detail::QuantizedRows UnitScaledActs(ScratchVector<float> xb, int m, int k) {
  detail::QuantizedRows a;
  a.kb = CeilDiv(k, kQuantBlock);
  a.q = std::move(xb);
  a.s.assign(static_cast<size_t>(m) * a.kb, 1.0f);
  return a;
}
#endif

// FP8 weight -> exact bf16 values (e4m3 · 2^e fits bf16's 7-bit mantissa) times the bf16
// activation, fp32 accumulate, bf16 out.
void LinearFp8AsBf16Impl(const float* x, int m, const Fp8Weight& w, float* y) {
  if (m <= 0 || w.n <= 0) return;
  const int k = w.k;
  ScratchVector<float> xb = RoundedActs(x, m, k);
#if HWY_TARGET == HWY_AVX3_DL
  if (HasAvx512Bf16()) return LinearFp8Bf16(UnitScaledActs(std::move(xb), m, k), m, w, y);
#endif
  if (UseSgemm(m)) return LinearFp8AsBf16Sgemm(xb.data(), m, w, y);
#if DSV4_AVX2_KERNELS  // on AVX3_DL only reached without BF16
  return LinearFp8Avx2(PrepareAvx2Fp8Acts(xb.data(), m, k, {}), m, w, y);
#endif
  ThreadPool::Global().ParallelFor(CeilDiv(w.n, kQuantBlock), [&](int b0, int b1) {
    std::vector<float> row(k);
    for (int mt = 0; mt < m; mt += kRowTile) {
      for (int n = b0 * kQuantBlock; n < std::min(w.n, b1 * kQuantBlock); ++n) {
        DequantizeFp8Rows(w, n, n + 1, row.data());
        for (int r = mt; r < std::min(m, mt + kRowTile); ++r) {
          y[static_cast<size_t>(r) * w.n + n] =
              RoundBf16(Dot(xb.data() + static_cast<size_t>(r) * k, row.data(), k));
        }
      }
    }
  });
}

void LinearFp8AsBf16GroupImpl(const Fp8Job* jobs, int count) {
#if HWY_TARGET == HWY_AVX3_DL
  if (HasAvx512Bf16()) {
    std::vector<detail::QuantizedRows> acts(count);
    for (int j = 0; j < count; ++j) {
      if (jobs[j].m > 0) {
        acts[j] = UnitScaledActs(RoundedActs(jobs[j].x, jobs[j].m, jobs[j].w.k), jobs[j].m,
                                 jobs[j].w.k);
      }
    }
    return LinearFp8GroupBf16Prepared(jobs, count, std::move(acts));
  }
#endif
#if DSV4_AVX2_KERNELS
  if (!AnyUsesSgemm(jobs, count)) return LinearFp8GroupAvx2(jobs, count, /*bf16_acts=*/true);
#endif
  for (int j = 0; j < count; ++j) LinearFp8AsBf16Impl(jobs[j].x, jobs[j].m, jobs[j].w, jobs[j].y);
}

// The fp32 kernel (every target; on AVX-512 BF16 only for activations that are not bf16 values).
// Weight rows per DotBf16Tile at m > 1 (weights hot in cache), and per activation load at m = 1
// when the fp32 activation row is large. Measured in the model's decode (head, interleaved runs):
// at k = 4096 (16 KiB of activations) one row at a time was faster in 3 of 4 pairs (one DRAM
// stream per thread reads fastest here); at k = 7168 (28 KiB, nearly all of the 32 KiB L1, so the
// streaming weight lines evict it) 4 rows per activation load were 20-25% faster in 4 of 4 pairs.
constexpr int kBf16Rows = 4;
constexpr int kBf16SingleRowMaxK = 4096;

void LinearBf16Impl(const float* x, int m, const Bf16Weight& w, float* y, bool round_bf16) {
  if (m <= 0 || w.n <= 0) return;
#if HWY_TARGET == HWY_AVX3_DL
  // bf16-valued activations (every caller in the model): the bf16 dot-product kernel.
  if (HasAvx512Bf16() && LinearBf16Dot(x, m, w, y, round_bf16)) return;
#endif
  if (UseSgemm(m) && !UsesBf16Kernels()) return LinearBf16Sgemm(x, m, w, y, round_bf16);
  const int k = w.k;
  constexpr int kTileActs = 3;  // activation rows per DotBf16Tile
  ThreadPool::Global().ParallelFor(w.n, [&](int n0, int n1) {
    auto put = [&](int r, int n, float v) {
      y[static_cast<size_t>(r) * w.n + n] = round_bf16 ? RoundBf16(v) : v;
    };
    for (int mt = 0; mt < m; mt += kRowTile) {
      const int mt_end = std::min(m, mt + kRowTile);
      for (int n = n0; n < n1; n += kBf16Rows) {
        const int rows = std::min(kBf16Rows, n1 - n);
        const uint16_t* w_rows = w.w + static_cast<size_t>(n) * k;
        int r = mt;
        if (rows == kBf16Rows && m == 1 && k > kBf16SingleRowMaxK) {
          float out[kBf16Rows];
          DotBf16Tile<kBf16Rows, 1>(x, 0, w_rows, static_cast<size_t>(k), k, out);
          for (int i = 0; i < kBf16Rows; ++i) put(0, n + i, out[i]);
          continue;
        }
        if (rows == kBf16Rows && m > 1) {
          for (; r + kTileActs <= mt_end; r += kTileActs) {
            float out[kTileActs * kBf16Rows];
            DotBf16Tile<kBf16Rows, kTileActs>(x + static_cast<size_t>(r) * k, static_cast<size_t>(k),
                                              w_rows, static_cast<size_t>(k), k, out);
            for (int j = 0; j < kTileActs; ++j) {
              for (int i = 0; i < kBf16Rows; ++i) put(r + j, n + i, out[j * kBf16Rows + i]);
            }
          }
          // Leftover activation rows still share each load across the 4 weight rows (a batch of
          // 4 sequences is one 3-row tile and one of these).
          for (; r < mt_end; ++r) {
            float out[kBf16Rows];
            DotBf16Tile<kBf16Rows, 1>(x + static_cast<size_t>(r) * k, 0, w_rows,
                                      static_cast<size_t>(k), k, out);
            for (int i = 0; i < kBf16Rows; ++i) put(r, n + i, out[i]);
          }
        }
        for (; r < mt_end; ++r) {
          const float* xr = x + static_cast<size_t>(r) * k;
          for (int i = 0; i < rows; ++i) {
            float out;
            DotBf16Tile<1, 1>(xr, 0, w_rows + static_cast<size_t>(i) * k, 0, k, &out);
            put(r, n + i, out);
          }
        }
      }
    }
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace dsv4::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace dsv4::cpu {

HWY_EXPORT(TargetNameImpl);
HWY_EXPORT(LinearFp8Impl);
HWY_EXPORT(LinearFp4Impl);
HWY_EXPORT(LinearFp8AsBf16Impl);
HWY_EXPORT(LinearFp8AsBf16GroupImpl);
HWY_EXPORT(LinearBf16Impl);
HWY_EXPORT(LinearFp8GroupImpl);
HWY_EXPORT(LinearFp4GroupImpl);

const char* TargetName() { return HWY_DYNAMIC_DISPATCH(TargetNameImpl)(); }

void LinearFp8(const float* x, int m, const Fp8Weight& w, float* y) {
  HWY_DYNAMIC_DISPATCH(LinearFp8Impl)(x, m, w, y);
}
void LinearFp4(const float* x, int m, const Fp4Weight& w, float* y) {
  HWY_DYNAMIC_DISPATCH(LinearFp4Impl)(x, m, w, y);
}
void LinearFp8AsBf16(const float* x, int m, const Fp8Weight& w, float* y) {
  HWY_DYNAMIC_DISPATCH(LinearFp8AsBf16Impl)(x, m, w, y);
}
void LinearBf16(const float* x, int m, const Bf16Weight& w, float* y, bool round_bf16) {
  HWY_DYNAMIC_DISPATCH(LinearBf16Impl)(x, m, w, y, round_bf16);
}
void LinearFp8AsBf16Group(const Fp8Job* jobs, int count) {
  HWY_DYNAMIC_DISPATCH(LinearFp8AsBf16GroupImpl)(jobs, count);
}

void LinearFp8Group(const Fp8Job* jobs, int count) {
  HWY_DYNAMIC_DISPATCH(LinearFp8GroupImpl)(jobs, count);
}
void LinearFp4Group(const Fp4Job* jobs, int count) {
  HWY_DYNAMIC_DISPATCH(LinearFp4GroupImpl)(jobs, count);
}

}  // namespace dsv4::cpu
#endif  // HWY_ONCE
