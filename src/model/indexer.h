// Lightning indexer of CSA layers (spec §4.6): scores every visible compressed entry for each query
// with a cheap FP4-simulated multi-head dot product and keeps the top-k entries for attention.
#pragma once

#include <cstdint>

#include "io/config.h"
#include "model/rope.h"
#include "model/weights.h"

namespace dsv4 {

// qr [S, q_lora] → qi [S, Hi, dI]: wq_b, RoPE on the last rope dims, Hadamard, FP4-sim (block 32).
void IndexerQuery(const float* qr, int S, int64_t start_pos, const IndexerWeights& w,
                  const Rope& rope, const ModelConfig& cfg, float* qi);

// x [S, D] → head weights [S, Hi] = bf16(bf16(x · weights_projᵀ) · dI^-½ · Hi^-½).
void IndexerHeadWeights(const float* x, int S, const IndexerWeights& w, const ModelConfig& cfg,
                        float* hw);

// score[s, i] = bf16(Σ_h bf16(relu(bf16(qi[s,h] · keys[i])) · hw[s,h])) for the n keys [n, dI];
// entries not yet complete for the query (i ≥ (pos+1) / ratio) are -inf.
void IndexerScores(const float* qi, const float* hw, const float* keys, int64_t n, int S,
                   int64_t start_pos, const ModelConfig& cfg, int ratio, float* score);

// Top-k entries per row of score [S, n] by value, equal values in increasing entry index (the CUDA
// torch.topk rule the reference relies on); -inf (invisible) picks become -1. idx [S, k].
void IndexerTopK(const float* score, int S, int64_t n, int k, int32_t* idx);

}  // namespace dsv4
