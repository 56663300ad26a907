// SIMD lightning-indexer scores (Highway, compiled once per target and dispatched at runtime).
//
// Layout: keys are scored in blocks of 16, transposed so that lane i of a vector holds key i; each
// head then accumulates the 16 keys' dot products in one vector against broadcast query values,
// and the per-head terms are added to a 16-lane total in head order: no horizontal reductions, and
// every lane follows the reference's operation order for its key. Blocks are split over the
// thread pool; a block's scores depend on nothing else, so any thread count gives the same bits.
//
// Portable path (every target): keys transposed to fp32 [dim][16], one fp32 FMA per dimension in
// dimension order. The reference adds q[d]·k[d] rounded to fp32 in that same order; the inputs are
// FP4-simulated (e2m1 value × power-of-two scale: at most 2 significant bits), so every product is
// exact in fp32 and the fused and unfused forms give the same sums: bit-identical to ref.
//
// AVX3_DL with AVX512_BF16 (indexer_avx512bf16-inl.h): keys packed to bf16 pairs in VNNI order and
// multiplied with `vdpbf16ps` (2 dimensions per lane and instruction). That changes the summation
// order, so it runs only on blocks where every partial sum in any order is exact (checked per
// block, see there); other blocks take the portable path. Bit-identical to ref either way.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/indexer.cc"
#include <hwy/aligned_allocator.h>
#include <hwy/foreach_target.h>  // IWYU pragma: keep (must precede highway.h)
#include <hwy/highway.h>
#include <immintrin.h>  // the AVX-512 BF16 kernel of indexer_avx512bf16-inl.h

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/check.h"
#include "base/numeric.h"
#include "kernels/cpu/cpu.h"
#include "kernels/cpu/round_bf16-inl.h"
#include "kernels/thread_pool.h"

#ifndef DSV4_KERNELS_CPU_INDEXER_SHARED
#define DSV4_KERNELS_CPU_INDEXER_SHARED
namespace dsv4::cpu::detail {

constexpr int kKeyBlock = 16;  // keys per block: one 16-lane vector of scores

// Keys [nb, dim] -> kt [dim][16]: kt[d·16 + i] = key i, dimension d; zero past the nb keys.
inline void TransposeKeys(const float* keys, int nb, int dim, float* kt) {
  for (int d = 0; d < dim; ++d) {
    for (int i = 0; i < kKeyBlock; ++i) {
      kt[d * kKeyBlock + i] = i < nb ? keys[static_cast<size_t>(i) * dim + d] : 0.0f;
    }
  }
}

}  // namespace dsv4::cpu::detail
#endif  // DSV4_KERNELS_CPU_INDEXER_SHARED

HWY_BEFORE_NAMESPACE();
namespace dsv4::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using detail::kKeyBlock;

using DF = hn::CappedTag<float, kKeyBlock>;  // at most 16 lanes, so 16 keys are whole vectors

// bf16(relu(bf16(dot)) · w), relu as std::max(x, 0.0f): NaN and -0 pass through.
template <class V>
HWY_INLINE V HeadTerm(V dot, float w) {
  const DF df;
  const auto d = RoundBf16Lanes(df, dot);
  return RoundBf16Lanes(df,
                        hn::Mul(hn::IfThenZeroElse(hn::Lt(d, hn::Zero(df)), d), hn::Set(df, w)));
}

// Scores of one transposed block (kt [dim][16], detail::TransposeKeys) into out[16].
HWY_INLINE void ScoreBlockFma(const IndexerHeads& query, const float* HWY_RESTRICT kt,
                              float* HWY_RESTRICT out) {
  const DF df;
  const int lanes = static_cast<int>(hn::Lanes(df));
  const int H = query.heads, dim = query.dim;
  const float* w = query.weights;
  for (int v = 0; v < kKeyBlock; v += lanes) {
    auto total = hn::Zero(df);
    int h = 0;
    for (; h + 4 <= H; h += 4) {  // 4 heads share each key load
      const float* q0 = query.q + static_cast<size_t>(h) * dim;
      const float *q1 = q0 + dim, *q2 = q1 + dim, *q3 = q2 + dim;
      auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
      for (int d = 0; d < dim; ++d) {
        const auto k = hn::LoadU(df, kt + d * kKeyBlock + v);
        a0 = hn::MulAdd(hn::Set(df, q0[d]), k, a0);
        a1 = hn::MulAdd(hn::Set(df, q1[d]), k, a1);
        a2 = hn::MulAdd(hn::Set(df, q2[d]), k, a2);
        a3 = hn::MulAdd(hn::Set(df, q3[d]), k, a3);
      }
      total = hn::Add(total, HeadTerm(a0, w[h]));
      total = hn::Add(total, HeadTerm(a1, w[h + 1]));
      total = hn::Add(total, HeadTerm(a2, w[h + 2]));
      total = hn::Add(total, HeadTerm(a3, w[h + 3]));
    }
    for (; h < H; ++h) {
      const float* q0 = query.q + static_cast<size_t>(h) * dim;
      auto a0 = hn::Zero(df);
      for (int d = 0; d < dim; ++d) {
        a0 = hn::MulAdd(hn::Set(df, q0[d]), hn::LoadU(df, kt + d * kKeyBlock + v), a0);
      }
      total = hn::Add(total, HeadTerm(a0, w[h]));
    }
    hn::StoreU(RoundBf16Lanes(df, total), df, out + v);
  }
}

// Blocks [b0, b1) of the n keys through the portable path.
HWY_INLINE void ScoreBlocksFma(const IndexerHeads& query, const float* keys, int64_t n, int64_t b0,
                               int64_t b1, float* score) {
  std::vector<float> kt(static_cast<size_t>(query.dim) * kKeyBlock);
  float out[kKeyBlock];
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t i0 = b * kKeyBlock;
    const int nb = static_cast<int>(std::min<int64_t>(kKeyBlock, n - i0));
    detail::TransposeKeys(keys + i0 * query.dim, nb, query.dim, kt.data());
    ScoreBlockFma(query, kt.data(), out);
    std::copy(out, out + nb, score + i0);
  }
}

#if HWY_TARGET == HWY_AVX3_DL
// GCC 12 reports the self-initialised _mm512_undefined_*() inside avx512fintrin.h as
// maybe-uninitialized wherever a masked/shuffle intrinsic inlines it; a known false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "kernels/cpu/indexer_avx512bf16-inl.h"
#pragma GCC diagnostic pop
#endif

void IndexerScoreImpl(const IndexerHeads& query, const float* keys, int64_t n, float* score) {
  DSV4_CHECK(query.heads > 0 && query.dim > 0 && n >= 0);
  if (n == 0) return;
  const int64_t blocks = (n + kKeyBlock - 1) / kKeyBlock;
  DSV4_CHECK(blocks <= INT32_MAX);
#if HWY_TARGET == HWY_AVX3_DL
  if (IndexerBf16Supported(query.dim)) return IndexerScoreBf16(query, keys, n, score);
#endif
  ThreadPool::Global().ParallelFor(static_cast<int>(blocks), [&](int b0, int b1) {
    ScoreBlocksFma(query, keys, n, b0, b1, score);
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace dsv4::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace dsv4::cpu {

HWY_EXPORT(IndexerScoreImpl);

void IndexerScore(const IndexerHeads& query, const float* keys, int64_t n, float* score) {
  HWY_DYNAMIC_DISPATCH(IndexerScoreImpl)(query, keys, n, score);
}

}  // namespace dsv4::cpu
#endif  // HWY_ONCE
