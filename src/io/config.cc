#include "io/config.h"

#include <climits>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <variant>

namespace dsv4 {
namespace {

using Json = nlohmann::json;

// One config.json key that fills a ModelConfig field. `required` keys have no default that is
// right for DeepSeek-V4; the others default to the value in ModelConfig (spec §1, ModelArgs).
struct FieldSpec {
  const char* key;
  std::variant<int ModelConfig::*, int64_t ModelConfig::*, float ModelConfig::*,
               std::vector<int> ModelConfig::*>
      field;
  bool required;
};

const FieldSpec kFields[] = {
    {"vocab_size", &ModelConfig::vocab_size, true},
    {"hidden_size", &ModelConfig::dim, true},
    {"num_hidden_layers", &ModelConfig::n_layers, true},
    {"num_nextn_predict_layers", &ModelConfig::n_mtp_layers, false},
    {"num_attention_heads", &ModelConfig::n_heads, true},
    {"num_key_value_heads", &ModelConfig::n_kv_heads, false},
    {"head_dim", &ModelConfig::head_dim, false},
    {"qk_rope_head_dim", &ModelConfig::rope_head_dim, false},
    {"q_lora_rank", &ModelConfig::q_lora_rank, true},
    {"o_groups", &ModelConfig::o_groups, true},
    {"o_lora_rank", &ModelConfig::o_lora_rank, true},
    {"sliding_window", &ModelConfig::window_size, false},
    {"compress_ratios", &ModelConfig::compress_ratios, true},
    {"index_n_heads", &ModelConfig::index_n_heads, true},
    {"index_head_dim", &ModelConfig::index_head_dim, false},
    {"index_topk", &ModelConfig::index_topk, true},
    {"n_routed_experts", &ModelConfig::n_routed_experts, true},
    {"n_shared_experts", &ModelConfig::n_shared_experts, false},
    {"num_experts_per_tok", &ModelConfig::n_activated_experts, true},
    {"moe_intermediate_size", &ModelConfig::moe_inter_dim, true},
    {"num_hash_layers", &ModelConfig::n_hash_layers, true},
    {"routed_scaling_factor", &ModelConfig::route_scale, false},
    {"swiglu_limit", &ModelConfig::swiglu_limit, false},
    {"rms_norm_eps", &ModelConfig::norm_eps, false},
    {"hc_mult", &ModelConfig::hc_mult, false},
    {"hc_sinkhorn_iters", &ModelConfig::hc_sinkhorn_iters, false},
    {"hc_eps", &ModelConfig::hc_eps, false},
    {"rope_theta", &ModelConfig::rope_theta, false},
    {"compress_rope_theta", &ModelConfig::compress_rope_theta, false},
    {"max_position_embeddings", &ModelConfig::max_position_embeddings, true},
    {"bos_token_id", &ModelConfig::bos_token_id, false},
    {"eos_token_id", &ModelConfig::eos_token_id, false},
};

// Keys the engine reads but that do not map to a plain field (handled by ParseSpecialKeys).
const char* const kSpecialKeys[] = {"rope_scaling", "expert_dtype", "quantization_config"};

// HF keys that carry nothing the engine needs. Some must hold the one value the engine
// implements (checked in CheckFixedValues); the rest are boilerplate and ignored.
const char* const kHarmlessKeys[] = {
    "architectures", "attention_bias",       "attention_dropout", "auto_map",
    "hidden_act",    "initializer_range",    "model_type",        "norm_topk_prob",
    "scoring_func",  "tie_word_embeddings",  "topk_method",       "torch_dtype",
    "dtype",         "transformers_version", "use_cache",         "pad_token_id",
    "_name_or_path",
};

Status KeyError(const std::string& origin, const std::string& key, const std::string& what) {
  return InvalidArgument(origin + ": key '" + key + "' " + what);
}

Status ReadInt64(const Json& v, const std::string& origin, const std::string& key, int64_t lo,
                 int64_t hi, int64_t* out) {
  if (!v.is_number_integer()) {
    return KeyError(origin, key,
                    std::string("is a JSON ") + v.type_name() + ", expected an integer");
  }
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return KeyError(origin, key, "is out of range");
  }
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) {
    return KeyError(origin, key,
                    "= " + std::to_string(x) + " is out of range [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "]");
  }
  *out = x;
  return Status::Ok();
}

