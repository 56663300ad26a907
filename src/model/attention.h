// The attention sub-layer of every block kind (spec §4): q/kv paths, the 128-token window, the
// compressed entries (HCA: all complete ones; CSA: the indexer's top-k), sparse attention with
// sink, and the grouped low-rank output projection. Stage functions are public so the golden
// checks can run each one on the reference's own inputs.
#pragma once

#include <cstdint>
#include <vector>

#include "io/config.h"
#include "model/rope.h"
#include "model/state.h"
#include "model/trace.h"
#include "model/weights.h"

namespace dsv4 {

// x [S, D] (attn_norm output) → qr [S, q_lora] (q_norm'ed), q [S, H, hd] (per-head RMS, RoPE).
void QueryPath(const float* x, int S, int64_t start_pos, const AttentionWeights& w,
               const Rope& rope, const ModelConfig& cfg, float* qr, float* q);

// q [S, H, hd] only, from qr (the wq_b half of QueryPath).
void QueryFromQr(const float* qr, int S, int64_t start_pos, const AttentionWeights& w,
                 const Rope& rope, const ModelConfig& cfg, float* q);

// x [S, D] → kv [S, hd]: wkv, kv_norm, RoPE on the last rope dims, FP8-sim on the others.
void KvPath(const float* x, int S, int64_t start_pos, const AttentionWeights& w, const Rope& rope,
            const ModelConfig& cfg, float* kv);

// Sparse attention for S queries: rows[s·n_slots + j] is slot j of query s (nullptr = unused);
// then inverse RoPE at the query position → o [S, H, hd] bf16.
void AttendAndDerotate(const float* q, int S, int64_t start_pos,
                       const std::vector<const float*>& rows, int n_slots,
                       const AttentionWeights& w, const Rope& rope, const ModelConfig& cfg,
                       float* o);

// o [S, H, hd] → out [S, D]: per group g, u_g = wo_a[g] · o_g (bf16 GEMM), then wo_b (FP8).
void OutputProjection(const float* o, int S, const AttentionWeights& w, const ModelConfig& cfg,
                      float* out);

// The whole sub-layer: x [S, D] at positions start_pos.. → out [S, D]; updates `st` (ring,
// compressed entries, indexer keys, carries).
void AttentionForward(const float* x, int S, int64_t start_pos, const BlockWeights& blk,
                      const Rope& rope, const ModelConfig& cfg, LayerState& st, const Trace& tr,
                      float* out);

}  // namespace dsv4
