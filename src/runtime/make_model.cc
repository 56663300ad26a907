#include "runtime/make_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "base/numeric.h"
#include "io/safetensors.h"
#include "model/weights_table.h"

namespace dsv4 {
namespace {

namespace fs = std::filesystem;

ModelConfig BaseConfig() {
  ModelConfig c;
  c.head_dim = 512;
  c.rope_head_dim = 64;
  c.window_size = 128;
  c.index_head_dim = 128;
  c.n_shared_experts = 1;
  c.n_mtp_layers = 1;
  c.hc_mult = 4;
  c.hc_sinkhorn_iters = 20;
  c.hc_eps = 1e-6f;
  c.norm_eps = 1e-6f;
  c.swiglu_limit = 10.0f;
  c.rope_theta = 10000.0f;
  c.compress_rope_theta = 160000.0f;
  c.original_seq_len = 65536;
  c.rope_factor = 16.0f;
  c.beta_fast = 32.0f;
  c.beta_slow = 1.0f;
  c.max_position_embeddings = 1048576;
  c.bos_token_id = 0;
  c.eos_token_id = 1;
  c.expert_fp4 = true;
  return c;
}

// Shapes of the built-in small models; the slices take their widths from the real configs
// (../shared/configs) with only a few layers and experts.
ModelConfig Small(int vocab) {
  ModelConfig c = BaseConfig();
  c.vocab_size = vocab;
  c.dim = 256;
  c.n_layers = 4;
  c.compress_ratios = {0, 0, 4, 128, 0};
  c.n_heads = 4;
  c.q_lora_rank = 128;
  c.o_groups = 2;
  c.o_lora_rank = 128;
  c.index_n_heads = 4;
  c.index_topk = 16;
  c.n_routed_experts = 8;
  c.n_activated_experts = 2;
  c.moe_inter_dim = 128;
  c.n_hash_layers = 1;
  c.route_scale = 1.5f;
  return c;
}

ModelConfig FlashSlice() {
  ModelConfig c = BaseConfig();
  c.vocab_size = kDeepSeekVocab;
  c.dim = 4096;
  c.n_layers = 4;
  c.compress_ratios = {0, 0, 4, 128, 0};  // V4-Flash starts 0, 0, 4, 128
  c.n_heads = 64;
  c.q_lora_rank = 1024;
  c.o_groups = 8;
  c.o_lora_rank = 1024;
  c.index_n_heads = 64;
  c.index_topk = 512;
  c.n_routed_experts = 16;
  c.n_activated_experts = 6;
  c.moe_inter_dim = 2048;
  c.n_hash_layers = 1;
  c.route_scale = 1.5f;
  return c;
}

ModelConfig ProSlice() {
  ModelConfig c = FlashSlice();
  c.dim = 7168;
  c.compress_ratios = {128, 128, 4, 128, 0};  // V4-Pro starts 128, 128, 4, 128
  c.n_heads = 128;
  c.q_lora_rank = 1536;
  c.o_groups = 16;
  c.index_topk = 1024;
  c.moe_inter_dim = 3072;
  c.route_scale = 2.5f;
  return c;
}

// xorshift64*: fast, seedable, identical everywhere.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull) {}
  uint64_t Next() {
    s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  float Uniform() { return (Next() >> 40) * (1.0f / 16777216.0f); }
  float Normal() {  // Box-Muller
    const float u = std::max(Uniform(), 1e-7f), v = Uniform();
    return std::sqrt(-2.0f * std::log(u)) * std::cos(6.2831853f * v);
  }
};

// 4096 pre-drawn standard normal samples, reused with random offsets: filling gigabytes of
// weights must not cost a log/cos per element.
struct NormalTable {
  std::vector<float> v;
  explicit NormalTable(Rng& rng) : v(4096) {
    for (float& x : v) x = rng.Normal();
  }
  float Get(Rng& rng) const { return v[rng.Next() >> 52]; }
};

int Log2Round(double x) { return static_cast<int>(std::lround(std::log2(x))); }

// Data for one tensor (and its scale when quantized), by name and dtype.
struct Filled {
  std::vector<uint8_t> data, scale;
};

Filled Fill(const TensorSpec& spec, const TensorSpec* scale_spec, const ModelConfig& cfg, Rng& rng,
            const NormalTable& normal) {
  Filled f;
  const int64_t n = spec.numel();
  const std::string& name = spec.name;
  const int64_t rows = spec.shape.empty() ? 1 : spec.shape[0];
  const int64_t cols = spec.shape.size() > 1 ? spec.shape[1] : 1;
  auto ends = [&](const char* suffix) { return name.ends_with(suffix); };
  switch (spec.dtypes[0]) {
    case DType::kF8E4M3: {  // W ≈ N(0, 1/K): codes of 64·g, block scale 2^round(log2(1/(64·sqrt(K))))
      f.data.resize(n);
      for (int64_t i = 0; i < n; ++i) f.data[i] = FloatToE4M3(std::clamp(64.0f * normal.Get(rng), -448.0f, 448.0f));
      f.scale.assign(scale_spec->numel(), static_cast<uint8_t>(127 + Log2Round(1.0 / (64.0 * std::sqrt(double(cols))))));
      break;
    }
    case DType::kI8: {  // MXFP4: nibbles of 2·g, per-32 scale 2^round(log2(1/(2·sqrt(K))))
      f.data.resize(n);
      for (int64_t i = 0; i < n; ++i) {
        f.data[i] = static_cast<uint8_t>(FloatToE2M1(2.0f * normal.Get(rng)) |
                                         (FloatToE2M1(2.0f * normal.Get(rng)) << 4));
      }
      f.scale.assign(scale_spec->numel(), static_cast<uint8_t>(127 + Log2Round(1.0 / (2.0 * std::sqrt(2.0 * cols)))));
      break;
    }
    case DType::kBF16: {
      f.data.resize(n * 2);
      uint16_t* out = reinterpret_cast<uint16_t*>(f.data.data());
      const bool norm = ends("norm.weight");
      const float std = name == "embed.weight" ? 1.0f : 1.0f / std::sqrt(static_cast<float>(cols));
      for (int64_t i = 0; i < n; ++i) out[i] = FloatToBf16(norm ? 1.0f : std * normal.Get(rng));
      break;
    }
    case DType::kF32: {
      f.data.resize(n * 4);
      float* out = reinterpret_cast<float*>(f.data.data());
      float std = 0.0f, constant = 0.0f;
      if (ends("_fn")) std = 0.5f / std::sqrt(static_cast<float>(cols));  // hc mixes
      if (ends("_scale")) constant = 1.0f;                                // hc scales
      if (ends("ape")) std = 0.1f;
      // attn_sink, hc bases and gate.bias stay 0.
      for (int64_t i = 0; i < n; ++i) out[i] = constant + std * (std > 0 ? normal.Get(rng) : 0.0f);
      break;
    }
    case DType::kI64:
    case DType::kI32: {  // tid2eid [V, k]: k distinct experts per token id
      const size_t es = spec.dtypes[0] == DType::kI64 ? 8 : 4;
      f.data.resize(n * es);
      for (int64_t r = 0; r < rows; ++r) {
        std::vector<int64_t> chosen;
        while (static_cast<int64_t>(chosen.size()) < cols) {
          const int64_t e = static_cast<int64_t>(rng.Next() % static_cast<uint64_t>(cfg.n_routed_experts));
          if (std::find(chosen.begin(), chosen.end(), e) == chosen.end()) chosen.push_back(e);
        }
        for (int64_t c = 0; c < cols; ++c) {
          if (es == 8) std::memcpy(&f.data[(r * cols + c) * 8], &chosen[c], 8);
          else {
            const int32_t v = static_cast<int32_t>(chosen[c]);
            std::memcpy(&f.data[(r * cols + c) * 4], &v, 4);
          }
        }
      }
      break;
    }
    default:
      f.data.assign(spec.nbytes(), 0);
  }
  return f;
}

Status WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) return InvalidArgument("cannot write " + path.string());
  return Status::Ok();
}

