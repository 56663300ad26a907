// Scalar reference of the lightning-indexer scores (spec §4.6): the reference's order of
// operations, one key at a time.
#include <algorithm>

#include "base/numeric.h"
#include "kernels/ref/ref.h"

namespace dsv4::ref {

void IndexerScore(const IndexerHeads& query, const float* keys, int64_t n, float* score) {
  const int H = query.heads, dim = query.dim;
  for (int64_t i = 0; i < n; ++i) {
    const float* key = keys + i * dim;
    float total = 0.0f;
    for (int h = 0; h < H; ++h) {
      const float* q = query.q + static_cast<size_t>(h) * dim;
      float dot = 0.0f;  // fp32, dimension order
      for (int d = 0; d < dim; ++d) dot += q[d] * key[d];
      total += RoundBf16(std::max(RoundBf16(dot), 0.0f) * query.weights[h]);
    }
    score[i] = RoundBf16(total);
  }
}

}  // namespace dsv4::ref
