// The real `dsv4` binary end to end on a made default model (random weights + the real DeepSeek
// tokenizer fetched by scripts/setup.sh): make-model → run → chat, and every bad input.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

namespace fs = std::filesystem;

struct Out {
  int code;
  std::string text;
};

Out Sh(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::string s;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) s.append(buf.data(), n);
  const int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, s};
}

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = (fs::temp_directory_path() / ("dsv4_cli_" + std::to_string(getpid()))).string();
    const std::string tok = std::string(DSV4_SOURCE_DIR) + "/models/tokenizer";
    if (!fs::exists(tok + "/tokenizer.json")) Sh(std::string(DSV4_SOURCE_DIR) + "/scripts/fetch-tokenizer.sh");
    const Out o = Sh(std::string(DSV4_BINARY) + " make-model --preset default --seed 5 --out " + dir_ +
                     " --tokenizer " + tok);
    ASSERT_EQ(o.code, 0) << o.text;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string Bin() { return DSV4_BINARY; }
  static std::string dir_;
};
std::string Cli::dir_;

TEST_F(Cli, RunStreamsTextAndReportsSpeed) {
  const Out o = Sh(Bin() + " run --model " + dir_ + " --prompt 'Hello, world' -n 8 --seed 2");
  ASSERT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("tok/s"), std::string::npos);
  EXPECT_NE(o.text.find("random weights"), std::string::npos);
  EXPECT_NE(o.text.find("generated 8 tokens"), std::string::npos) << o.text;
  // Greedy with the same seed is reproducible; llama.cpp-style short flags work.
  auto answer = [](const std::string& s) { return s.substr(0, s.find("[dsv4] prompt")); };
  const Out a = Sh(Bin() + " run -m " + dir_ + " -p 'Same prompt' -n 6 --temp 0");
  const Out b = Sh(Bin() + " run -m " + dir_ + " -p 'Same prompt' -n 6 --temp 0");
  EXPECT_EQ(answer(a.text), answer(b.text));
  const Out raw = Sh(Bin() + " run -m " + dir_ + " -p 'plain completion' -n 4 --raw --think");
  EXPECT_EQ(raw.code, 0) << raw.text;
}

// Token ids in and out: runs a golden checkpoint (no tokenizer); greedy equals the golden argmax.
TEST_F(Cli, RunOnAGoldenCheckpointWithTokenIds) {
  const std::string g = std::string(DSV4_SHARED_DIR) + "/golden/short-prompt";
  const Out o = Sh(Bin() + " run --model " + g + "/model --prompt-ids '[1572, 1736, 202]' -n 3 --temp 0 2>/dev/null");
  ASSERT_EQ(o.code, 0) << o.text;
  std::ifstream gf(g + "/greedy.json");
  std::string greedy((std::istreambuf_iterator<char>(gf)), std::istreambuf_iterator<char>());
  // The reference's own greedy continuation of this prompt starts 118, 1700, 1589.
  EXPECT_NE(greedy.find("\"greedy_tokens\": [\n  118,\n  1700,\n  1589"), std::string::npos);
  EXPECT_NE(o.text.find("[118,1700,1589]"), std::string::npos) << o.text;
  const Out bad = Sh(Bin() + " run --model " + g + "/model --prompt-ids '[1, 99999]' -n 2");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.text.find("outside the vocabulary"), std::string::npos) << bad.text;
  EXPECT_EQ(Sh(Bin() + " run --model " + g + "/model --prompt-ids 'nope'").code, 2);
}

TEST_F(Cli, ChatKeepsTheSequenceBetweenTurns) {
  const Out o = Sh("printf 'first turn\\nsecond turn\\n/stats\\n/think\\nthird\\n/reset\\n/stats\\n/bogus\\n/quit\\n' | " +
                   Bin() + " chat --model " + dir_ + " -n 5 --seed 1");
  ASSERT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("[turns 2,"), std::string::npos) << o.text;
  EXPECT_EQ(o.text.find("reused 0,"), std::string::npos) << "turn 2 should reuse turn 1's tokens: " << o.text;
  EXPECT_NE(o.text.find("[thinking mode on]"), std::string::npos);
  EXPECT_NE(o.text.find("[conversation reset]"), std::string::npos);
  EXPECT_NE(o.text.find("context 0 tokens"), std::string::npos);
  EXPECT_NE(o.text.find("[unknown command /bogus]"), std::string::npos);
}

TEST_F(Cli, BadInputIsAClearError) {
  Out o = Sh(Bin() + " run --model " + dir_ + " --prompt ''");
  EXPECT_EQ(o.code, 2);
  EXPECT_NE(o.text.find("empty"), std::string::npos);
  o = Sh(Bin() + " run --model " + dir_ + " --prompt \"$(printf 'bad \\377 utf8')\"");
  EXPECT_EQ(o.code, 2);
  EXPECT_NE(o.text.find("not valid UTF-8"), std::string::npos) << o.text;
  o = Sh(Bin() + " run --model " + dir_ + " --prompt 'a long prompt that does not fit' --ctx 8 -n 4");
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.text.find("exceeds the context of 8"), std::string::npos) << o.text;
  o = Sh(Bin() + " run --model /nonexistent --prompt hi");
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.text.find("does not exist"), std::string::npos);
  o = Sh(Bin() + " run --model " + dir_ + " --prompt hi --frobnicate");
  EXPECT_EQ(o.code, 2);
  o = Sh(Bin() + " run --model " + std::string(DSV4_SHARED_DIR) + "/golden/pro-tiny/model --prompt hi");
  EXPECT_EQ(o.code, 1);
  EXPECT_NE(o.text.find("no tokenizer.json"), std::string::npos);
  o = Sh("printf '\\377\\376\\n/quit\\n' | " + Bin() + " chat --model " + dir_);
  EXPECT_EQ(o.code, 0);
  EXPECT_NE(o.text.find("not valid UTF-8"), std::string::npos);
  o = Sh(Bin() + " make-model --preset nosuch --out /tmp/x");
  EXPECT_EQ(o.code, 2);
  EXPECT_NE(o.text.find("unknown preset"), std::string::npos);
}

}  // namespace
