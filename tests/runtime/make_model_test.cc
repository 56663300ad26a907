// make-model writes checkpoints that the loader validates against the tensor table and that run.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/model.h"
#include "runtime/make_model.h"
#include "runtime/sequence.h"

namespace dsv4 {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

fs::path Make(const std::string& tag, uint64_t seed, int shards) {
  const fs::path dir = fs::temp_directory_path() / ("dsv4_mm_" + tag + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  const Status s = MakeModel(FindPreset("tiny")->config, MakeModelOptions{.out_dir = dir.string(), .seed = seed, .shards = shards});
  EXPECT_TRUE(s.ok()) << s.ToString();
  return dir;
}

TEST(MakeModel, TinyLoadsAndRuns) {
  for (int shards : {1, 2}) {
    const fs::path dir = Make("run" + std::to_string(shards), 1, shards);
    EXPECT_EQ(fs::exists(dir / "model.safetensors.index.json"), shards > 1);
    auto model = Model::Load(dir.string());
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    Sequence seq(**model, SequenceOptions{.mtp = true});
    std::vector<float> logits, mtp;
    const std::vector<int32_t> prompt = {0, 17, 300, 2047, 5, 6, 7, 8, 9};
    ASSERT_TRUE(seq.Append(prompt, &logits).ok());
    ASSERT_TRUE(seq.MtpLogits(3, &mtp).ok());
    float lo = logits[0], hi = logits[0];
    for (float v : logits) {
      ASSERT_TRUE(std::isfinite(v));
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    EXPECT_GT(hi - lo, 0.1f);  // not degenerate
    fs::remove_all(dir);
  }
}

TEST(MakeModel, SeedDeterminesTheWeights) {
  const fs::path a = Make("a", 7, 1), b = Make("b", 7, 1), c = Make("c", 8, 1);
  EXPECT_EQ(Slurp(a / "model.safetensors"), Slurp(b / "model.safetensors"));
  EXPECT_NE(Slurp(a / "model.safetensors"), Slurp(c / "model.safetensors"));
  EXPECT_EQ(Slurp(a / "config.json"), Slurp(c / "config.json"));
  for (const auto& d : {a, b, c}) fs::remove_all(d);
}

TEST(MakeModel, EveryPresetHasAValidConfig) {
  for (const ModelPreset& p : ModelPresets()) {
    EXPECT_TRUE(p.config.Validate().ok()) << p.name;
    auto parsed = ModelConfig::FromJson(ConfigJson(p.config), p.name);
    ASSERT_TRUE(parsed.ok()) << p.name << ": " << parsed.status().ToString();
    EXPECT_EQ(parsed->dim, p.config.dim);
    EXPECT_EQ(parsed->compress_ratios, p.config.compress_ratios);
  }
  EXPECT_EQ(FindPreset("nonexistent"), nullptr);
}

// Tensors are never split: asking for more shards than the tensors fill gives fewer files, named
// with the number actually written (pro-slice's 1.85 GB head once left "-of-00008" names with 7
// files and an error), and the checkpoint loads.
TEST(MakeModel, MoreShardsThanTensorsFillAreNamedByTheCountWritten) {
  const fs::path dir = Make("many", 1, 100000);
  int files = 0;
  std::string name;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".safetensors") ++files, name = e.path().filename().string();
  }
  ASSERT_GT(files, 1);
  EXPECT_LT(files, 100000);
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "-of-%05d.safetensors", files);
  EXPECT_TRUE(name.ends_with(suffix)) << name;
  auto model = Model::Load(dir.string());
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsv4
