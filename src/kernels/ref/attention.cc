// Scalar reference of the sparse attention with sink (spec §4.3), mimicking the kernel's
// numerics: fp32 scores, online softmax over blocks of 64 list slots, bf16 probabilities in P·V.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "base/numeric.h"
#include "kernels/ref/ref.h"

namespace dsv4::ref {
namespace {
constexpr int kAttnBlock = 64;  // list slots per online-softmax step of the reference kernel
}

void SparseAttention(const float* q, int heads, int dim, const float* const* kv_rows, int n_slots,
                     const float* sink, float scale, float* out) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  std::vector<float> acc(dim), s(kAttnBlock);
  for (int h = 0; h < heads; ++h) {
    const float* qh = q + static_cast<size_t>(h) * dim;
    std::fill(acc.begin(), acc.end(), 0.0f);
    float m = kNegInf, den = 0.0f;
    for (int b0 = 0; b0 < n_slots; b0 += kAttnBlock) {
      const int b1 = std::min(n_slots, b0 + kAttnBlock);
      float block_max = kNegInf;
      for (int j = b0; j < b1; ++j) {
        float v = kNegInf;
        if (kv_rows[j] != nullptr) {
          float dot = 0.0f;
          for (int d = 0; d < dim; ++d) dot += qh[d] * kv_rows[j][d];
          v = dot * scale;
        }
        s[j - b0] = v;
        block_max = std::max(block_max, v);
      }
      const float m_new = std::max(m, block_max);
      if (m_new == kNegInf) continue;  // nothing valid yet
      const float rescale = m == kNegInf ? 0.0f : std::exp(m - m_new);
      den *= rescale;
      for (int d = 0; d < dim; ++d) acc[d] *= rescale;
      for (int j = b0; j < b1; ++j) {
        if (kv_rows[j] == nullptr) continue;
        const float p = std::exp(s[j - b0] - m_new);
        den += p;
        const float pb = RoundBf16(p);  // the kernel casts P to bf16 for the P·V GEMM
        for (int d = 0; d < dim; ++d) acc[d] += pb * kv_rows[j][d];
      }
      m = m_new;
    }
    float* oh = out + static_cast<size_t>(h) * dim;
    if (m == kNegInf) {  // no valid row: only the sink, whose value vector is zero
      std::fill(oh, oh + dim, 0.0f);
      continue;
    }
    den += std::exp(sink[h] - m);
    for (int d = 0; d < dim; ++d) oh[d] = RoundBf16(acc[d] / den);
  }
}

}  // namespace dsv4::ref
