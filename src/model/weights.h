// ModelWeights: typed views of every checkpoint tensor, bound by name (spec §10). Large weights stay
// in their native format inside the mapping (FP8/MXFP4/BF16 views); small ones (norms, hc params,
// sinks, ape, gate bias, tid2eid) are upcast/copied at load because they are read per token.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/checkpoint.h"
#include "io/config.h"
#include "kernels/kernels.h"

namespace dsv4 {

// A routed expert's matrix: MXFP4 in the released checkpoints, FP8 when expert_dtype != "fp4".
struct ExpertMatrix {
  bool fp4 = true;
  Fp4Weight fp4_w;
  Fp8Weight fp8_w;
};

struct ExpertWeights {
  ExpertMatrix w1, w2, w3;  // w1 gate [I, D], w3 up [I, D], w2 down [D, I]
};

struct SharedExpertWeights {
  Fp8Weight w1, w2, w3;
};

// hc_{attn,ffn}_{fn,base,scale}: [(2+hc)·hc, hc·D], [(2+hc)·hc], [3]; hc_head_*: [hc, hc·D], [hc], [1].
struct HcWeights {
  std::vector<float> fn, base, scale;
};

struct CompressorWeights {
  int ratio = 0;            // 4 (overlapped, c = 2) or 128 (c = 1)
  int head_dim = 0;         // d: 512 attention, 128 indexer
  std::vector<float> ape;   // [r, c·d] fp32
  Bf16Weight wkv, wgate;    // [c·d, D], used in fp32
  std::vector<float> norm;  // [d]
};

struct IndexerWeights {
  Fp8Weight wq_b;              // [Hi·128, q_lora]
  Bf16Weight weights_proj;     // [Hi, D]
  CompressorWeights compressor;
};

struct AttentionWeights {
  Fp8Weight wq_a, wq_b, wkv, wo_a, wo_b;
  std::vector<float> q_norm, kv_norm, attn_sink;
  CompressorWeights compressor;  // ratio > 0
  IndexerWeights indexer;        // ratio == 4
};

struct GateWeights {
  Bf16Weight weight;             // [E, D]
  std::vector<float> bias;       // [E]   score-routed layers
  std::vector<int32_t> tid2eid;  // [V, k] hash layers
};

struct BlockWeights {
  int layer_id = 0;        // n_layers for the MTP block
  int compress_ratio = 0;  // 0, 4 or 128
  bool hash_routed = false;
  HcWeights hc_attn, hc_ffn;
  std::vector<float> attn_norm, ffn_norm;
  AttentionWeights attn;
  GateWeights gate;
  SharedExpertWeights shared;
  std::vector<ExpertWeights> experts;
};

struct MtpWeights {
  Fp8Weight e_proj, h_proj;
  std::vector<float> enorm, hnorm, norm;
  HcWeights hc_head;
  BlockWeights block;
};

struct ModelWeights {
  Bf16Weight embed;  // [V, D]
  Bf16Weight head;   // [V, D]
  std::vector<float> norm;
  HcWeights hc_head;
  std::vector<BlockWeights> blocks;
  std::vector<MtpWeights> mtp;  // 0 or 1
};

// Validates the checkpoint against the tensor table, then binds every tensor.
Result<ModelWeights> BindWeights(const Checkpoint& checkpoint, const ModelConfig& config);

}  // namespace dsv4