// Weights of an earlier make-model in `dir` (another shard count leaves other file names behind).
Status RemoveOldWeights(const fs::path& dir) {
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const bool weights = name == "model.safetensors" || name == "model.safetensors.index.json" ||
                         (name.starts_with("model-") && name.ends_with(".safetensors"));
    if (weights) fs::remove(e.path(), ec);
    if (ec) return InvalidArgument("cannot remove " + e.path().string() + ": " + ec.message());
  }
  if (ec) return InvalidArgument("cannot list " + dir.string() + ": " + ec.message());
  return Status::Ok();
}

// Copies tokenizer.json (+ tokenizer_config.json when present) from `from`: a tokenizer.json path
// or a directory holding one.
Status CopyTokenizer(const fs::path& from, const fs::path& dir) {
  const fs::path src_dir = fs::is_directory(from) ? from : from.parent_path();
  const fs::path json = fs::is_directory(from) ? from / "tokenizer.json" : from;
  if (!fs::is_regular_file(json)) {
    return NotFound(json.string() + " not found (scripts/fetch-tokenizer.sh fetches the real one "
                                    "into models/tokenizer)");
  }
  std::error_code ec;
  fs::copy_file(json, dir / "tokenizer.json", fs::copy_options::overwrite_existing, ec);
  const fs::path config = src_dir / "tokenizer_config.json";
  if (!ec && fs::exists(config)) {
    fs::copy_file(config, dir / "tokenizer_config.json", fs::copy_options::overwrite_existing, ec);
  }
  if (ec) return InvalidArgument("cannot copy the tokenizer from " + from.string() + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

const std::vector<ModelPreset>& ModelPresets() {
  static const std::vector<ModelPreset> presets = {
      {"default",
       "built-in default model: 4 layers (SWA, SWA, CSA, HCA) + MTP, D 256, the real "
       "129280-token vocabulary and tokenizer",
       Small(kDeepSeekVocab), 1},
      // No tokenizer: the real one's ids (special tokens up to 129279) do not fit 2048 rows.
      {"tiny", "as default with a 2048-token vocabulary (fast tests; ids only, no tokenizer)",
       Small(2048), 1},
      {"flash-slice",
       "V4-Flash widths (D 4096, 64 heads, q_lora 1024, 8x1024 o-groups, indexer 64x128 "
       "top-512, expert 2048), 4 layers, 16 experts",
       FlashSlice(), 4},
      {"pro-slice",
       "V4-Pro widths (D 7168, 128 heads, q_lora 1536, 16x1024 o-groups, indexer 64x128 "
       "top-1024, expert 3072), 4 layers, 16 experts",
       ProSlice(), 8},
  };
  return presets;
}

const ModelPreset* FindPreset(const std::string& name) {
  for (const ModelPreset& p : ModelPresets()) {
    if (name == p.name) return &p;
  }
  return nullptr;
}

// A config number as the published configs write it: integers without a fraction (10000), other
// values in their shortest form that reads back as the same float (1e-06, not 9.99999997e-07).
nlohmann::ordered_json Num(float v) {
  constexpr float kExactIntegers = 9007199254740992.0f;  // 2^53
  if (v == std::floor(v) && std::fabs(v) < kExactIntegers) return static_cast<int64_t>(v);
  for (int digits = 1;; ++digits) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*g", digits, static_cast<double>(v));
    const double shortest = std::strtod(buf, nullptr);
    if (static_cast<float>(shortest) == v || digits >= 9) return shortest;
  }
}

std::string ConfigJson(const ModelConfig& c) {
  // The key set and order of the published V4-Flash config.json (expert_dtype only when not FP4:
  // Flash omits it, and absent means FP4).
  nlohmann::ordered_json j = {
      {"architectures", {"DeepseekV4ForCausalLM"}},
      {"attention_bias", false},
      {"attention_dropout", 0.0},
      {"bos_token_id", c.bos_token_id},
      {"eos_token_id", c.eos_token_id},
  };
  if (!c.expert_fp4) j["expert_dtype"] = "fp8";
  nlohmann::ordered_json rest = {
      {"hc_eps", Num(c.hc_eps)},
      {"hc_mult", c.hc_mult},
      {"hc_sinkhorn_iters", c.hc_sinkhorn_iters},
      {"head_dim", c.head_dim},
      {"hidden_act", "silu"},
      {"hidden_size", c.dim},
      {"index_head_dim", c.index_head_dim},
      {"index_n_heads", c.index_n_heads},
      {"index_topk", c.index_topk},
      {"initializer_range", 0.02},
      {"max_position_embeddings", c.max_position_embeddings},
      {"model_type", "deepseek_v4"},
      {"moe_intermediate_size", c.moe_inter_dim},
      {"n_routed_experts", c.n_routed_experts},
      {"n_shared_experts", c.n_shared_experts},
      {"norm_topk_prob", true},
      {"num_attention_heads", c.n_heads},
      {"num_experts_per_tok", c.n_activated_experts},
      {"num_hidden_layers", c.n_layers},
      {"num_hash_layers", c.n_hash_layers},
      {"num_key_value_heads", c.n_kv_heads},
      {"num_nextn_predict_layers", c.n_mtp_layers},
      {"o_groups", c.o_groups},
      {"o_lora_rank", c.o_lora_rank},
      {"q_lora_rank", c.q_lora_rank},
      {"qk_rope_head_dim", c.rope_head_dim},
      {"quantization_config", {{"activation_scheme", "dynamic"}, {"fmt", "e4m3"}, {"quant_method", "fp8"},
                               {"scale_fmt", "ue8m0"}, {"weight_block_size", {128, 128}}}},
      {"rms_norm_eps", Num(c.norm_eps)},
      {"rope_scaling", {{"beta_fast", Num(c.beta_fast)}, {"beta_slow", Num(c.beta_slow)},
                        {"factor", Num(c.rope_factor)},
                        {"original_max_position_embeddings", c.original_seq_len}, {"type", "yarn"}}},
      {"rope_theta", Num(c.rope_theta)},
      {"routed_scaling_factor", Num(c.route_scale)},
      {"scoring_func", "sqrtsoftplus"},
      {"sliding_window", c.window_size},
      {"swiglu_limit", static_cast<double>(c.swiglu_limit)},  // 10.0, a Python float
      {"tie_word_embeddings", false},
      {"topk_method", "noaux_tc"},
      {"torch_dtype", "bfloat16"},
      {"transformers_version", "4.57.1"},
      {"use_cache", true},
      {"vocab_size", c.vocab_size},
      {"compress_rope_theta", Num(c.compress_rope_theta)},
      {"compress_ratios", c.compress_ratios},
  };
  for (auto& [key, value] : rest.items()) j[key] = value;
  return j.dump(2) + "\n";
}

Status MakeModel(const ModelConfig& config, const MakeModelOptions& o) {
  DSV4_RETURN_IF_ERROR(config.Validate());
  if (o.shards < 1) return InvalidArgument("--shards must be at least 1");
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec) return InvalidArgument("cannot create " + o.out_dir + ": " + ec.message());
  const fs::path dir(o.out_dir);
  DSV4_RETURN_IF_ERROR(RemoveOldWeights(dir));
  DSV4_RETURN_IF_ERROR(WriteText(dir / "config.json", ConfigJson(config)));

  const std::vector<TensorSpec> specs = CheckpointTensors(config);
  std::map<std::string, const TensorSpec*> by_name;
  int64_t total = 0;
  for (const TensorSpec& s : specs) {
    by_name[s.name] = &s;
    total += s.nbytes();
  }
  Rng rng(o.seed);
  const NormalTable normal(rng);
  const int64_t per_shard = (total + o.shards - 1) / o.shards;
  // Shards actually used: tensors are never split, so one larger than a shard's share (the head
  // of pro-slice) leaves fewer files than asked for. Planned first, so the names say "-of-N" right.
  auto scale_of = [&](const TensorSpec& s) -> const TensorSpec* {
    const bool quantized =
        s.dtypes[0] == DType::kF8E4M3 || (s.dtypes[0] == DType::kI8 && s.expert >= 0);
    if (!quantized) return nullptr;
    auto it = by_name.find(s.name.substr(0, s.name.size() - 7) + ".scale");
    return it == by_name.end() ? nullptr : it->second;
  };
  int n_shards = 1;
  {
    int64_t bytes = 0;
    for (const TensorSpec& s : specs) {
      if (s.name.ends_with(".scale")) continue;
      if (bytes > 0 && bytes + s.nbytes() > per_shard && n_shards < o.shards) ++n_shards, bytes = 0;
      const TensorSpec* scale = scale_of(s);
      bytes += s.nbytes() + (scale ? scale->nbytes() : 0);
    }
  }
  if (n_shards != o.shards && o.progress) {
    std::fprintf(stderr, "make-model: %d shards (asked for %d; tensors are not split)\n", n_shards,
                 o.shards);
  }
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  std::vector<Filled> held;  // data of the shard being assembled (pointers must stay valid)
  std::vector<TensorToWrite> pending;
  int64_t shard_bytes = 0, written = 0;
  int shard = 0;
  auto shard_name = [&](int i) {
    if (n_shards == 1) return std::string("model.safetensors");
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", i + 1, n_shards);
    return std::string(buf);
  };
  auto flush = [&]() -> Status {
    if (pending.empty()) return Status::Ok();
    const std::string file = shard_name(shard);
    DSV4_RETURN_IF_ERROR(WriteSafetensors((dir / file).string(), pending, {{"format", "pt"}}));
    for (const TensorToWrite& t : pending) weight_map[t.name] = file;
    written += shard_bytes;
    if (o.progress) {
      std::fprintf(stderr, "make-model: wrote %s (%.1f MB, %.0f%%)\n", file.c_str(), shard_bytes / 1e6,
                   100.0 * written / std::max<int64_t>(total, 1));
    }
    pending.clear();
    held.clear();
    shard_bytes = 0;
    ++shard;
    return Status::Ok();
  };
  held.reserve(specs.size());
  for (const TensorSpec& s : specs) {
    if (s.name.ends_with(".scale")) continue;  // written together with its weight
    const bool quantized = s.dtypes[0] == DType::kF8E4M3 || (s.dtypes[0] == DType::kI8 && s.expert >= 0);
    const TensorSpec* scale = nullptr;
    if (quantized) {
      auto it = by_name.find(s.name.substr(0, s.name.size() - 7) + ".scale");
      if (it == by_name.end()) return Internal("tensor table has no scale for " + s.name);
      scale = it->second;
    }
    if (shard_bytes > 0 && shard_bytes + s.nbytes() > per_shard && shard + 1 < n_shards) {
      DSV4_RETURN_IF_ERROR(flush());
    }
    held.push_back(Fill(s, scale, config, rng, normal));
    const Filled& f = held.back();
    pending.push_back({s.name, s.dtypes[0], s.shape, f.data.data(), f.data.size()});
    shard_bytes += static_cast<int64_t>(f.data.size());
    if (scale) {
      pending.push_back({scale->name, scale->dtypes[0], scale->shape, f.scale.data(), f.scale.size()});
      shard_bytes += static_cast<int64_t>(f.scale.size());
    }
  }
  DSV4_RETURN_IF_ERROR(flush());
  if (n_shards > 1) {
    if (shard != n_shards) return Internal("make-model: shard plan and writer disagree");
    nlohmann::ordered_json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    DSV4_RETURN_IF_ERROR(WriteText(dir / "model.safetensors.index.json", index.dump(2) + "\n"));
  }
  nlohmann::ordered_json card = {
      {"producer", "dsv4 make-model"},
      {"preset", o.preset_name},
      {"random_weights", true},
      {"seed", o.seed},
      {"note", "random weights: generated text is noise; this model exists to exercise the engine"}};
  DSV4_RETURN_IF_ERROR(WriteText(dir / kModelCardFile, card.dump(2) + "\n"));
  if (!o.tokenizer.empty()) DSV4_RETURN_IF_ERROR(CopyTokenizer(o.tokenizer, dir));
  return Status::Ok();
}

}  // namespace dsv4
