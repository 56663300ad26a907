// Runs the real `dsv4 golden` binary on every public golden case (../shared/golden): end-to-end
// rows, MTP, greedy, chunked prefill and every stage of every layer must pass. Also proves that the
// harness fails when the reference data disagrees (a check that cannot fail is no check).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct RunResult {
  int exit_code;
  std::string output;
};

RunResult RunDsv4(const std::string& args) {
  const std::string cmd = std::string(DSV4_BINARY) + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::vector<std::string> Cases() {
  std::vector<std::string> cases;
  for (const auto& e : fs::directory_iterator(std::string(DSV4_SHARED_DIR) + "/golden")) {
    if (fs::exists(e.path() / "case.json")) cases.push_back(e.path().filename());
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

fs::path TempDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("dsv4_golden_test_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

class GoldenCase : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenCase, PassesEveryCheck) {
  const std::string dir = std::string(DSV4_SHARED_DIR) + "/golden/" + GetParam();
  const fs::path tmp = TempDir(GetParam());
  const bool has_stages = fs::exists(fs::path(dir) / "stages" / "manifest.json");
  std::string args = "golden " + dir + " --dump-logits " + (tmp / "logits.f32").string() +
                     " --dump-mtp " + (tmp / "mtp.f32").string() + " --dump-hidden " +
                     (tmp / "hidden.f32").string();
  if (has_stages) args += " --dump-stages " + (tmp / "stages").string();
  const RunResult r = RunDsv4(args);
  std::printf("%s", r.output.c_str());  // the metrics table, for the CI log
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("\nPASS"), std::string::npos);
  EXPECT_NE(r.output.find("chunked prefill"), std::string::npos);
  if (has_stages) {
    EXPECT_NE(r.output.find("indexer top-k"), std::string::npos);
    EXPECT_EQ(r.output.find("FAIL"), std::string::npos);
  }

  // The dumps have exactly the golden files' layout.
  for (const auto& [mine, golden] : std::vector<std::pair<std::string, std::string>>{
           {"logits.f32", "logits.f32"}, {"mtp.f32", "mtp_logits.f32"}, {"hidden.f32", "hidden.f32"}}) {
    EXPECT_EQ(fs::file_size(tmp / mine), fs::file_size(fs::path(dir) / golden)) << mine;
  }
  if (has_stages) {
    // Every tensor this engine traces exists in the golden manifest with the same shape.
    std::ifstream gm(fs::path(dir) / "stages" / "manifest.json"), mm(tmp / "stages" / "manifest.json");
    const auto golden = nlohmann::json::parse(gm), mine = nlohmann::json::parse(mm);
    std::map<std::pair<std::string, std::string>, nlohmann::json> shapes;
    for (const auto& t : golden["tensors"]) shapes[{t["phase"], t["name"]}] = t["shape"];
    int matched = 0;
    for (const auto& t : mine["tensors"]) {
      auto it = shapes.find({t["phase"], t["name"]});
      ASSERT_NE(it, shapes.end()) << t["phase"] << " " << t["name"];
      EXPECT_EQ(it->second, t["shape"]) << t["name"];
      ++matched;
    }
    EXPECT_GT(matched, 200);
  }
  fs::remove_all(tmp);
}

INSTANTIATE_TEST_SUITE_P(Shared, GoldenCase, ::testing::ValuesIn(Cases()),
                         [](const auto& info) {
                           std::string n = info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// A copy of flash-tiny whose reference data is perturbed must FAIL: end-to-end logits scaled by
// 1.3, and one stage tensor (prefill L2.attn.q) with a flipped bf16 value.
TEST(GoldenHarness, DetectsWrongReferenceData) {
  const fs::path src = fs::path(DSV4_SHARED_DIR) / "golden" / "flash-tiny";
  const fs::path tmp = TempDir("perturbed");
  fs::create_directory_symlink(fs::absolute(src / "model"), tmp / "model");
  for (const char* f : {"case.json", "greedy.json", "greedy_logits.f32", "mtp_logits.f32", "hidden.f32"}) {
    fs::copy_file(src / f, tmp / f);
  }
  {  // logits × 1.3
    std::ifstream in(src / "logits.f32", std::ios::binary);
    std::vector<float> v(fs::file_size(src / "logits.f32") / 4);
    in.read(reinterpret_cast<char*>(v.data()), v.size() * 4);
    for (float& x : v) x *= 1.3f;
    std::ofstream(tmp / "logits.f32", std::ios::binary).write(reinterpret_cast<char*>(v.data()), v.size() * 4);
  }
  fs::create_directory(tmp / "stages");
  fs::copy_file(src / "stages" / "manifest.json", tmp / "stages" / "manifest.json");
  fs::copy_file(src / "stages" / "stages.bin", tmp / "stages" / "stages.bin");
  std::ifstream mf(tmp / "stages" / "manifest.json");
  const auto manifest = nlohmann::json::parse(mf);
  size_t offset = 0;
  for (const auto& t : manifest["tensors"]) {
    if (t["phase"] == "prefill" && t["name"] == "L2.attn.q") offset = t["offset"];
  }
  ASSERT_GT(offset, 0u);
  {
    std::fstream bin(tmp / "stages" / "stages.bin", std::ios::in | std::ios::out | std::ios::binary);
    bin.seekp(static_cast<std::streamoff>(offset));
    const uint16_t big = 0x4480;  // bf16 1024.0 in place of the first q value
    bin.write(reinterpret_cast<const char*>(&big), 2);
  }
  const RunResult r = RunDsv4("golden " + tmp.string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("logits.f32"), std::string::npos);
  EXPECT_NE(r.output.find("FAIL prefill L2.attn.q"), std::string::npos) << r.output;
  fs::remove_all(tmp);
}

TEST(GoldenHarness, MissingCaseIsAUsageError) {
  const RunResult r = RunDsv4("golden /nonexistent/case");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("case.json not found"), std::string::npos);
}

}  // namespace
