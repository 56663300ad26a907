// make-model: writes a complete DeepSeek-V4 checkpoint in the official format (config.json with the
// HF keys, sharded safetensors with FP8 e4m3 + e8m0 128×128 scales, MXFP4 experts, BF16/F32 small
// tensors, I64 tid2eid) with seeded random weights. Its text is noise; it exists so the whole path
// runs on a fresh machine (the built-in default model) and so benchmarks have real matrix shapes
// (the *-slice presets: real V4 widths, few layers and experts).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/config.h"

namespace dsv4 {

struct ModelPreset {
  const char* name;
  const char* description;
  ModelConfig config;
  int shards;  // default shard count
};

// The preset table: default, tiny, flash-slice, pro-slice.
const std::vector<ModelPreset>& ModelPresets();
const ModelPreset* FindPreset(const std::string& name);

// config.json text with the real HF field names for `config`.
std::string ConfigJson(const ModelConfig& config);

struct MakeModelOptions {
  std::string out_dir;
  uint64_t seed = 0;
  int shards = 1;
  std::string tokenizer_dir;  // copies tokenizer.json (+ tokenizer_config.json) when non-empty
  bool progress = false;
};

Status MakeModel(const ModelConfig& config, const MakeModelOptions& options);

}  // namespace dsv4
