// Gated-pooling KV compressor (spec §4.5): ratio 4 overlapped (CSA, and the indexer's keys) or
// ratio 128 non-overlapped (HCA). Tokens are appended one at a time into the carry state; a block is
// pooled the moment it completes, so prefill, chunked prefill and decode share one code path.
#pragma once

#include <cstdint>

#include "io/config.h"
#include "model/rope.h"
#include "model/state.h"
#include "model/weights.h"

namespace dsv4 {

enum class CompressorKind { kAttention, kIndexer };

// x [S, D] bf16 values at positions start_pos..start_pos+S-1. Appends every completed entry to
// st.entries (RMSNorm, RoPE at the block's first position, then FP8-sim (attention) or
// Hadamard + FP4-sim (indexer)). Returns the number of entries added.
int CompressorAppend(const float* x, int S, int64_t start_pos, const CompressorWeights& w,
                     const Rope& rope, const ModelConfig& cfg, CompressorKind kind,
                     CompressorState& st);

}  // namespace dsv4
