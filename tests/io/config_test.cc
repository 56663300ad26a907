// ModelConfig: the real V4-Pro / V4-Flash configs and the golden ones parse to the right values;
// each way a config can be wrong is an error that names the key.
#include "io/config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "io_test_util.h"

namespace dsv4 {
namespace {

using Json = nlohmann::json;
using testing::TinyConfigJson;

const std::string kShared = DSV4_SHARED_DIR;

Status ParseEdited(const std::function<void(Json&)>& edit) {
  Json j = Json::parse(TinyConfigJson());
  edit(j);
  return ModelConfig::FromJson(j.dump(), "edited/config.json").status();
}

TEST(Config, ParsesRealPro) {
  auto c = ModelConfig::FromFile(kShared + "/configs/v4-pro/config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->dim, 7168);
  EXPECT_EQ(c->n_layers, 61);
  EXPECT_EQ(c->n_mtp_layers, 1);
  EXPECT_EQ(c->n_heads, 128);
  EXPECT_EQ(c->q_lora_rank, 1536);
  EXPECT_EQ(c->o_groups, 16);
  EXPECT_EQ(c->index_topk, 1024);
  EXPECT_EQ(c->n_routed_experts, 384);
  EXPECT_EQ(c->moe_inter_dim, 3072);
  EXPECT_FLOAT_EQ(c->route_scale, 2.5f);
  EXPECT_FLOAT_EQ(c->swiglu_limit, 10.0f);
  EXPECT_FLOAT_EQ(c->compress_rope_theta, 160000.0f);
  EXPECT_EQ(c->original_seq_len, 65536);
  EXPECT_FLOAT_EQ(c->rope_factor, 16.0f);
  EXPECT_EQ(c->max_position_embeddings, 1048576);
  ASSERT_EQ(c->compress_ratios.size(), 62u);
  EXPECT_EQ(c->compress_ratio(0), 128);
  EXPECT_EQ(c->compress_ratio(2), 4);
  EXPECT_EQ(c->compress_ratio(60), 4);
  EXPECT_EQ(c->compress_ratio(61), 0);
  EXPECT_TRUE(c->expert_fp4);
}

TEST(Config, ParsesRealFlashWithoutExpertDtype) {
  auto c = ModelConfig::FromFile(kShared + "/configs/v4-flash/config.json");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->dim, 4096);
  EXPECT_EQ(c->n_layers, 43);
  EXPECT_EQ(c->n_heads, 64);
  EXPECT_EQ(c->n_routed_experts, 256);
  EXPECT_EQ(c->index_topk, 512);
  EXPECT_FLOAT_EQ(c->route_scale, 1.5f);
  EXPECT_EQ(c->compress_ratio(0), 0);
  EXPECT_EQ(c->compress_ratio(42), 4);
  // The Flash config has no expert_dtype, yet the published Flash checkpoint holds MXFP4 experts.
  EXPECT_TRUE(c->expert_fp4);
}

TEST(Config, ParsesGoldenConfigs) {
  for (const char* name : {"pro-tiny", "flash-tiny", "short-prompt"}) {
    auto c = ModelConfig::FromFile(kShared + "/golden/" + name + "/model/config.json");
    ASSERT_TRUE(c.ok()) << name << ": " << c.status().ToString();
    EXPECT_EQ(c->dim, 256) << name;
    EXPECT_EQ(c->n_hash_layers, 3) << name;
    EXPECT_EQ(c->n_mtp_layers, 1) << name;
  }
}

TEST(Config, DefaultsForOmittedKeys) {
  Json j = Json::parse(TinyConfigJson());
  for (const char* key : {"hc_eps", "hc_sinkhorn_iters", "swiglu_limit", "num_key_value_heads",
                          "head_dim", "sliding_window", "n_shared_experts", "expert_dtype"}) {
    j.erase(key);
  }
  auto c = ModelConfig::FromJson(j.dump(), "omitted");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FLOAT_EQ(c->hc_eps, 1e-6f);
  EXPECT_EQ(c->hc_sinkhorn_iters, 20);
  EXPECT_FLOAT_EQ(c->swiglu_limit, 0.0f);
  EXPECT_EQ(c->n_kv_heads, 1);
  EXPECT_EQ(c->window_size, 128);
}

TEST(Config, MissingFileIsNotFound) {
  DSV4_EXPECT_ERROR(ModelConfig::FromFile("/nonexistent/config.json").status(),
                    StatusCode::kNotFound, "/nonexistent/config.json");
}

TEST(Config, MalformedJson) {
  DSV4_EXPECT_ERROR(ModelConfig::FromJson("{\"hidden_size\": ", "cfg.json").status(),
                    StatusCode::kDataLoss, "cfg.json: not valid JSON");
  DSV4_EXPECT_ERROR(ModelConfig::FromJson("[1]", "cfg.json").status(), StatusCode::kInvalidArgument,
                    "cfg.json: the config is a JSON array");
}

TEST(Config, UnknownKey) {
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j["first_k_dense_replace"] = 3; }),
                    StatusCode::kInvalidArgument,
                    "edited/config.json: unknown key 'first_k_dense_replace'");
}

