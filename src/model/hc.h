// Manifold-constrained hyper-connections (spec §3): hc = 4 residual streams per token.
#pragma once

#include "io/config.h"
#include "model/weights.h"

namespace dsv4 {

// X [S, hc, D] bf16 → x [S, D] bf16, post [S, hc] fp32, comb [S, hc, hc] fp32 (after Sinkhorn;
// comb[s, j, k] mixes input stream j into output stream k).
void HcPre(const float* X, int S, const HcWeights& w, const ModelConfig& cfg, float* x, float* post,
           float* comb);

// X'[s, k] = bf16(post[k]·x + Σ_j comb[j, k]·R[j]) — x [S, D], R [S, hc, D] → out [S, hc, D].
void HcPost(const float* x, const float* R, const float* post, const float* comb, int S,
            const ModelConfig& cfg, float* out);

// Final mix of the streams before the norm: X [S, hc, D] → y [S, D] bf16 (no post/comb).
void HcHead(const float* X, int S, const HcWeights& w, const ModelConfig& cfg, float* y);

}  // namespace dsv4
