// SIMD sparse attention with sink (spec §4.3), the twin of ref::SparseAttention.
//
// Heads are independent: they are split over the thread pool in groups of kHeadGroup, and a group
// reads each selected KV row once for all its heads (the row, 2 KiB, is the expensive operand:
// window + top-k rows are gathered from the caches, not contiguous). Per online-softmax block the
// scores take kRowsPerPass rows per pass over the group's q, and P·V keeps each accumulator chunk
// in registers across the block's rows (session 4: 1.3-1.5x on the V4-Pro shape, 128 heads × 1152
// rows, with outputs bit-identical to the row-at-a-time version; 8 heads per group: no better).
//
// Numerics against ref: the online softmax (blocks of 64 slots, max, rescale, exp, bf16 P, sink,
// final division) is the same scalar code; P·V is element-wise acc[d] = acc[d] + bf16(p)·row[d]
// with a separate multiply and add, exactly as ref; only the q·k dot products run in a different
// summation order (vector lanes, then a tree), so scores differ from ref by fp32 rounding only.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/attention.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep (must precede highway.h)
#include <hwy/highway.h>
#include <immintrin.h>  // SumOfLanes16 on the AVX-512 targets

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "base/numeric.h"
#include "kernels/cpu/cpu.h"
#include "kernels/thread_pool.h"

#ifndef DSV4_KERNELS_CPU_ATTENTION_SHARED
#define DSV4_KERNELS_CPU_ATTENTION_SHARED
namespace dsv4::cpu::detail {
constexpr int kAttnBlock = 64;  // list slots per online-softmax step (as the reference kernel)
constexpr int kHeadGroup = 4;   // heads sharing one pass over each KV row
// KV rows sharing one pass over the group's q (scores): 4 with AVX-512's 32 registers (16
// accumulators); 3 on the other targets (12 accumulators, 3 rows and q: AVX2's 16 ymm registers;
// 4 rows spilled, and 2 rows' 8 dot chains were FMA-latency-bound: session 10, −20-30% per call
// with 3). Each dot is the same chain and lane sum either way (same bits).
constexpr int kRowsPerPassAvx512 = 4;
constexpr int kRowsPerPassOther = 3;
}  // namespace dsv4::cpu::detail
#endif

HWY_BEFORE_NAMESPACE();
// GCC 12 reports the self-initialised _mm512_undefined_*() inside avx512fintrin.h as
// (maybe-)uninitialized wherever a shuffle intrinsic inlines it (SumOfLanes16): a known false
// positive, silenced here as in linear.cc.
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)  // clang (the fuzz build) has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wuninitialized"
namespace dsv4::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using detail::kAttnBlock;
using detail::kHeadGroup;
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr int kRowsPerPass = detail::kRowsPerPassAvx512;
#else
constexpr int kRowsPerPass = detail::kRowsPerPassOther;
#endif

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// out[i] = the lane sum of v[i] for 16 vectors, each by exactly the additions of
// `_mm512_reduce_add_ps` (GCC's, which `SumOfLanes` is here: upper 256 + lower 256, upper 128 +
// lower 128, [0]+[2] and [1]+[3], then the two), done for all 16 at once on transposed data:
// ~45 instructions instead of ~150. Same operands, same order, so the same bits.
HWY_INLINE void SumOfLanes16(const __m512* v, float* out) {
  __m512 x[8], y[4], z[2];
  for (int p = 0; p < 8; ++p) {  // lanes 0-7: v[2p]'s upper 256 + lower 256, 8-15: v[2p+1]'s
    x[p] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], 0xEE),
                         _mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], 0x44));
  }
  for (int p = 0; p < 4; ++p) {  // 128-bit lane c: v[4p+c]'s upper 128 + lower 128
    y[p] = _mm512_add_ps(_mm512_shuffle_f32x4(x[2 * p], x[2 * p + 1], 0xDD),
                         _mm512_shuffle_f32x4(x[2 * p], x[2 * p + 1], 0x88));
  }
  for (int p = 0; p < 2; ++p) {  // lane L: [0]+[2], [1]+[3] of v[8p+L], then of v[8p+4+L]
    z[p] = _mm512_add_ps(_mm512_shuffle_ps(y[2 * p], y[2 * p + 1], 0x44),
                         _mm512_shuffle_ps(y[2 * p], y[2 * p + 1], 0xEE));
  }
  // Lane 4L + c: the sum of v[4c + L].
  alignas(64) float w[16];
  _mm512_store_ps(w, _mm512_add_ps(_mm512_shuffle_ps(z[0], z[1], 0x88),
                                   _mm512_shuffle_ps(z[0], z[1], 0xDD)));
  for (int i = 0; i < 16; ++i) out[i] = w[4 * (i % 4) + i / 4];
}
#endif

