// `dsv4 bench --json` on a real (golden) checkpoint: the keys the issue asks for, with sane values.
// Speed is never asserted; only that the accounting is consistent.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace {

std::string RunDsv4(const std::string& args, int* code) {
  FILE* pipe = popen((std::string(DSV4_BINARY) + " " + args + " 2>/dev/null").c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int status = pclose(pipe);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// `dsv4 bench --json` on the pro-tiny golden model with these flags; *j its report.
void RunBenchJson(const std::string& flags, nlohmann::json* j) {
  int code = 0;
  const std::string out = RunDsv4("bench --model " + std::string(DSV4_SHARED_DIR) +
                                      "/golden/pro-tiny/model --json " + flags,
                                  &code);
  ASSERT_EQ(code, 0) << out;
  *j = nlohmann::json::parse(out);
}

TEST(Bench, JsonReportHasEveryFigure) {
  nlohmann::json j;
  ASSERT_NO_FATAL_FAILURE(
      RunBenchJson("--prompt-len 20 --gen 3 --repeat 1 --threads 1 --batch 3", &j));
  for (const char* key : {"prefill_tok_s", "prefill_gflops", "decode_tok_s", "decode_bytes_per_token",
                          "decode_effective_gbs", "machine_read_gbs", "decode_bandwidth_ratio",
                          "prefill_linear_gflops", "prefill_linear_share", "batch_decode_tok_s",
                          "batch_step_ms", "machine_dot_gflops", "prefill_peak_ratio"}) {
    ASSERT_TRUE(j.contains(key)) << key;
    EXPECT_GT(j[key].get<double>(), 0.0) << key;
  }
  EXPECT_NEAR(j["decode_bandwidth_ratio"].get<double>(),
              j["decode_effective_gbs"].get<double>() / j["machine_read_gbs"].get<double>(), 1e-9);
  EXPECT_LE(j["prefill_linear_share"].get<double>(), 1.0);
  // One run: the prefill's ratio is its linear GFLOP/s over the peak measured right after it.
  EXPECT_NEAR(j["prefill_peak_ratio"].get<double>(),
              j["prefill_linear_gflops"].get<double>() / j["machine_dot_gflops"].get<double>(),
              1e-9 * j["prefill_peak_ratio"].get<double>());
  EXPECT_FALSE(j["machine_dot_op"].get<std::string>().empty());
  EXPECT_FALSE(j["fast_prefill"].get<bool>());  // opt-in (--fast-prefill)
  EXPECT_EQ(j["batch"].get<int>(), 3);
  EXPECT_GT(j["resident_mb"].get<double>(), 0.0);
  EXPECT_GE(j["resident_peak_mb"].get<double>(), j["resident_mb"].get<double>());
  // pro-tiny reads at least every attention weight of 6 layers and the 2048x256 bf16 head per token.
  EXPECT_GT(j["decode_bytes_per_token"].get<int64_t>(), 2048 * 256 * 2);
}

// --fast-prefill through the real binary: an 80-token prompt (>= 64 rows) prefills on oneDNN where
// the build has it, and the report says which GEMMs ran.
TEST(Bench, FastPrefillRunsAndSaysSo) {
  nlohmann::json j;
  ASSERT_NO_FATAL_FAILURE(
      RunBenchJson("--prompt-len 80 --gen 2 --repeat 1 --threads 2 --fast-prefill", &j));
#ifdef DSV4_HAVE_ONEDNN
  EXPECT_TRUE(j["fast_prefill"].get<bool>());
#else
  EXPECT_FALSE(j["fast_prefill"].get<bool>());
#endif
  EXPECT_GT(j["prefill_linear_gflops"].get<double>(), 0.0);
  EXPECT_GT(j["decode_tok_s"].get<double>(), 0.0);
}

TEST(Bench, ProfileAccountsForTheWeightBytesOfEachKernel) {
  nlohmann::json j;
  ASSERT_NO_FATAL_FAILURE(
      RunBenchJson("--prompt-len 8 --gen 2 --repeat 1 --threads 1 --profile", &j));
  ASSERT_TRUE(j.contains("decode_profile"));
  double linear_bytes = 0;
  bool saw_attention = false;
  for (const auto& row : j["decode_profile"]) {
    EXPECT_GT(row["calls_per_token"].get<double>(), 0.0);
    EXPECT_GE(row["ms_per_token"].get<double>(), 0.0);
    const std::string kernel = row["kernel"];
    if (kernel.rfind("Linear", 0) == 0) linear_bytes += row["bytes_per_token"].get<double>();
    saw_attention |= kernel == "SparseAttention";
  }
  EXPECT_TRUE(saw_attention);
  // The linear kernels stream the weights; the byte model adds caches and small fp32 tensors
  // (norms, hc, ape, sinks), so the profile's weight bytes are most but not all of it.
  const double total = j["decode_bytes_per_token"].get<double>();
  EXPECT_GT(linear_bytes, 0.5 * total);
  EXPECT_LE(linear_bytes, total);
}

TEST(Bench, BadArgumentsAreAUsageError) {
  int code = 0;
  RunDsv4("bench --model /nonexistent", &code);
  EXPECT_EQ(code, 1);
  RunDsv4("bench --prompt-len 5", &code);
  EXPECT_EQ(code, 2);
  RunDsv4("bench --model x --gen 0", &code);
  EXPECT_EQ(code, 2);
}

}  // namespace
