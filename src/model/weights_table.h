// The one table of every tensor of a DeepSeek-V4 checkpoint (spec §10): official name, accepted
// dtypes, expected shape (derived from ModelConfig), and what kind of parameter it is. It drives
// validation at load, parameter counting (`dsv4 info`), make-model, and the bytes-per-token account.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/checkpoint.h"
#include "io/config.h"
#include "io/dtype.h"

namespace dsv4 {

enum class TensorKind {
  kEmbed,          // embed.weight
  kHead,           // head.weight
  kNorm,           // every RMSNorm weight
  kHyperConn,      // hc_* fn/base/scale
  kAttention,      // wq_a, wq_b, wkv, wo_a, wo_b, attn_sink
  kCompressor,     // attention compressor ape/wkv/wgate
  kIndexer,        // indexer wq_b, weights_proj, indexer compressor
  kGate,           // ffn.gate weight / bias / tid2eid
  kSharedExpert,   // ffn.shared_experts.*
  kRoutedExpert,   // ffn.experts.E.*
  kMtpProj,        // mtp.N.e_proj / h_proj
  kScale,          // the E8M0 block scale of a quantized weight (counted as bytes, not params)
};

const char* TensorKindName(TensorKind kind);

struct TensorSpec {
  std::string name;
  std::vector<DType> dtypes;     // accepted dtypes; dtypes[0] is what make-model writes
  std::vector<int64_t> shape;    // expected shape (packed FP4: [N, K/2])
  TensorKind kind;
  int block = -1;                // layer index, n_layers + i for MTP block i, -1 = top level
  int expert = -1;               // routed expert index, else -1
  int64_t params = 0;            // logical parameters (FP4 packed counts 2 per byte); 0 for scales
                                 // and for the fixed tid2eid lookup table
  // May be absent: the scale of a weight that a checkpoint may store unquantized (wo_a as BF16).
  // ValidateCheckpoint still requires it when its weight is present in F8_E4M3.
  bool optional = false;

  int64_t numel() const;
  // Bytes in the first accepted dtype (what the published checkpoints hold).
  int64_t nbytes() const;
};

// "layer 3 (CSA, ratio 4)", "MTP block 0 (sliding window)", "top level": for messages.
std::string DescribeBlock(const ModelConfig& config, int block);

// Every tensor the checkpoint must contain for `config`, in checkpoint order.
std::vector<TensorSpec> CheckpointTensors(const ModelConfig& config);

// Parameter and byte totals derived from the table (drives `dsv4 info` and bandwidth reports).
// "Main" = the n_layers blocks + embed/head/norm/hc_head; MTP blocks are counted apart, as the
// published totals (V4-Pro 1.6T / 49B active, V4-Flash 284B / 13B) exclude them. Active counts
// are per decoded token: k of E routed experts, the head, and ONE embedding row (the published
// active figures leave the embedding table out). Scale bytes are folded into the kind of the
// weight they scale; params of kScale are 0.
struct WeightAccount {
  int64_t params_main = 0;
  int64_t params_mtp = 0;
  int64_t params_active = 0;  // per token, main model
  int64_t bytes_main = 0;     // native formats (FP8 / MXFP4 / BF16 / F32 + scales)
  int64_t bytes_mtp = 0;
  int64_t bytes_scales = 0;   // all E8M0 scales, main + MTP (already inside the totals)
  int64_t bytes_per_token = 0;  // weights read per decoded token at batch 1, main model
  std::map<TensorKind, int64_t> params_by_kind;         // main + MTP
  std::map<TensorKind, int64_t> active_params_by_kind;  // per token, main model
  std::map<TensorKind, int64_t> bytes_by_kind;          // main + MTP
  std::map<TensorKind, int64_t> bytes_per_token_by_kind;
};
WeightAccount AccountWeights(const ModelConfig& config);

// Checks the checkpoint against the table: every tensor present with an accepted dtype and the
// expected shape, and no tensor the table does not know. The error names the tensor and both
// the expected and the actual dtype/shape.
Status ValidateCheckpoint(const Checkpoint& checkpoint, const ModelConfig& config);

}  // namespace dsv4