// dots[t][h] = q[h]·rows[t] for G heads and T rows (q rows `dim` apart): per product one MulAdd
// chain over d, lanes summed, scalar tail; each q and row vector loaded once per G·T products.
template <int G, int T>
HWY_INLINE void DotHeadsRows(const float* HWY_RESTRICT q, const float* const* rows, int dim,
                             float (*dots)[G]) {
  const hn::ScalableTag<float> df;
  const int lanes = static_cast<int>(hn::Lanes(df));
  decltype(hn::Zero(df)) acc[T][G];
  for (int t = 0; t < T; ++t) {
    for (int h = 0; h < G; ++h) acc[t][h] = hn::Zero(df);
  }
  int d = 0;
  for (; d + lanes <= dim; d += lanes) {
    decltype(hn::Zero(df)) r[T];
    for (int t = 0; t < T; ++t) r[t] = hn::LoadU(df, rows[t] + d);
    for (int h = 0; h < G; ++h) {
      const auto qv = hn::LoadU(df, q + static_cast<size_t>(h) * dim + d);
      for (int t = 0; t < T; ++t) acc[t][h] = hn::MulAdd(qv, r[t], acc[t][h]);
    }
  }
  float sums[T][G];
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  if constexpr (T * G == 16) {
    __m512 raw[16];
    for (int t = 0; t < T; ++t) {
      for (int h = 0; h < G; ++h) raw[t * G + h] = acc[t][h].raw;
    }
    SumOfLanes16(raw, &sums[0][0]);
  } else  // NOLINT(readability/braces): the portable reduction below
#endif
  {
    for (int t = 0; t < T; ++t) {
      for (int h = 0; h < G; ++h) sums[t][h] = hn::GetLane(hn::SumOfLanes(df, acc[t][h]));
    }
  }
  for (int t = 0; t < T; ++t) {
    for (int h = 0; h < G; ++h) {
      float sum = sums[t][h];
      for (int u = d; u < dim; ++u) sum += q[static_cast<size_t>(h) * dim + u] * rows[t][u];
      dots[t][h] = sum;
    }
  }
}

// acc[h][d] = acc[h][d] + p[j][h]·rows[j][d] for j = 0..count-1 in order, G heads: multiply, then
// add (no FMA), as ref, element by element; the accumulators stay in registers across the rows.
// Two vectors of d per pass: each element's additions are one dependent chain over j, so G chains
// per pass were latency-bound (an add every ~3 cycles per chain); 2·G chains, same bits.
template <int G>
HWY_INLINE void AxpyHeadsRows(const float (*p)[G], const float* const* rows, int count, int dim,
                              float* HWY_RESTRICT acc) {
  const hn::ScalableTag<float> df;
  const int lanes = static_cast<int>(hn::Lanes(df));
  int d = 0;
  for (; d + 2 * lanes <= dim; d += 2 * lanes) {
    decltype(hn::Zero(df)) a[G], b[G];
    for (int h = 0; h < G; ++h) {
      a[h] = hn::LoadU(df, acc + static_cast<size_t>(h) * dim + d);
      b[h] = hn::LoadU(df, acc + static_cast<size_t>(h) * dim + d + lanes);
    }
    for (int j = 0; j < count; ++j) {
      const auto r0 = hn::LoadU(df, rows[j] + d), r1 = hn::LoadU(df, rows[j] + d + lanes);
      for (int h = 0; h < G; ++h) {
        const auto pj = hn::Set(df, p[j][h]);
        a[h] = hn::Add(a[h], hn::Mul(pj, r0));
        b[h] = hn::Add(b[h], hn::Mul(pj, r1));
      }
    }
    for (int h = 0; h < G; ++h) {
      hn::StoreU(a[h], df, acc + static_cast<size_t>(h) * dim + d);
      hn::StoreU(b[h], df, acc + static_cast<size_t>(h) * dim + d + lanes);
    }
  }
  for (; d + lanes <= dim; d += lanes) {
    decltype(hn::Zero(df)) a[G];
    for (int h = 0; h < G; ++h) a[h] = hn::LoadU(df, acc + static_cast<size_t>(h) * dim + d);
    for (int j = 0; j < count; ++j) {
      const auto r = hn::LoadU(df, rows[j] + d);
      for (int h = 0; h < G; ++h) a[h] = hn::Add(a[h], hn::Mul(hn::Set(df, p[j][h]), r));
    }
    for (int h = 0; h < G; ++h) hn::StoreU(a[h], df, acc + static_cast<size_t>(h) * dim + d);
  }
  for (; d < dim; ++d) {
    for (int j = 0; j < count; ++j) {
      for (int h = 0; h < G; ++h) acc[static_cast<size_t>(h) * dim + d] += p[j][h] * rows[j][d];
    }
  }
}

HWY_INLINE void ScaleRow(float* HWY_RESTRICT v, int n, float s) {
  const hn::ScalableTag<float> df;
  const int lanes = static_cast<int>(hn::Lanes(df));
  int i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(hn::Mul(hn::LoadU(df, v + i), hn::Set(df, s)), df, v + i);
  for (; i < n; ++i) v[i] *= s;
}

