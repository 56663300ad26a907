// SIMD sparse attention with sink (spec §4.3), the twin of ref::SparseAttention.
//
// Heads are independent: they are split over the thread pool in groups of kHeadGroup, and a group
// reads each selected KV row once for all its heads (the row, 2 KiB, is the expensive operand:
// window + top-k rows are gathered from the caches, not contiguous).
//
// Numerics against ref: the online softmax (blocks of 64 slots, max, rescale, exp, bf16 P, sink,
// final division) is the same scalar code; P·V is element-wise acc[d] = acc[d] + bf16(p)·row[d]
// with a separate multiply and add, exactly as ref; only the q·k dot products run in a different
// summation order (vector lanes, then a tree), so scores differ from ref by fp32 rounding only.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/attention.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep (must precede highway.h)
#include <hwy/highway.h>

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
}  // namespace dsv4::cpu::detail
#endif

HWY_BEFORE_NAMESPACE();
namespace dsv4::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using detail::kAttnBlock;
using detail::kHeadGroup;

// dots[h] = q[h]·row for G heads (q rows `dim` apart), one pass over the row.
template <int G>
HWY_INLINE void DotHeads(const float* HWY_RESTRICT q, const float* HWY_RESTRICT row, int dim,
                         float* dots) {
  const hn::ScalableTag<float> df;
  const int lanes = static_cast<int>(hn::Lanes(df));
  decltype(hn::Zero(df)) acc[G];
  for (int h = 0; h < G; ++h) acc[h] = hn::Zero(df);
  int d = 0;
  for (; d + lanes <= dim; d += lanes) {
    const auto r = hn::LoadU(df, row + d);
    for (int h = 0; h < G; ++h)
      acc[h] = hn::MulAdd(hn::LoadU(df, q + static_cast<size_t>(h) * dim + d), r, acc[h]);
  }
  for (int h = 0; h < G; ++h) {
    float sum = hn::GetLane(hn::SumOfLanes(df, acc[h]));
    for (int t = d; t < dim; ++t) sum += q[static_cast<size_t>(h) * dim + t] * row[t];
    dots[h] = sum;
  }
}

// acc[h][d] = acc[h][d] + p[h]·row[d] for G heads: multiply, then add (no FMA), as ref.
template <int G>
HWY_INLINE void AxpyHeads(const float* p, const float* HWY_RESTRICT row, int dim,
                          float* HWY_RESTRICT acc) {
  const hn::ScalableTag<float> df;
  const int lanes = static_cast<int>(hn::Lanes(df));
  int d = 0;
  for (; d + lanes <= dim; d += lanes) {
    const auto r = hn::LoadU(df, row + d);
    for (int h = 0; h < G; ++h) {
      float* a = acc + static_cast<size_t>(h) * dim + d;
      hn::StoreU(hn::Add(hn::LoadU(df, a), hn::Mul(hn::Set(df, p[h]), r)), df, a);
    }
  }
  for (; d < dim; ++d) {
    for (int h = 0; h < G; ++h) acc[static_cast<size_t>(h) * dim + d] += p[h] * row[d];
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
    for (int j = b0; j < b1; ++j) {
      float dots[G];
      if (kv_rows[j] != nullptr) {
        DotHeads<G>(qg, kv_rows[j], dim, dots);
        for (int h = 0; h < G; ++h) dots[h] *= scale;
      } else {
        for (int h = 0; h < G; ++h) dots[h] = kNegInf;
      }
      for (int h = 0; h < G; ++h) {
        s[h][j - b0] = dots[h];
        block_max[h] = std::max(block_max[h], dots[h]);
      }
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
    for (int j = b0; j < b1; ++j) {
      if (kv_rows[j] == nullptr) continue;
      float pb[G];
      for (int h = 0; h < G; ++h) {
        // A head with nothing valid yet has m_new = -inf, and then no valid slot in this block.
        const float p = std::exp(s[h][j - b0] - m_new[h]);
        den[h] += p;
        pb[h] = RoundBf16(p);  // the kernel casts P to bf16 for the P·V GEMM
      }
      AxpyHeads<G>(pb, kv_rows[j], dim, acc.data());
    }
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
