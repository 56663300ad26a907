#include "model/indexer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "base/numeric.h"
#include "kernels/kernels.h"
#include "kernels/thread_pool.h"

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
  // Every (query, entry) score is independent: split their product so a single decode query at a
  // long context uses every thread too.
  const int64_t total_pairs = static_cast<int64_t>(S) * n;
  constexpr int64_t kPairsPerTask = 64;
  const int tasks = static_cast<int>((total_pairs + kPairsPerTask - 1) / kPairsPerTask);
  ThreadPool::Global().ParallelFor(tasks, [&](int t0, int t1) {
    const int64_t end = std::min(total_pairs, int64_t{t1} * kPairsPerTask);
    for (int64_t p = int64_t{t0} * kPairsPerTask; p < end; ++p) {
      const int s = static_cast<int>(p / n);
      const int64_t i = p % n;
      if (i >= (start_pos + s + 1) / ratio) {
        score[p] = -std::numeric_limits<float>::infinity();
        continue;
      }
      const float* q = qi + static_cast<size_t>(s) * Hi * dI;
      const float* key = keys + i * dI;
      float total = 0.0f;
      for (int h = 0; h < Hi; ++h) {
        float dot = 0.0f;
        for (int d = 0; d < dI; ++d) dot += q[h * dI + d] * key[d];
        total += RoundBf16(std::max(RoundBf16(dot), 0.0f) * hw[s * Hi + h]);
      }
      score[p] = RoundBf16(total);
    }
  });
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
