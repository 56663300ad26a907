#include "model/compressor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "base/numeric.h"
#include "kernels/kernels.h"

namespace dsv4 {
namespace {

constexpr int kKvSimBlock = 64;      // FP8_sim block of compressed attention entries
constexpr int kIndexSimBlock = 32;   // FP4_sim block of indexer keys

// Pools the complete block held in the carry into one fp32 vector [d]: a softmax over the block's
// rows of the gate scores, independently per feature. Overlap (c = 2): previous block's A half
// (rows 0..r-1, columns [0, d)) with the current block's B half (rows r..2r-1, columns [d, 2d)).
void PoolBlock(const CompressorState& st, float* pooled) {
  const int r = st.ratio, d = st.head_dim, c = st.overlap(), width = c * d;
  std::vector<float> score(c * r);
  for (int f = 0; f < d; ++f) {
    float mx = -std::numeric_limits<float>::infinity();
    for (int row = 0; row < c * r; ++row) {
      const int col = (c == 2 && row >= r) ? d + f : f;
      score[row] = st.carry_score[static_cast<size_t>(row) * width + col];
      mx = std::max(mx, score[row]);
    }
    float sum = 0.0f;
    for (int row = 0; row < c * r; ++row) sum += (score[row] = std::exp(score[row] - mx));
    float acc = 0.0f;
    for (int row = 0; row < c * r; ++row) {
      const int col = (c == 2 && row >= r) ? d + f : f;
      acc += score[row] / sum * st.carry_kv[static_cast<size_t>(row) * width + col];
    }
    pooled[f] = acc;
  }
}

// bf16 → RMSNorm → RoPE (block start) → quantization simulation; appends to st.entries.
void FinishEntry(float* pooled, int64_t entry, const CompressorWeights& w, const Rope& rope,
                 const ModelConfig& cfg, CompressorKind kind, CompressorState& st) {
  const int d = st.head_dim;
  for (int f = 0; f < d; ++f) pooled[f] = RoundBf16(pooled[f]);
  std::vector<float> e(d);
  RmsNorm(pooled, 1, d, w.norm.data(), cfg.norm_eps, e.data());
  rope.Apply(e.data(), 1, d, entry * st.ratio, /*inverse=*/false);
  if (kind == CompressorKind::kIndexer) {
    Hadamard(e.data(), d);
    Fp4Sim(e.data(), d, kIndexSimBlock);
  } else {
    Fp8Sim(e.data(), d - rope.dims(), kKvSimBlock);  // rope dims are never quantized
  }
  st.entries.insert(st.entries.end(), e.begin(), e.end());
}

}  // namespace

int CompressorAppend(const float* x, int S, int64_t start_pos, const CompressorWeights& w,
                     const Rope& rope, const ModelConfig& cfg, CompressorKind kind,
                     CompressorState& st) {
  const int r = st.ratio, d = st.head_dim, c = st.overlap(), width = c * d;
  // Values and gate scores of all S tokens, fp32 (the reference upcasts x and the bf16 weights).
  std::vector<float> kv(static_cast<size_t>(S) * width), gate(static_cast<size_t>(S) * width);
  LinearBf16(x, S, w.wkv, kv.data(), /*round_bf16=*/false);
  LinearBf16(x, S, w.wgate, gate.data(), /*round_bf16=*/false);
  std::vector<float> pooled(d);
  int added = 0;
  for (int s = 0; s < S; ++s) {
    const int64_t pos = start_pos + s;
    const int in_block = static_cast<int>(pos % r);
    const int row = (c == 2 ? r : 0) + in_block;
    const float* ape = w.ape.data() + static_cast<size_t>(in_block) * width;
    for (int f = 0; f < width; ++f) {
      st.carry_kv[static_cast<size_t>(row) * width + f] = kv[static_cast<size_t>(s) * width + f];
      st.carry_score[static_cast<size_t>(row) * width + f] =
          gate[static_cast<size_t>(s) * width + f] + ape[f];
    }
    if (in_block != r - 1) continue;
    PoolBlock(st, pooled.data());
    FinishEntry(pooled.data(), pos / r, w, rope, cfg, kind, st);
    ++added;
    if (c == 2) {  // the completed block becomes the "previous" block of the next one
      std::copy(st.carry_kv.begin() + static_cast<size_t>(r) * width, st.carry_kv.end(),
                st.carry_kv.begin());
      std::copy(st.carry_score.begin() + static_cast<size_t>(r) * width, st.carry_score.end(),
                st.carry_score.begin());
    }
  }
  return added;
}

}  // namespace dsv4