Status ReadField(const Json& v, const FieldSpec& spec, const std::string& origin, ModelConfig* c) {
  const std::string key = spec.key;
  if (auto* p = std::get_if<int ModelConfig::*>(&spec.field)) {
    int64_t x = 0;
    DSV4_RETURN_IF_ERROR(ReadInt64(v, origin, key, INT_MIN, INT_MAX, &x));
    c->** p = static_cast<int>(x);
  } else if (auto* p64 = std::get_if<int64_t ModelConfig::*>(&spec.field)) {
    DSV4_RETURN_IF_ERROR(ReadInt64(v, origin, key, INT64_MIN, INT64_MAX, &(c->**p64)));
  } else if (auto* pf = std::get_if<float ModelConfig::*>(&spec.field)) {
    if (!v.is_number()) {
      return KeyError(origin, key,
                      std::string("is a JSON ") + v.type_name() + ", expected a number");
    }
    c->** pf = v.get<float>();
  } else if (auto* pv = std::get_if<std::vector<int> ModelConfig::*>(&spec.field)) {
    if (!v.is_array()) {
      return KeyError(
          origin, key,
          std::string("is a JSON ") + v.type_name() + ", expected an array of integers");
    }
    std::vector<int>& out = c->**pv;
    out.clear();
    for (size_t i = 0; i < v.size(); ++i) {
      int64_t x = 0;
      DSV4_RETURN_IF_ERROR(
          ReadInt64(v[i], origin, key + "[" + std::to_string(i) + "]", INT_MIN, INT_MAX, &x));
      out.push_back(static_cast<int>(x));
    }
  }
  return Status::Ok();
}

// A key whose only meaningful value is the one the engine implements.
Status ExpectValue(const Json& j, const std::string& origin, const char* key, const Json& want) {
  if (!j.contains(key) || j[key] == want) return Status::Ok();
  return Unimplemented(origin + ": key '" + key + "' = " + j[key].dump() + ": only " + want.dump() +
                       " is supported (the DeepSeek-V4 reference)");
}

Status CheckFixedValues(const Json& j, const std::string& origin) {
  DSV4_RETURN_IF_ERROR(ExpectValue(j, origin, "scoring_func", "sqrtsoftplus"));
  DSV4_RETURN_IF_ERROR(ExpectValue(j, origin, "topk_method", "noaux_tc"));
  DSV4_RETURN_IF_ERROR(ExpectValue(j, origin, "norm_topk_prob", true));
  DSV4_RETURN_IF_ERROR(ExpectValue(j, origin, "hidden_act", "silu"));
  DSV4_RETURN_IF_ERROR(ExpectValue(j, origin, "tie_word_embeddings", false));
  DSV4_RETURN_IF_ERROR(ExpectValue(j, origin, "attention_bias", false));
  DSV4_RETURN_IF_ERROR(ExpectValue(j, origin, "model_type", "deepseek_v4"));
  return Status::Ok();
}

// quantization_config must describe the published format: FP8 e4m3 weights in 128x128 blocks
// with power-of-two (ue8m0) scales and dynamic activation quantization.
Status ParseQuantization(const Json& q, const std::string& origin) {
  const std::string where = origin + ": quantization_config";
  if (!q.is_object()) {
    return InvalidArgument(where + " is a JSON " + q.type_name() + ", expected an object");
  }
  const Json expected = {{"quant_method", "fp8"},
                         {"fmt", "e4m3"},
                         {"scale_fmt", "ue8m0"},
                         {"activation_scheme", "dynamic"},
                         {"weight_block_size", {128, 128}}};
  for (const auto& [key, value] : q.items()) {
    if (!expected.contains(key)) {
      return InvalidArgument(where + ": unknown key '" + key + "' — remove it or extend " +
                             "src/io/config.cc if the format really changed");
    }
    if (value != expected[key]) {
      return Unimplemented(where + "." + key + " = " + value.dump() + ": only " +
                           expected[key].dump() + " is supported (FP8 e4m3 weights, 128x128 " +
                           "ue8m0 block scales)");
    }
  }
  for (const char* key : {"quant_method", "weight_block_size"}) {
    if (!q.contains(key)) return InvalidArgument(where + " has no '" + key + "'");
  }
  return Status::Ok();
}

