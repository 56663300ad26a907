// The one table of every tensor of a DeepSeek-V4 checkpoint (spec §10): official name, accepted
// dtypes, expected shape (derived from ModelConfig), and what kind of parameter it is. It drives
// validation at load, parameter counting (`dsv4 info`), make-model, and the bytes-per-token account.
#pragma once

#include <cstdint>
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
};

// Every tensor the checkpoint must contain for `config`, in checkpoint order.
std::vector<TensorSpec> CheckpointTensors(const ModelConfig& config);

// Checks the checkpoint against the table: every tensor present with an accepted dtype and the
// expected shape, and no tensor the table does not know. The error names the tensor and both
// the expected and the actual dtype/shape.
Status ValidateCheckpoint(const Checkpoint& checkpoint, const ModelConfig& config);

}  // namespace dsv4
