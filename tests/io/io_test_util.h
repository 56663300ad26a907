// Helpers for the io tests: a self-deleting temp directory, raw file I/O, and a tiny but complete
// DeepSeek-V4 config from which real (zero-filled) checkpoints are written.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/safetensors.h"

namespace dsv4::testing {

#define DSV4_EXPECT_ERROR(status_expr, code_value, substring)                 \
  do {                                                                        \
    const ::dsv4::Status s_ = (status_expr);                                  \
    EXPECT_EQ(s_.code(), code_value) << s_.ToString();                        \
    EXPECT_NE(s_.message().find(substring), std::string::npos)                \
        << "message does not name '" << (substring) << "': " << s_.message(); \
  } while (0)

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "dsv4_io_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A safetensors image: 8-byte little-endian length + header text (as given) + data bytes.
inline std::string SafetensorsImage(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

// Tiny but complete: 2 main layers (CSA, HCA; layer 0 hash-routed) + 1 MTP block (ratio 0).
inline std::string TinyConfigJson() {
  return R"({
  "architectures": ["DeepseekV4ForCausalLM"], "model_type": "deepseek_v4",
  "torch_dtype": "bfloat16", "transformers_version": "4.57.1",
  "vocab_size": 256, "hidden_size": 128, "num_hidden_layers": 2, "num_nextn_predict_layers": 1,
  "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 128, "qk_rope_head_dim": 64,
  "q_lora_rank": 128, "o_groups": 1, "o_lora_rank": 128, "sliding_window": 128,
  "compress_ratios": [4, 128, 0], "index_n_heads": 2, "index_head_dim": 128, "index_topk": 4,
  "n_routed_experts": 4, "n_shared_experts": 1, "num_experts_per_tok": 2,
  "moe_intermediate_size": 128, "num_hash_layers": 1, "routed_scaling_factor": 1.5,
  "scoring_func": "sqrtsoftplus", "swiglu_limit": 10.0, "rms_norm_eps": 1e-06,
  "hc_mult": 4, "hc_sinkhorn_iters": 20, "hc_eps": 1e-06, "rope_theta": 10000,
  "compress_rope_theta": 160000, "max_position_embeddings": 4096, "expert_dtype": "fp4",
  "rope_scaling": {"type": "yarn", "factor": 16, "original_max_position_embeddings": 65536,
                   "beta_fast": 32, "beta_slow": 1},
  "quantization_config": {"quant_method": "fp8", "fmt": "e4m3", "scale_fmt": "ue8m0",
                          "activation_scheme": "dynamic", "weight_block_size": [128, 128]}
})";
}

// One tensor to write, owning its (zero) bytes.
struct OwnedTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

inline OwnedTensor Zeros(std::string name, DType dtype, std::vector<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return {std::move(name), dtype, std::move(shape),
          std::string(static_cast<size_t>(n) * DTypeSize(dtype), '\0')};
}

inline Status WriteOwned(const std::string& path, const std::vector<OwnedTensor>& tensors) {
  std::vector<TensorToWrite> w;
  for (const OwnedTensor& t : tensors) {
    w.push_back({t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
  }
  return WriteSafetensors(path, w, {{"format", "pt"}});
}

}  // namespace dsv4::testing
