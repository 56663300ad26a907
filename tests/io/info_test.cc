// `dsv4 info` run as a real subprocess. Expected parameter counts are computed here,
// independently, from the spec §10 shapes and the config — not copied from the program.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "io_test_util.h"

namespace dsv4 {
namespace {

using Json = nlohmann::json;

const std::string kShared = DSV4_SHARED_DIR;

struct RunResult {
  int exit_code = -1;
  std::string output;
};

RunResult RunDsv4(const std::string& args, bool merge_stderr) {
  const std::string cmd =
      std::string(DSV4_BINARY) + " " + args + (merge_stderr ? " 2>&1" : " 2>/dev/null");
  RunResult r;
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

Json InfoJson(const std::string& dir) {
  const RunResult r = RunDsv4("info --model " + dir + " --json", false);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  Json j = Json::parse(r.output, nullptr, false);
  EXPECT_TRUE(j.is_object()) << r.output;
  return j;
}

// Parameters from spec §10, for the main model (no MTP block): total and active per token.
// Active = attention, compressors, indexers, gates, hc, norms, shared expert, k of E routed
// experts and the head; the embedding table is a lookup (excluded, as in the published figures).
struct Expected {
  double total = 0;
  double active = 0;
};

Expected ExpectedParams(const Json& c) {
  const double D = c["hidden_size"], V = c["vocab_size"], H = c["num_attention_heads"];
  const double hd = c["head_dim"], ql = c["q_lora_rank"], G = c["o_groups"];
  const double ol = c["o_lora_rank"], E = c["n_routed_experts"], k = c["num_experts_per_tok"];
  const double I = c["moe_intermediate_size"], Hi = c["index_n_heads"];
  const double ihd = c["index_head_dim"], hc = c["hc_mult"];
  const int layers = c["num_hidden_layers"], hash_layers = c["num_hash_layers"];
  Expected e;
  for (int l = 0; l < layers; ++l) {
    const int r = c["compress_ratios"][l];
    double dense = 2 * ((2 + hc) * hc * hc * D + (2 + hc) * hc + 3);  // hc_attn_*, hc_ffn_*
    dense += H + ql * D + ql + H * hd * ql + hd * D + hd;  // sink, wq_a, q_norm, wq_b, wkv, kv_norm
    dense += (G * ol) * (H * hd / G) + D * (G * ol) + 2 * D;  // wo_a, wo_b, 2 norms
    if (r > 0) {
      const double w = (r == 4 ? 2 : 1) * hd;
      dense += r * w + 2 * w * D + hd;  // compressor ape, wkv, wgate, norm
    }
    if (r == 4) {
      dense += Hi * ihd * ql + Hi * D + 4 * 2 * ihd + 2 * (2 * ihd) * D + ihd;  // indexer
    }
    dense += 3 * I * D + E * D + (l < hash_layers ? 0 : E);  // shared, gate.weight, gate.bias
    const double routed = 3 * I * D;                         // w1, w2, w3 of one expert
    e.total += dense + E * routed;
    e.active += dense + k * routed;
  }
  const double top = hc * hc * D + hc + 1 + D;  // hc_head_*, norm
  e.total += top + 2 * V * D;
  e.active += top + V * D;  // head
  return e;
}

Json ReadConfig(const std::string& path) { return Json::parse(testing::ReadFile(path)); }

void CheckModel(const std::string& name, double total_published, double active_published,
                double kv_bf16, double bytes_per_token) {
  const std::string dir = kShared + "/configs/" + name;
  const Expected e = ExpectedParams(ReadConfig(dir + "/config.json"));
  const Json j = InfoJson(dir);
  ASSERT_TRUE(j.contains("params")) << j.dump();
  const double total = j["params"]["total"];
  const double active = j["params"]["active_per_token"];
  // Exact against the independent count (the program counts one embedding row as active).
  EXPECT_EQ(total, e.total);
  EXPECT_NEAR(active, e.active,
              static_cast<double>(ReadConfig(dir + "/config.json")["hidden_size"]));
  // And close to the published model-card figures.
  EXPECT_NEAR(total / total_published, 1.0, 0.02) << total;
  EXPECT_NEAR(active / active_published, 1.0, 0.10) << active;
  // PERF.md: cache bytes per token of context (bf16) and weight bytes read per decoded token.
  EXPECT_EQ(j["kv_cache"]["bf16_bytes_per_token"].get<double>(), kv_bf16);
  EXPECT_NEAR(j["bytes"]["per_decoded_token"].get<double>() / bytes_per_token, 1.0, 0.02);
  EXPECT_TRUE(j["bytes"]["checkpoint_actual"].is_null());
}

TEST(Info, ProConfig) { CheckModel("v4-pro", 1.6e12, 49e9, 9848, 39.6e9); }

TEST(Info, FlashConfig) { CheckModel("v4-flash", 2.84e11, 13e9, 6880, 11.2e9); }

TEST(Info, GoldenCheckpointWithWeights) {
  const Json j = InfoJson(kShared + "/golden/flash-tiny/model");
  ASSERT_TRUE(j.contains("bytes"));
  EXPECT_EQ(j["bytes"]["checkpoint_actual"].get<int64_t>(), 24128396);  // index total_size
  EXPECT_EQ(j["bytes"]["weights_with_mtp"].get<int64_t>(), 24128396);
  EXPECT_EQ(j["layers"]["swa"], 2);
  EXPECT_EQ(j["layers"]["csa"], 2);
  EXPECT_EQ(j["layers"]["hca"], 1);
}

TEST(Info, TextReport) {
  const RunResult r = RunDsv4("info --model " + kShared + "/configs/v4-pro", false);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("30 CSA (ratio 4), 31 HCA (ratio 128)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("9848 B bf16"), std::string::npos) << r.output;
}

TEST(Info, BadConfigFailsNamingTheKey) {
  testing::TempDir dir;
  Json c = Json::parse(testing::TinyConfigJson());
  c["num_key_value_heads"] = 2;
  testing::WriteFile(dir / "config.json", c.dump());
  const RunResult r = RunDsv4("info --model " + dir.path(), true);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("num_key_value_heads"), std::string::npos) << r.output;
}

TEST(Info, CorruptWeightsFail) {
  testing::TempDir dir;
  testing::WriteFile(dir / "config.json", testing::TinyConfigJson());
  testing::WriteFile(dir / "model.safetensors", "short");
  const RunResult r = RunDsv4("info --model " + dir.path(), true);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("model.safetensors"), std::string::npos) << r.output;
}

TEST(Info, UsageErrors) {
  EXPECT_EQ(RunDsv4("info", true).exit_code, 2);
  EXPECT_EQ(RunDsv4("info --model", true).exit_code, 2);
  EXPECT_EQ(RunDsv4("info --help", true).exit_code, 0);
}

}  // namespace
}  // namespace dsv4
