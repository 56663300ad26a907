// Mixture of experts (spec §8): sqrtsoftplus gate (bias for selection only; hash routing by token id
// on the first layers), clamped SwiGLU routed experts on MXFP4 weights, one shared expert on FP8.
#pragma once

#include <cstdint>

#include "io/config.h"
#include "model/trace.h"
#include "model/weights.h"

namespace dsv4 {

// x [S, D] → score [S, E] fp32 (sqrtsoftplus, before bias), idx [S, k], w [S, k] (normalized over
// the chosen experts, times route_scale). tokens: the token ids (hash layers look up tid2eid).
void Gate(const float* x, int S, const int32_t* tokens, const BlockWeights& blk,
          const ModelConfig& cfg, float* score, int32_t* idx, float* w);

// Σ over each token's chosen experts of w · expert(x), fp32 [S, D], accumulated in expert order.
void RoutedExperts(const float* x, int S, const int32_t* idx, const float* w,
                   const BlockWeights& blk, const ModelConfig& cfg, float* routed);

// The shared expert: x [S, D] → y [S, D] bf16.
void SharedExpert(const float* x, int S, const SharedExpertWeights& sw, const ModelConfig& cfg,
                  float* y);

// The whole MoE: out [S, D] = bf16(routed + shared).
void MoeForward(const float* x, int S, const int32_t* tokens, const BlockWeights& blk,
                const ModelConfig& cfg, const Trace& tr, float* out);

}  // namespace dsv4
