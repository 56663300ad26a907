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

// A named model shape. Adding one is a line in ModelPresets() (make_model.cc) plus, when its shape
// is new, a function returning its ModelConfig (see FlashSlice()).
struct ModelPreset {
  const char* name;
  const char* description;
  ModelConfig config;
  int shards;  // default shard count
};

// The vocabulary of the real DeepSeek tokenizer: presets of this size get tokenizer.json copied.
inline constexpr int kDeepSeekVocab = 129280;

// The preset table: default, tiny, flash-slice, pro-slice.
const std::vector<ModelPreset>& ModelPresets();
const ModelPreset* FindPreset(const std::string& name);

// config.json text with the real HF field names for `config`.
std::string ConfigJson(const ModelConfig& config);

struct MakeModelOptions {
  std::string out_dir;
  uint64_t seed = 0;
  int shards = 1;
  // A tokenizer.json path or a directory holding one: copied (with tokenizer_config.json when
  // present) when non-empty. Only for a vocabulary the tokenizer fits (the real 129280 tokens).
  std::string tokenizer;
  bool progress = false;
  std::string preset_name;  // recorded in the model card
};

// Written next to the checkpoint: {"producer", "preset", "random_weights": true, "seed", "note"}.
// Not part of config.json, whose unknown keys the loader rejects.
inline constexpr char kModelCardFile[] = "dsv4_model_card.json";

// Writes config.json, the safetensors shard(s) (+ model.safetensors.index.json when shards > 1),
// the model card and the tokenizer. Deterministic: the same config and seed give the same bytes.
Status MakeModel(const ModelConfig& config, const MakeModelOptions& options);

}  // namespace dsv4
