// ModelConfig::Validate: the cross-field constraints of a config the engine can run. Structural
// contradictions are kInvalidArgument; consistent values outside what the engine (and the
// reference) implements are kUnimplemented. Every message names the config key.
#include <string>

#include "io/config.h"

namespace dsv4 {
namespace {

constexpr int kQuantBlock = 128;    // FP8 activation/weight block along K (spec §7.2)
constexpr int kKvFp8SimBlock = 64;  // FP8_sim block on the non-rope KV dims (spec §7.3)
constexpr int kFp4Block = 32;       // MXFP4 / FP4_sim block (spec §7.3, §7.4)

std::string Str(double v) {
  std::string s = std::to_string(v);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

Status Positive(const char* key, double value) {
  if (value > 0) return Status::Ok();
  return InvalidArgument("key '" + std::string(key) + "' = " + Str(value) + " must be > 0");
}

Status MultipleOf(const char* what, int value, int block, const char* why) {
  if (value % block == 0) return Status::Ok();
  return Unimplemented(std::string(what) + " = " + std::to_string(value) +
                       " is not a multiple of " + std::to_string(block) + " (" + why + ")");
}

bool IsPowerOfTwo(int x) { return x > 0 && (x & (x - 1)) == 0; }

Status ValidateSizes(const ModelConfig& c) {
  DSV4_RETURN_IF_ERROR(Positive("vocab_size", c.vocab_size));
  DSV4_RETURN_IF_ERROR(Positive("hidden_size", c.dim));
  DSV4_RETURN_IF_ERROR(Positive("num_hidden_layers", c.n_layers));
  DSV4_RETURN_IF_ERROR(Positive("num_attention_heads", c.n_heads));
  DSV4_RETURN_IF_ERROR(Positive("q_lora_rank", c.q_lora_rank));
  DSV4_RETURN_IF_ERROR(Positive("o_groups", c.o_groups));
  DSV4_RETURN_IF_ERROR(Positive("o_lora_rank", c.o_lora_rank));
  DSV4_RETURN_IF_ERROR(Positive("sliding_window", c.window_size));
  DSV4_RETURN_IF_ERROR(Positive("n_routed_experts", c.n_routed_experts));
  DSV4_RETURN_IF_ERROR(Positive("num_experts_per_tok", c.n_activated_experts));
  DSV4_RETURN_IF_ERROR(Positive("moe_intermediate_size", c.moe_inter_dim));
  DSV4_RETURN_IF_ERROR(Positive("hc_mult", c.hc_mult));
  DSV4_RETURN_IF_ERROR(Positive("hc_sinkhorn_iters", c.hc_sinkhorn_iters));
  DSV4_RETURN_IF_ERROR(Positive("hc_eps", c.hc_eps));
  DSV4_RETURN_IF_ERROR(Positive("rms_norm_eps", c.norm_eps));
  DSV4_RETURN_IF_ERROR(Positive("rope_theta", c.rope_theta));
  DSV4_RETURN_IF_ERROR(Positive("compress_rope_theta", c.compress_rope_theta));
  DSV4_RETURN_IF_ERROR(Positive("routed_scaling_factor", c.route_scale));
  DSV4_RETURN_IF_ERROR(
      Positive("max_position_embeddings", static_cast<double>(c.max_position_embeddings)));
  if (c.swiglu_limit < 0) {
    return InvalidArgument("key 'swiglu_limit' = " + Str(c.swiglu_limit) +
                           " must be >= 0 (0 = no clamp)");
  }
  if (c.rope_factor < 1) {
    return InvalidArgument("key 'rope_scaling.factor' = " + Str(c.rope_factor) + " must be >= 1");
  }
  if (c.vocab_size <= c.bos_token_id || c.vocab_size <= c.eos_token_id || c.bos_token_id < 0 ||
      c.eos_token_id < 0) {
    return InvalidArgument("keys 'bos_token_id' / 'eos_token_id' (" +
                           std::to_string(c.bos_token_id) + " / " + std::to_string(c.eos_token_id) +
                           ") must lie in [0, vocab_size)");
  }
  return Status::Ok();
}

Status ValidateAttention(const ModelConfig& c) {
  if (c.n_kv_heads != 1) {
    return Unimplemented("key 'num_key_value_heads' = " + std::to_string(c.n_kv_heads) +
                         ": DeepSeek-V4 attention has one shared KV latent (MQA); only 1 is "
                         "supported");
  }
  if (c.rope_head_dim <= 0 || c.rope_head_dim % 2 != 0) {
    return InvalidArgument("key 'qk_rope_head_dim' = " + std::to_string(c.rope_head_dim) +
                           " must be positive and even (RoPE rotates pairs of dims)");
  }
  if (c.head_dim <= c.rope_head_dim) {
    return InvalidArgument("key 'head_dim' = " + std::to_string(c.head_dim) +
                           " must exceed qk_rope_head_dim = " + std::to_string(c.rope_head_dim));
  }
  DSV4_RETURN_IF_ERROR(MultipleOf("head_dim - qk_rope_head_dim", c.nope_head_dim(), kKvFp8SimBlock,
                                  "the KV FP8 simulation works in blocks of 64"));
  if (c.n_heads % c.o_groups != 0) {
    return InvalidArgument("key 'num_attention_heads' = " + std::to_string(c.n_heads) +
                           " is not divisible by 'o_groups' = " + std::to_string(c.o_groups));
  }
  const char* gemm = "FP8 GEMMs quantize activations in blocks of 128 along K";
  DSV4_RETURN_IF_ERROR(MultipleOf("hidden_size", c.dim, kQuantBlock, gemm));
  DSV4_RETURN_IF_ERROR(MultipleOf("q_lora_rank", c.q_lora_rank, kQuantBlock, gemm));
  DSV4_RETURN_IF_ERROR(MultipleOf("o_lora_rank", c.o_lora_rank, kQuantBlock, gemm));
  DSV4_RETURN_IF_ERROR(MultipleOf("num_attention_heads * head_dim / o_groups",
                                  c.n_heads / c.o_groups * c.head_dim, kQuantBlock, gemm));
  DSV4_RETURN_IF_ERROR(MultipleOf("moe_intermediate_size", c.moe_inter_dim, kQuantBlock, gemm));
  return Status::Ok();
}

Status ValidateSchedule(const ModelConfig& c) {
  if (c.n_mtp_layers < 0 || c.n_mtp_layers > 1) {
    return Unimplemented("key 'num_nextn_predict_layers' = " + std::to_string(c.n_mtp_layers) +
                         ": only 0 or 1 MTP block is supported");
  }
  if (static_cast<int>(c.compress_ratios.size()) != c.n_blocks()) {
    return InvalidArgument("key 'compress_ratios' has " + std::to_string(c.compress_ratios.size()) +
                           " entries, expected num_hidden_layers + num_nextn_predict_layers = " +
                           std::to_string(c.n_blocks()));
  }
  bool any_csa = false;
  for (size_t i = 0; i < c.compress_ratios.size(); ++i) {
    const int r = c.compress_ratios[i];
    if (r != 0 && r != 4 && r != 128) {
      return Unimplemented("key 'compress_ratios[" + std::to_string(i) +
                           "]' = " + std::to_string(r) +
                           ": only 0 (sliding window), 4 (CSA) and 128 (HCA) are supported");
    }
    any_csa = any_csa || r == 4;
  }
  if (any_csa) {
    DSV4_RETURN_IF_ERROR(Positive("index_n_heads", c.index_n_heads));
    DSV4_RETURN_IF_ERROR(Positive("index_topk", c.index_topk));
    if (!IsPowerOfTwo(c.index_head_dim) || c.index_head_dim <= c.rope_head_dim ||
        c.index_head_dim % kFp4Block != 0) {
      return Unimplemented("key 'index_head_dim' = " + std::to_string(c.index_head_dim) +
                           ": must be a power of two (Hadamard), a multiple of 32 (FP4 blocks) "
                           "and larger than qk_rope_head_dim");
    }
  }
  if (c.n_hash_layers < 0 || c.n_hash_layers > c.n_layers) {
    return InvalidArgument("key 'num_hash_layers' = " + std::to_string(c.n_hash_layers) +
                           " must lie in [0, num_hidden_layers]");
  }
  return Status::Ok();
}

Status ValidateMoe(const ModelConfig& c) {
  if (c.n_shared_experts != 1) {
    return Unimplemented("key 'n_shared_experts' = " + std::to_string(c.n_shared_experts) +
                         ": only 1 shared expert is supported");
  }
  if (c.n_activated_experts > c.n_routed_experts) {
    return InvalidArgument("key 'num_experts_per_tok' = " + std::to_string(c.n_activated_experts) +
                           " exceeds 'n_routed_experts' = " + std::to_string(c.n_routed_experts));
  }
  if (c.expert_fp4) {
    DSV4_RETURN_IF_ERROR(MultipleOf("hidden_size", c.dim, kFp4Block, "MXFP4 expert scales"));
  }
  return Status::Ok();
}

}  // namespace

Status ModelConfig::Validate() const {
  DSV4_RETURN_IF_ERROR(ValidateSizes(*this));
  DSV4_RETURN_IF_ERROR(ValidateAttention(*this));
  DSV4_RETURN_IF_ERROR(ValidateSchedule(*this));
  DSV4_RETURN_IF_ERROR(ValidateMoe(*this));
  return Status::Ok();
}

}  // namespace dsv4