Status ParseRopeScaling(const Json& r, const std::string& origin, ModelConfig* c) {
  if (r.is_null()) return Status::Ok();  // no YaRN anywhere
  if (!r.is_object()) {
    return KeyError(origin, "rope_scaling",
                    std::string("is a JSON ") + r.type_name() + ", expected an object or null");
  }
  for (const auto& [key, value] : r.items()) {
    const std::string full = "rope_scaling." + key;
    if (key == "type" || key == "rope_type") {
      if (value != "yarn") {
        return Unimplemented(origin + ": key '" + full + "' = " + value.dump() +
                             ": only \"yarn\" is supported");
      }
    } else if (key == "original_max_position_embeddings") {
      int64_t x = 0;
      DSV4_RETURN_IF_ERROR(ReadInt64(value, origin, full, 1, INT_MAX, &x));
      c->original_seq_len = static_cast<int>(x);
    } else if (key == "factor" || key == "beta_fast" || key == "beta_slow") {
      if (!value.is_number()) {
        return KeyError(origin, full,
                        std::string("is a JSON ") + value.type_name() + ", expected a number");
      }
      float* out = key == "factor"      ? &c->rope_factor
                   : key == "beta_fast" ? &c->beta_fast
                                        : &c->beta_slow;
      *out = value.get<float>();
    } else {
      return KeyError(origin, full,
                      "is not known (the reference's YaRN uses only type, factor, "
                      "original_max_position_embeddings, beta_fast, beta_slow)");
    }
  }
  if (c->original_seq_len == 0) {
    return KeyError(origin, "rope_scaling.original_max_position_embeddings", "is missing");
  }
  return Status::Ok();
}

Status ParseSpecialKeys(const Json& j, const std::string& origin, ModelConfig* c) {
  if (j.contains("rope_scaling")) {
    DSV4_RETURN_IF_ERROR(ParseRopeScaling(j["rope_scaling"], origin, c));
  }
  // Absent expert_dtype means FP4: the published Flash config omits the key, yet its checkpoint
  // holds MXFP4 experts (spec §10). Deviation from ModelArgs, whose default would mean FP8.
  if (j.contains("expert_dtype")) {
    const Json& e = j["expert_dtype"];
    if (e == "fp4") {
      c->expert_fp4 = true;
    } else if (e == "fp8") {
      c->expert_fp4 = false;
    } else {
      return Unimplemented(origin + ": key 'expert_dtype' = " + e.dump() +
                           ": expected \"fp4\" (MXFP4 experts) or \"fp8\"");
    }
  }
  if (!j.contains("quantization_config")) {
    return Unimplemented(origin +
                         ": no 'quantization_config': this engine runs the FP8 "
                         "checkpoints as published (fp8 e4m3, 128x128 ue8m0 scales)");
  }
  return ParseQuantization(j["quantization_config"], origin);
}

Status CheckKeysKnown(const Json& j, const std::string& origin) {
  std::set<std::string> known;
  for (const FieldSpec& f : kFields) known.insert(f.key);
  for (const char* k : kSpecialKeys) known.insert(k);
  for (const char* k : kHarmlessKeys) known.insert(k);
  for (const auto& [key, value] : j.items()) {
    if (known.count(key) == 0) {
      return InvalidArgument(origin + ": unknown key '" + key +
                             "' — not a DeepSeek-V4 config key this engine knows; if it is "
                             "harmless HF boilerplate, add it to kHarmlessKeys in "
                             "src/io/config.cc");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<ModelConfig> ModelConfig::FromJson(const std::string& json_text, const std::string& origin) {
  const Json j = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return DataLoss(origin + ": not valid JSON — corrupt config file?");
  if (!j.is_object()) {
    return InvalidArgument(origin + ": the config is a JSON " + std::string(j.type_name()) +
                           ", expected an object");
  }
  DSV4_RETURN_IF_ERROR(CheckKeysKnown(j, origin));
  ModelConfig c;
  for (const FieldSpec& f : kFields) {
    if (!j.contains(f.key)) {
      if (f.required) {
        return InvalidArgument(origin + ": required key '" + f.key + "' is missing");
      }
      continue;
    }
    DSV4_RETURN_IF_ERROR(ReadField(j[f.key], f, origin, &c));
  }
  DSV4_RETURN_IF_ERROR(CheckFixedValues(j, origin));
  DSV4_RETURN_IF_ERROR(ParseSpecialKeys(j, origin, &c));
  DSV4_RETURN_IF_ERROR(c.Validate().Annotate(origin));
  return c;
}

Result<ModelConfig> ModelConfig::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open config file");
  std::stringstream text;
  text << in.rdbuf();
  return FromJson(text.str(), path);
}

}  // namespace dsv4