TEST(Config, UnknownRopeScalingKey) {
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j["rope_scaling"]["mscale"] = 1.0; }),
                    StatusCode::kInvalidArgument, "key 'rope_scaling.mscale'");
}

TEST(Config, MissingRequiredKey) {
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j.erase("hidden_size"); }),
                    StatusCode::kInvalidArgument, "required key 'hidden_size' is missing");
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j.erase("compress_ratios"); }),
                    StatusCode::kInvalidArgument, "required key 'compress_ratios' is missing");
}

TEST(Config, WrongJsonType) {
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j["num_attention_heads"] = "2"; }),
                    StatusCode::kInvalidArgument,
                    "key 'num_attention_heads' is a JSON string, expected an integer");
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j["hidden_size"] = 128.5; }),
                    StatusCode::kInvalidArgument, "key 'hidden_size' is a JSON number");
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) {
                      j["compress_ratios"] = Json::array({4, "x", 0});
                    }),
                    StatusCode::kInvalidArgument, "key 'compress_ratios[1]' is a JSON string");
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j["rms_norm_eps"] = true; }),
                    StatusCode::kInvalidArgument, "key 'rms_norm_eps' is a JSON boolean");
}

TEST(Config, IntegerOutOfRange) {
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j["vocab_size"] = 1LL << 40; }),
                    StatusCode::kInvalidArgument,
                    "key 'vocab_size' = 1099511627776 is out of range");
}

TEST(Config, CompressRatioTheEngineCannotHonour) {
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) {
                      j["compress_ratios"] = {8, 128, 0};
                    }),
                    StatusCode::kUnimplemented, "key 'compress_ratios[0]' = 8");
}

TEST(Config, MoreThanOneKvHead) {
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j["num_key_value_heads"] = 2; }),
                    StatusCode::kUnimplemented, "key 'num_key_value_heads' = 2");
}

TEST(Config, CompressRatiosLengthMismatch) {
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) {
                      j["compress_ratios"] = {4, 128};
                    }),
                    StatusCode::kInvalidArgument, "key 'compress_ratios' has 2 entries, expected");
}

TEST(Config, HeadsNotDivisibleByGroups) {
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) {
                      j["num_attention_heads"] = 3;
                      j["o_groups"] = 2;
                    }),
                    StatusCode::kInvalidArgument, "'num_attention_heads' = 3 is not divisible");
}

TEST(Config, RopeDimsMustBeEvenAndBelowHeadDim) {
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j["qk_rope_head_dim"] = 63; }),
                    StatusCode::kInvalidArgument, "key 'qk_rope_head_dim' = 63");
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j["qk_rope_head_dim"] = 128; }),
                    StatusCode::kInvalidArgument, "key 'head_dim' = 128 must exceed");
}

TEST(Config, SharedExpertsAndMtpCounts) {
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j["n_shared_experts"] = 2; }),
                    StatusCode::kUnimplemented, "key 'n_shared_experts' = 2");
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) {
                      j["num_nextn_predict_layers"] = 2;
                      j["compress_ratios"] = {4, 128, 0, 0};
                    }),
                    StatusCode::kUnimplemented, "key 'num_nextn_predict_layers' = 2");
}

TEST(Config, TooManyActiveExperts) {
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j["num_experts_per_tok"] = 5; }),
                    StatusCode::kInvalidArgument, "key 'num_experts_per_tok' = 5 exceeds");
}

TEST(Config, HiddenSizeNotMultipleOf128) {
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j["hidden_size"] = 192; }),
                    StatusCode::kUnimplemented, "hidden_size = 192 is not a multiple of 128");
}

TEST(Config, ScoringFuncAndQuantization) {
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j["scoring_func"] = "softmax"; }),
                    StatusCode::kUnimplemented, "key 'scoring_func' = \"softmax\"");
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) {
                      j["quantization_config"]["weight_block_size"] = {64, 64};
                    }),
                    StatusCode::kUnimplemented, "quantization_config.weight_block_size = [64,64]");
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j["quantization_config"]["fmt"] = "e5m2"; }),
                    StatusCode::kUnimplemented, "quantization_config.fmt");
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j.erase("quantization_config"); }),
                    StatusCode::kUnimplemented, "no 'quantization_config'");
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j["expert_dtype"] = "int4"; }),
                    StatusCode::kUnimplemented, "key 'expert_dtype' = \"int4\"");
}

TEST(Config, NonPositiveSizes) {
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j["vocab_size"] = 0; }), StatusCode::kInvalidArgument,
                    "key 'vocab_size' = 0 must be > 0");
  DSV4_EXPECT_ERROR(ParseEdited([](Json& j) { j["num_hash_layers"] = 3; }),
                    StatusCode::kInvalidArgument, "key 'num_hash_layers' = 3");
}

}  // namespace
}  // namespace dsv4