// Heads [h0, h0 + G) of one query.
template <int G>
void AttendGroup(const float* q, int h0, int dim, const float* const* kv_rows, int n_slots,
                 const float* sink, float scale, float* out) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const float* qg = q + static_cast<size_t>(h0) * dim;
  std::vector<float> acc(static_cast<size_t>(G) * dim, 0.0f);
  float s[G][kAttnBlock];
  float m[G], den[G];
  for (int h = 0; h < G; ++h) m[h] = kNegInf, den[h] = 0.0f;
  for (int b0 = 0; b0 < n_slots; b0 += kAttnBlock) {
    const int b1 = std::min(n_slots, b0 + kAttnBlock);
    float block_max[G];
    for (int h = 0; h < G; ++h) block_max[h] = kNegInf;
    // Scores of the block's valid rows, 4 rows per pass over q.
    const float* valid[kAttnBlock];
    int slot[kAttnBlock], nvalid = 0;
    for (int j = b0; j < b1; ++j) {
      if (kv_rows[j] != nullptr) {
        valid[nvalid] = kv_rows[j];
        slot[nvalid++] = j - b0;
      } else {
        for (int h = 0; h < G; ++h) s[h][j - b0] = kNegInf;
      }
    }
    for (int v = 0; v < nvalid; v += kRowsPerPass) {
      float dots[kRowsPerPass][G];
      const int t = std::min(kRowsPerPass, nvalid - v);
      if (t == kRowsPerPass) {
        DotHeadsRows<G, kRowsPerPass>(qg, valid + v, dim, dots);
      } else {
        for (int u = 0; u < t; ++u) DotHeadsRows<G, 1>(qg, valid + v + u, dim, dots + u);
      }
      for (int u = 0; u < t; ++u) {
        for (int h = 0; h < G; ++h) s[h][slot[v + u]] = dots[u][h] * scale;
      }
    }
    for (int j = b0; j < b1; ++j) {
      for (int h = 0; h < G; ++h) block_max[h] = std::max(block_max[h], s[h][j - b0]);
    }
    float m_new[G];
    bool any = false;
    for (int h = 0; h < G; ++h) {
      m_new[h] = std::max(m[h], block_max[h]);
      if (m_new[h] == kNegInf) continue;  // nothing valid yet for this head
      any = true;
      const float rescale = m[h] == kNegInf ? 0.0f : std::exp(m[h] - m_new[h]);
      den[h] *= rescale;
      ScaleRow(acc.data() + static_cast<size_t>(h) * dim, dim, rescale);
    }
    if (!any) continue;
    float pb[kAttnBlock][G];
    for (int v = 0; v < nvalid; ++v) {
      for (int h = 0; h < G; ++h) {
        // A head with nothing valid yet has m_new = -inf, and then no valid slot in this block.
        const float p = std::exp(s[h][slot[v]] - m_new[h]);
        den[h] += p;
        pb[v][h] = RoundBf16(p);  // the kernel casts P to bf16 for the P·V GEMM
      }
    }
    AxpyHeadsRows<G>(pb, valid, nvalid, dim, acc.data());
    for (int h = 0; h < G; ++h) m[h] = m_new[h];
  }
  for (int h = 0; h < G; ++h) {
    float* oh = out + static_cast<size_t>(h0 + h) * dim;
    if (m[h] == kNegInf) {  // no valid row: only the sink, whose value vector is zero
      std::fill(oh, oh + dim, 0.0f);
      continue;
    }
    const float d = den[h] + std::exp(sink[h0 + h] - m[h]);
    const float* a = acc.data() + static_cast<size_t>(h) * dim;
    for (int t = 0; t < dim; ++t) oh[t] = RoundBf16(a[t] / d);
  }
}

void SparseAttentionImpl(const float* q, int heads, int dim, const float* const* kv_rows,
                         int n_slots, const float* sink, float scale, float* out) {
  const int groups = (heads + kHeadGroup - 1) / kHeadGroup;
  ThreadPool::Global().ParallelFor(groups, [&](int g0, int g1) {
    for (int g = g0; g < g1; ++g) {
      const int h0 = g * kHeadGroup, n = std::min(kHeadGroup, heads - h0);
      switch (n) {
        case 4: AttendGroup<4>(q, h0, dim, kv_rows, n_slots, sink, scale, out); break;
        case 3: AttendGroup<3>(q, h0, dim, kv_rows, n_slots, sink, scale, out); break;
        case 2: AttendGroup<2>(q, h0, dim, kv_rows, n_slots, sink, scale, out); break;
        default: AttendGroup<1>(q, h0, dim, kv_rows, n_slots, sink, scale, out); break;
      }
    }
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace dsv4::cpu
#pragma GCC diagnostic pop
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace dsv4::cpu {
HWY_EXPORT(SparseAttentionImpl);

void SparseAttention(const float* q, int heads, int dim, const float* const* kv_rows, int n_slots,
                     const float* sink, float scale, float* out) {
  HWY_DYNAMIC_DISPATCH(SparseAttentionImpl)(q, heads, dim, kv_rows, n_slots, sink, scale, out);
}
}  // namespace dsv4::cpu
#endif  // HWY_ONCE
