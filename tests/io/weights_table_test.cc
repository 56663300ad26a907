// The tensor table against real checkpoints: every golden checkpoint validates, the table order
// is the checkpoint order, and a real checkpoint written from a tiny config fails validation with
// a message naming the tensor when one tensor is missing, extra, or of the wrong shape/dtype.
#include "model/weights_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "io_test_util.h"

namespace dsv4 {
namespace {

using testing::OwnedTensor;
using testing::TempDir;
using testing::Zeros;

const std::string kShared = DSV4_SHARED_DIR;

ModelConfig TinyConfig() {
  auto c = ModelConfig::FromJson(testing::TinyConfigJson(), "tiny");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.value();
}

std::vector<OwnedTensor> TableTensors(const ModelConfig& c) {
  std::vector<OwnedTensor> out;
  for (const TensorSpec& t : CheckpointTensors(c))
    out.push_back(Zeros(t.name, t.dtypes[0], t.shape));
  return out;
}

OwnedTensor* FindTensor(std::vector<OwnedTensor>& tensors, const std::string& name) {
  for (OwnedTensor& t : tensors) {
    if (t.name == name) return &t;
  }
  ADD_FAILURE() << "no tensor " << name;
  return nullptr;
}

// Writes `tensors` as dir/model.safetensors and validates it against `config`.
Status WriteAndValidate(const TempDir& dir, const std::vector<OwnedTensor>& tensors,
                        const ModelConfig& config) {
  Status st = testing::WriteOwned(dir / "model.safetensors", tensors);
  if (!st.ok()) return st;
  auto ckpt = Checkpoint::Open(dir.path());
  if (!ckpt.ok()) return ckpt.status();
  return ValidateCheckpoint(**ckpt, config);
}

TEST(WeightsTable, GoldenCheckpointsValidate) {
  for (const char* name : {"pro-tiny", "flash-tiny", "short-prompt"}) {
    const std::string dir = kShared + "/golden/" + name + "/model";
    auto config = ModelConfig::FromFile(dir + "/config.json");
    ASSERT_TRUE(config.ok()) << config.status().ToString();
    auto ckpt = Checkpoint::Open(dir);
    ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
    const Status st = ValidateCheckpoint(**ckpt, *config);
    EXPECT_TRUE(st.ok()) << name << ": " << st.ToString();
    EXPECT_EQ(CheckpointTensors(*config).size(), (*ckpt)->tensors().size()) << name;
  }
}

// "In checkpoint order": the table lists pro-tiny's tensors in the order of their data offsets.
TEST(WeightsTable, OrderIsTheCheckpointOrder) {
  const std::string dir = kShared + "/golden/pro-tiny/model";
  auto config = ModelConfig::FromFile(dir + "/config.json");
  ASSERT_TRUE(config.ok());
  auto ckpt = Checkpoint::Open(dir);
  ASSERT_TRUE(ckpt.ok());
  std::vector<const TensorView*> by_offset;
  for (const auto& [name, view] : (*ckpt)->tensors()) by_offset.push_back(view);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorView* a, const TensorView* b) { return a->data < b->data; });
  const std::vector<TensorSpec> table = CheckpointTensors(*config);
  ASSERT_EQ(table.size(), by_offset.size());
  for (size_t i = 0; i < table.size(); ++i) {
    ASSERT_EQ(table[i].name, by_offset[i]->name) << "position " << i;
  }
}

// Spec §10: the published Flash checkpoint holds 159,609,485,896 bytes of tensors.
TEST(WeightsTable, FlashBytesMatchThePublishedCheckpoint) {
  auto config = ModelConfig::FromFile(kShared + "/configs/v4-flash/config.json");
  ASSERT_TRUE(config.ok());
  int64_t bytes = 0;
  for (const TensorSpec& t : CheckpointTensors(*config)) bytes += t.nbytes();
  EXPECT_EQ(bytes, 159609485896);
}

