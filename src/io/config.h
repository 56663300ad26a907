// ModelConfig: the DeepSeek-V4 hyper-parameters, read from the checkpoint's HF config.json
// (field names as in the real V4-Pro / V4-Flash configs; spec §1). One struct for the whole family:
// nothing in the engine is hard-coded to one checkpoint. docs/glossary.md maps keys to fields.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace dsv4 {

struct ModelConfig {
  int vocab_size = 0;            // vocab_size
  int dim = 0;                   // hidden_size (D)
  int n_layers = 0;              // num_hidden_layers
  int n_mtp_layers = 0;          // num_nextn_predict_layers (0 or 1 supported)
  int n_heads = 0;               // num_attention_heads (H)
  int n_kv_heads = 1;            // num_key_value_heads: single shared latent (MQA), must be 1
  int head_dim = 512;            // head_dim: q and kv (K = V) width per head
  int rope_head_dim = 64;        // qk_rope_head_dim: rotary dims = the LAST rope_head_dim of a head
  int q_lora_rank = 0;           // q_lora_rank
  int o_groups = 0;              // o_groups (G)
  int o_lora_rank = 0;           // o_lora_rank
  int window_size = 128;         // sliding_window (includes the current token)
  std::vector<int> compress_ratios;  // compress_ratios: per layer (+ MTP), each 0, 4 or 128
  int index_n_heads = 0;         // index_n_heads
  int index_head_dim = 128;      // index_head_dim
  int index_topk = 0;            // index_topk
  int n_routed_experts = 0;      // n_routed_experts (E)
  int n_shared_experts = 1;      // n_shared_experts (must be 1)
  int n_activated_experts = 0;   // num_experts_per_tok
  int moe_inter_dim = 0;         // moe_intermediate_size (I)
  int n_hash_layers = 0;         // num_hash_layers: first layers routed by tid2eid
  float route_scale = 1.0f;      // routed_scaling_factor
  float swiglu_limit = 0.0f;     // swiglu_limit (0 = no clamp)
  float norm_eps = 1e-6f;        // rms_norm_eps
  int hc_mult = 4;               // hc_mult: hyper-connection streams
  int hc_sinkhorn_iters = 20;    // hc_sinkhorn_iters
  float hc_eps = 1e-6f;          // hc_eps
  float rope_theta = 10000.0f;           // rope_theta: ratio-0 layers, no YaRN
  float compress_rope_theta = 160000.0f;  // compress_rope_theta: ratio>0 layers, with YaRN
  int original_seq_len = 0;      // rope_scaling.original_max_position_embeddings (0 = no YaRN)
  float rope_factor = 1.0f;      // rope_scaling.factor
  float beta_fast = 32.0f;       // rope_scaling.beta_fast
  float beta_slow = 1.0f;        // rope_scaling.beta_slow
  int64_t max_position_embeddings = 0;  // max_position_embeddings: the longest context
  int bos_token_id = 0;
  int eos_token_id = 1;
  bool expert_fp4 = true;        // expert_dtype == "fp4" (else routed experts are FP8)

  // Derived helpers.
  int nope_head_dim() const { return head_dim - rope_head_dim; }
  int compress_ratio(int layer) const { return compress_ratios[layer]; }
  int n_blocks() const { return n_layers + n_mtp_layers; }  // main layers + MTP blocks

  // Parses config.json text. Unknown keys are accepted only if listed as known-harmless
  // (HF boilerplate such as "architectures", "torch_dtype"); any other unknown key, a missing
  // required key, a wrong type or a value the engine cannot honour is an error naming the key.
  static Result<ModelConfig> FromJson(const std::string& json_text, const std::string& origin);
  static Result<ModelConfig> FromFile(const std::string& path);
  // Checks cross-field constraints (heads divisible by groups, ratios in {0,4,128}, ...).
  Status Validate() const;
};

}  // namespace dsv4
