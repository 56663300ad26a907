#include "model/indexer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "base/numeric.h"
#include "kernels/kernels.h"

namespace dsv4 {
namespace {
constexpr int kIndexSimBlock = 32;  // FP4_sim block of indexer queries
}

void IndexerQuery(const float* qr, int S, int64_t start_pos, const IndexerWeights& w,
                  const Rope& rope, const ModelConfig& cfg, float* qi) {
  const int Hi = cfg.index_n_heads, dI = cfg.index_head_dim;
  LinearFp8(qr, S, w.wq_b, qi);  // [S, Hi·dI]
  for (int s = 0; s < S; ++s) {
    float* q = qi + static_cast<size_t>(s) * Hi * dI;
    rope.Apply(q, Hi, dI, start_pos + s, /*inverse=*/false);
    for (int h = 0; h < Hi; ++h) {
      Hadamard(q + static_cast<size_t>(h) * dI, dI);
      Fp4Sim(q + static_cast<size_t>(h) * dI, dI, kIndexSimBlock);
    }
  }
}

void IndexerHeadWeights(const float* x, int S, const IndexerWeights& w, const ModelConfig& cfg,
                        float* hw) {
  const int Hi = cfg.index_n_heads;
  LinearBf16(x, S, w.weights_proj, hw, /*round_bf16=*/true);
  const float scale =
      1.0f / std::sqrt(static_cast<float>(cfg.index_head_dim)) / std::sqrt(static_cast<float>(Hi));
  for (int i = 0; i < S * Hi; ++i) hw[i] = RoundBf16(hw[i] * scale);
}

void IndexerScores(const float* qi, const float* hw, const float* keys, int64_t n, int S,
                   int64_t start_pos, const ModelConfig& cfg, int ratio, float* score) {
  const int Hi = cfg.index_n_heads, dI = cfg.index_head_dim;
  for (int s = 0; s < S; ++s) {
    // Entries complete for this query: i < (pos + 1) / ratio; the rest are -inf.
    const int64_t visible = std::clamp<int64_t>((start_pos + s + 1) / ratio, 0, n);
    float* row = score + static_cast<size_t>(s) * n;
    // The kernel splits the keys over the threads, so one decode query uses all of them.
    IndexerScore({.q = qi + static_cast<size_t>(s) * Hi * dI,
                  .weights = hw + static_cast<size_t>(s) * Hi,
                  .heads = Hi,
                  .dim = dI},
                 keys, visible, row);
    std::fill(row + visible, row + n, -std::numeric_limits<float>::infinity());
  }
}

void IndexerTopK(const float* score, int S, int64_t n, int k, int32_t* idx) {
  std::vector<int32_t> order(n);
  for (int s = 0; s < S; ++s) {
    const float* row = score + static_cast<size_t>(s) * n;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [row](int32_t a, int32_t b) {
      return row[a] > row[b] || (row[a] == row[b] && a < b);
    });
    for (int j = 0; j < k; ++j) {
      idx[static_cast<size_t>(s) * k + j] =
          std::isinf(row[order[j]]) && row[order[j]] < 0 ? -1 : order[j];
    }
  }
}

}  // namespace dsv4
