// Checkpoint: single-file and sharded golden checkpoints open; index/shard disagreements are
// errors naming the shard file and the tensor.
#include "io/checkpoint.h"

#include <gtest/gtest.h>

#include "io_test_util.h"

namespace dsv4 {
namespace {

using testing::OwnedTensor;
using testing::TempDir;
using testing::WriteFile;
using testing::WriteOwned;
using testing::Zeros;

const std::string kGolden = std::string(DSV4_SHARED_DIR) + "/golden";

TEST(Checkpoint, GoldenSingleFileOpens) {
  auto ckpt = Checkpoint::Open(kGolden + "/pro-tiny/model");
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ((*ckpt)->tensors().size(), 761u);
  const TensorView* embed = (*ckpt)->Find("embed.weight");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->dtype, DType::kBF16);
  EXPECT_EQ(embed->ShapeString(), "[2048, 256]");
  EXPECT_EQ((*ckpt)->Find("model.embed.weight"), nullptr);
}

TEST(Checkpoint, GoldenShardedOpensWithProgress) {
  ::testing::internal::CaptureStderr();
  auto ckpt = Checkpoint::Open(kGolden + "/flash-tiny/model", /*progress=*/true);
  const std::string progress = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ((*ckpt)->tensors().size(), 648u);
  EXPECT_EQ((*ckpt)->total_bytes(), 24128396u);  // = metadata.total_size of the index
  EXPECT_NE(progress.find("shard 2/2 model-00002-of-00002.safetensors"), std::string::npos)
      << progress;
  // Tensors on both sides of the shard boundary are found, each knowing its file.
  EXPECT_NE((*ckpt)->Find("layers.3.attn.wq_b.weight")->file.find("00001-of"), std::string::npos);
  EXPECT_NE((*ckpt)->Find("layers.3.attn.wq_b.scale")->file.find("00002-of"), std::string::npos);
}

TEST(Checkpoint, DirectoryWithoutWeights) {
  TempDir dir;
  WriteFile(dir / "config.json", "{}");
  DSV4_EXPECT_ERROR(Checkpoint::Open(dir.path()).status(), StatusCode::kNotFound,
                    "neither model.safetensors nor model.safetensors.index.json");
  DSV4_EXPECT_ERROR(Checkpoint::Open(dir / "absent").status(), StatusCode::kNotFound,
                    dir / "absent");
}

// Two shards: a, b in shard 1; c in shard 2. `index` is the weight_map text.
void WriteTwoShards(const TempDir& dir, const std::string& weight_map,
                    const std::string& metadata = "{}") {
  ASSERT_TRUE(WriteOwned(dir / "s1.safetensors",
                         {Zeros("a", DType::kF32, {2}), Zeros("b", DType::kBF16, {3})})
                  .ok());
  ASSERT_TRUE(WriteOwned(dir / "s2.safetensors", {Zeros("c", DType::kI8, {5})}).ok());
  WriteFile(dir / "model.safetensors.index.json",
            R"({"metadata": )" + metadata + R"(, "weight_map": )" + weight_map + "}");
}

TEST(Checkpoint, ShardedConsistentIndexOpens) {
  TempDir dir;
  WriteTwoShards(dir, R"({"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"})",
                 R"({"total_size": 19})");
  auto ckpt = Checkpoint::Open(dir.path());
  ASSERT_TRUE(ckpt.ok()) << ckpt.status().ToString();
  EXPECT_EQ((*ckpt)->tensors().size(), 3u);
  EXPECT_EQ((*ckpt)->total_bytes(), 19u);
}

TEST(Checkpoint, MissingShard) {
  TempDir dir;
  WriteTwoShards(dir, R"({"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors",)"
                      R"( "d": "s3.safetensors"})");
  DSV4_EXPECT_ERROR(Checkpoint::Open(dir.path()).status(), StatusCode::kNotFound,
                    "s3.safetensors: shard listed in model.safetensors.index.json (e.g. for "
                    "tensor 'd') is missing");
}

TEST(Checkpoint, IndexNamesTensorAbsentFromShard) {
  TempDir dir;
  WriteTwoShards(dir, R"({"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors",)"
                      R"( "e": "s2.safetensors"})");
  DSV4_EXPECT_ERROR(Checkpoint::Open(dir.path()).status(), StatusCode::kDataLoss,
                    "s2.safetensors: has no tensor 'e'");
}

TEST(Checkpoint, ShardHoldsTensorTheIndexPlacesElsewhere) {
  TempDir dir;
  WriteTwoShards(dir, R"({"a": "s1.safetensors", "b": "s2.safetensors", "c": "s2.safetensors"})");
  DSV4_EXPECT_ERROR(Checkpoint::Open(dir.path()).status(), StatusCode::kDataLoss,
                    "s1.safetensors: holds tensor 'b' that model.safetensors.index.json places "
                    "in 's2.safetensors'");
}

TEST(Checkpoint, ShardHoldsTensorTheIndexDoesNotList) {
  TempDir dir;
  WriteTwoShards(dir, R"({"a": "s1.safetensors", "c": "s2.safetensors"})");
  DSV4_EXPECT_ERROR(Checkpoint::Open(dir.path()).status(), StatusCode::kDataLoss,
                    "s1.safetensors: holds tensor 'b' that model.safetensors.index.json does "
                    "not list");
}

TEST(Checkpoint, IndexTotalSizeDisagrees) {
  TempDir dir;
  WriteTwoShards(dir, R"({"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"})",
                 R"({"total_size": 20})");
  DSV4_EXPECT_ERROR(Checkpoint::Open(dir.path()).status(), StatusCode::kDataLoss,
                    "model.safetensors.index.json: metadata.total_size is 20 bytes");
}

TEST(Checkpoint, MalformedIndex) {
  TempDir dir;
  WriteFile(dir / "model.safetensors.index.json", R"({"weight_map": [1, 2]})");
  DSV4_EXPECT_ERROR(Checkpoint::Open(dir.path()).status(), StatusCode::kDataLoss,
                    "model.safetensors.index.json: no 'weight_map' object");
  WriteFile(dir / "model.safetensors.index.json", R"({"weight_map": {"a": "../evil"}})");
  DSV4_EXPECT_ERROR(Checkpoint::Open(dir.path()).status(), StatusCode::kDataLoss,
                    "tensor 'a' names shard '../evil'");
  WriteFile(dir / "model.safetensors.index.json", "{not json");
  DSV4_EXPECT_ERROR(Checkpoint::Open(dir.path()).status(), StatusCode::kDataLoss,
                    "model.safetensors.index.json: not a JSON object");
}

TEST(Checkpoint, CorruptShardNamesTheShard) {
  TempDir dir;
  WriteTwoShards(dir, R"({"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"})");
  std::string s2 = testing::ReadFile(dir / "s2.safetensors");
  WriteFile(dir / "s2.safetensors", s2.substr(0, s2.size() - 2));  // cut into tensor c
  DSV4_EXPECT_ERROR(Checkpoint::Open(dir.path()).status(), StatusCode::kDataLoss,
                    "s2.safetensors: tensor 'c': data_offsets [0, 5] exceed the data section");
}

}  // namespace
}  // namespace dsv4
