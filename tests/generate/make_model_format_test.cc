// make-model writes the official format: the published config key set, FP8 weights whose
// dequantized values have the intended scale, tid2eid rows of distinct experts, the model card, and
// the tokenizer copied from a file or a directory. (Load round trips and seed determinism for 1
// and 2 shards: tests/runtime/make_model_test.cc.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <unistd.h>

#include "base/numeric.h"
#include "io/checkpoint.h"
#include "model/model.h"
#include "runtime/make_model.h"

namespace dsv4 {
namespace {

namespace fs = std::filesystem;

nlohmann::ordered_json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::ordered_json::parse(in);
}

fs::path TempDir(const std::string& tag) {
  const fs::path dir = fs::temp_directory_path() / ("dsv4_mmf_" + tag + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  return dir;
}

TEST(MakeModelFormat, ConfigHasThePublishedKeysInOrder) {
  const auto flash = ReadJson(fs::path(DSV4_SHARED_DIR) / "configs/v4-flash/config.json");
  for (const ModelPreset& p : ModelPresets()) {
    const auto ours = nlohmann::ordered_json::parse(ConfigJson(p.config));
    std::vector<std::string> a, b;
    for (const auto& [k, v] : flash.items()) a.push_back(k);
    for (const auto& [k, v] : ours.items()) b.push_back(k);
    EXPECT_EQ(a, b) << p.name;
    EXPECT_EQ(ours["rope_theta"].dump(), "10000") << "integers are written as the published file";
    EXPECT_EQ(ours["hc_eps"].dump(), "1e-06");
    EXPECT_EQ(ours["quantization_config"], flash["quantization_config"]);
  }
  // The slices take the real widths.
  const auto slice = nlohmann::json::parse(ConfigJson(FindPreset("flash-slice")->config));
  for (const char* k : {"hidden_size", "num_attention_heads", "q_lora_rank", "o_groups",
                        "o_lora_rank", "index_topk", "moe_intermediate_size", "vocab_size"}) {
    EXPECT_EQ(slice[k], flash[k]) << k;
  }
}

TEST(MakeModelFormat, WeightsCardAndTokenizer) {
  const fs::path dir = TempDir("w");
  // A tokenizer.json given as a file path: tokenizer_config.json next to it comes along.
  const fs::path tok = TempDir("tok");
  fs::create_directories(tok);
  std::ofstream(tok / "tokenizer.json") << "{}";
  std::ofstream(tok / "tokenizer_config.json") << "{\"x\": 1}";
  const ModelConfig& cfg = FindPreset("tiny")->config;
  ASSERT_TRUE(MakeModel(cfg, {.out_dir = dir.string(),
                              .seed = 4,
                              .tokenizer = (tok / "tokenizer.json").string(),
                              .preset_name = "tiny"})
                  .ok());
  EXPECT_TRUE(fs::exists(dir / "tokenizer.json"));
  EXPECT_TRUE(fs::exists(dir / "tokenizer_config.json"));
  const auto card = ReadJson(dir / kModelCardFile);
  EXPECT_EQ(card["random_weights"], true);
  EXPECT_EQ(card["preset"], "tiny");
  EXPECT_EQ(card["seed"], 4);

  auto ckpt = Checkpoint::Open(dir.string());
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  // FP8 e4m3 with e8m0 128x128 block scales; dequantized std ≈ 1/sqrt(K) (within the power-of-two
  // rounding of the scale: a factor of sqrt(2)).
  const TensorView* w = (*ckpt)->Find("layers.0.attn.wq_a.weight");
  const TensorView* s = (*ckpt)->Find("layers.0.attn.wq_a.scale");
  ASSERT_TRUE(w && s);
  EXPECT_EQ(w->dtype, DType::kF8E4M3);
  EXPECT_EQ(s->dtype, DType::kF8E8M0);
  double sum2 = 0;
  const float scale = E8M0ToFloat(s->data[0]);
  for (int64_t c = 0; c < 128; ++c) sum2 += std::pow(E4M3ToFloat(w->data[c]) * scale, 2.0);
  const double std_dev = std::sqrt(sum2 / 128), target = 1.0 / std::sqrt(double(w->shape[1]));
  EXPECT_GT(std_dev, target / 2);
  EXPECT_LT(std_dev, target * 2);
  // Hash layers route each token id to distinct experts.
  const TensorView* t = (*ckpt)->Find("layers.0.ffn.gate.tid2eid");
  ASSERT_TRUE(t);
  ASSERT_EQ(t->dtype, DType::kI64);
  const int64_t k = t->shape[1];
  for (int64_t row = 0; row < t->shape[0]; row += 97) {
    std::set<int64_t> experts;
    for (int64_t j = 0; j < k; ++j) {
      int64_t e;
      std::memcpy(&e, t->data + (row * k + j) * 8, 8);
      EXPECT_GE(e, 0);
      EXPECT_LT(e, cfg.n_routed_experts);
      experts.insert(e);
    }
    EXPECT_EQ(static_cast<int64_t>(experts.size()), k) << "row " << row;
  }
  fs::remove_all(dir);
  fs::remove_all(tok);
}

TEST(MakeModelFormat, MissingTokenizerIsAnError) {
  const fs::path dir = TempDir("notok");
  const Status s = MakeModel(FindPreset("tiny")->config,
                             {.out_dir = dir.string(), .tokenizer = "/nonexistent/tokenizer"});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("fetch-tokenizer"), std::string::npos) << s.ToString();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsv4