TEST(WeightsTable, TinyCheckpointFromTheTableValidates) {
  TempDir dir;
  const ModelConfig c = TinyConfig();
  const Status st = WriteAndValidate(dir, TableTensors(c), c);
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST(WeightsTable, MissingTensor) {
  TempDir dir;
  const ModelConfig c = TinyConfig();
  std::vector<OwnedTensor> t = TableTensors(c);
  t.erase(std::find_if(t.begin(), t.end(), [](const OwnedTensor& x) {
    return x.name == "layers.1.ffn.experts.3.w2.weight";
  }));
  DSV4_EXPECT_ERROR(WriteAndValidate(dir, t, c), StatusCode::kNotFound,
                    "tensor 'layers.1.ffn.experts.3.w2.weight' (layer 1 (HCA, ratio 128), "
                    "routed_expert expert 3) is missing");
}

TEST(WeightsTable, MissingIndexerOfCsaLayer) {
  TempDir dir;
  const ModelConfig c = TinyConfig();
  std::vector<OwnedTensor> t = TableTensors(c);
  std::erase_if(t,
                [](const OwnedTensor& x) { return x.name.find(".indexer.") != std::string::npos; });
  const Status st = WriteAndValidate(dir, t, c);
  DSV4_EXPECT_ERROR(st, StatusCode::kNotFound,
                    "tensor 'layers.0.attn.indexer.wq_b.weight' (layer 0 (CSA, ratio 4, "
                    "hash-routed), indexer) is missing");
  EXPECT_NE(st.message().find("more problems"), std::string::npos);
}

TEST(WeightsTable, UnexpectedTensor) {
  TempDir dir;
  const ModelConfig c = TinyConfig();
  std::vector<OwnedTensor> t = TableTensors(c);
  t.push_back(Zeros("layers.1.attn.indexer.wq_b.weight", DType::kF8E4M3, {256, 128}));
  DSV4_EXPECT_ERROR(
      WriteAndValidate(dir, t, c), StatusCode::kInvalidArgument,
      "unexpected tensor 'layers.1.attn.indexer.wq_b.weight' in " + (dir / "model.safetensors"));
}

TEST(WeightsTable, ExtraLayerHintsAtNumHiddenLayers) {
  TempDir dir;
  const ModelConfig c = TinyConfig();
  std::vector<OwnedTensor> t = TableTensors(c);
  t.push_back(Zeros("layers.2.attn_norm.weight", DType::kBF16, {128}));
  DSV4_EXPECT_ERROR(WriteAndValidate(dir, t, c), StatusCode::kInvalidArgument,
                    "config.json says num_hidden_layers = 2");
}

TEST(WeightsTable, ShapeContradictsConfig) {
  TempDir dir;
  const ModelConfig c = TinyConfig();
  std::vector<OwnedTensor> t = TableTensors(c);
  *FindTensor(t, "layers.0.attn.wq_a.weight") =
      Zeros("layers.0.attn.wq_a.weight", DType::kF8E4M3, {128, 256});
  DSV4_EXPECT_ERROR(WriteAndValidate(dir, t, c), StatusCode::kInvalidArgument,
                    "tensor 'layers.0.attn.wq_a.weight': expected F8_E4M3 [128, 128], got "
                    "F8_E4M3 [128, 256]");
}

TEST(WeightsTable, DtypeContradictsConfig) {
  TempDir dir;
  const ModelConfig c = TinyConfig();
  std::vector<OwnedTensor> t = TableTensors(c);
  *FindTensor(t, "layers.1.ffn.experts.2.w1.weight") =
      Zeros("layers.1.ffn.experts.2.w1.weight", DType::kBF16, {128, 128});
  DSV4_EXPECT_ERROR(WriteAndValidate(dir, t, c), StatusCode::kInvalidArgument,
                    "tensor 'layers.1.ffn.experts.2.w1.weight': expected I8 [128, 64], got "
                    "BF16 [128, 128]");
}

TEST(WeightsTable, Fp8ExpertsWhenExpertDtypeIsFp8) {
  auto j = nlohmann::json::parse(testing::TinyConfigJson());
  j["expert_dtype"] = "fp8";
  auto c = ModelConfig::FromJson(j.dump(), "fp8");
  ASSERT_TRUE(c.ok());
  for (const TensorSpec& t : CheckpointTensors(*c)) {
    if (t.name == "layers.0.ffn.experts.0.w2.weight") {
      EXPECT_EQ(t.dtypes[0], DType::kF8E4M3);
      EXPECT_EQ(t.shape, (std::vector<int64_t>{128, 128}));
    }
    if (t.name == "layers.0.ffn.experts.0.w2.scale") {
      EXPECT_EQ(t.shape, (std::vector<int64_t>{1, 1}));
    }
  }
}

// wo_a may be stored dequantized (BF16, no scale) — but an FP8 wo_a needs its scale.
TEST(WeightsTable, WoAMayBeBf16WithoutScale) {
  TempDir dir;
  const ModelConfig c = TinyConfig();
  std::vector<OwnedTensor> t = TableTensors(c);
  OwnedTensor* wo_a = FindTensor(t, "layers.0.attn.wo_a.weight");
  *wo_a = Zeros(wo_a->name, DType::kBF16, wo_a->shape);
  std::erase_if(t, [](const OwnedTensor& x) { return x.name == "layers.0.attn.wo_a.scale"; });
  const Status st = WriteAndValidate(dir, t, c);
  EXPECT_TRUE(st.ok()) << st.ToString();

  TempDir dir2;
  std::vector<OwnedTensor> t2 = TableTensors(c);
  std::erase_if(t2, [](const OwnedTensor& x) { return x.name == "layers.1.attn.wo_a.scale"; });
  DSV4_EXPECT_ERROR(WriteAndValidate(dir2, t2, c), StatusCode::kNotFound,
                    "tensor 'layers.1.attn.wo_a.scale' (layer 1 (HCA, ratio 128)) is missing, "
                    "but 'layers.1.attn.wo_a.weight' is F8_E4M3");
}

TEST(WeightsTable, Tid2eidMayBeI32) {
  TempDir dir;
  const ModelConfig c = TinyConfig();
  std::vector<OwnedTensor> t = TableTensors(c);
  OwnedTensor* tid = FindTensor(t, "layers.0.ffn.gate.tid2eid");
  *tid = Zeros(tid->name, DType::kI32, tid->shape);
  const Status st = WriteAndValidate(dir, t, c);
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST(WeightsTable, HashLayersHaveTid2eidOthersBias) {
  const ModelConfig c = TinyConfig();
  std::vector<std::string> names;
  for (const TensorSpec& t : CheckpointTensors(c)) names.push_back(t.name);
  auto has = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  EXPECT_TRUE(has("layers.0.ffn.gate.tid2eid"));
  EXPECT_FALSE(has("layers.0.ffn.gate.bias"));
  EXPECT_TRUE(has("layers.1.ffn.gate.bias"));
  EXPECT_FALSE(has("layers.1.ffn.gate.tid2eid"));
  EXPECT_TRUE(has("mtp.0.ffn.gate.bias"));
  EXPECT_FALSE(has("mtp.0.attn.compressor.ape"));  // the MTP block is ratio 0 here
  EXPECT_TRUE(has("mtp.0.e_proj.scale"));
}

}  // namespace
}  // namespace dsv4
