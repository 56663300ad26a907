// `dsv4 tokenize` / `dsv4 detokenize` as real subprocesses: JSONL round trip and bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "tokenizer_test_util.h"

namespace dsv4 {
namespace {

int Sh(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class TokenizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("dsv4_tok_cli_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  int Run(const std::string& args, const std::string& err = "/dev/null") const {
    return Sh(std::string(DSV4_BINARY) + " " + args + " 2>" + err);
  }
  std::string tok_ = testing::SharedTokenizerDir();
  std::filesystem::path dir_;
};

TEST_F(TokenizeCli, JsonlRoundTripOfReferenceCases) {
  const auto& cases = testing::ReferenceCases();
  {
    std::ofstream in(Path("in.jsonl"));
    for (const auto& c : cases) in << nlohmann::json{{"text", c["text"]}}.dump() << "\n";
  }
  ASSERT_EQ(Run("tokenize --tokenizer " + tok_ + " --jsonl " + Path("in.jsonl") + " --out " +
                Path("ids.jsonl")),
            0);
  ASSERT_EQ(Run("detokenize --tokenizer " + tok_ + "/tokenizer.json --jsonl " + Path("ids.jsonl") +
                " --out " + Path("out.jsonl")),
            0);
  std::ifstream ids(Path("ids.jsonl")), out(Path("out.jsonl"));
  std::string id_line, text_line;
  size_t n = 0;
  for (; std::getline(ids, id_line) && std::getline(out, text_line); ++n) {
    ASSERT_LT(n, cases.size());
    EXPECT_EQ(nlohmann::json::parse(id_line)["ids"], cases[n]["ids"]) << cases[n]["id"];
    EXPECT_EQ(nlohmann::json::parse(text_line)["text"], cases[n]["text"]) << cases[n]["id"];
  }
  EXPECT_EQ(n, cases.size());
}

TEST_F(TokenizeCli, TextAndIdsFlags) {
  ASSERT_EQ(Sh(std::string(DSV4_BINARY) + " tokenize --tokenizer " + tok_ +
               " --text 'Hello <｜User｜>' > " + Path("o.txt")),
            0);
  EXPECT_EQ(ReadAll(Path("o.txt")), "[19923,223,128803]\n");
  ASSERT_EQ(Sh(std::string(DSV4_BINARY) + " detokenize --tokenizer " + tok_ +
               " --ids '[19923,223,128803]' > " + Path("t.txt")),
            0);
  EXPECT_EQ(ReadAll(Path("t.txt")), "Hello <｜User｜>\n");
}

TEST_F(TokenizeCli, BadInputIsAnErrorNamingTheLine) {
  {
    std::ofstream(Path("bad.jsonl")) << R"({"text": "ok"})"
                                     << "\n{not json\n";
    std::ofstream(Path("badutf8.jsonl")) << R"({"text": "ok"})"
                                         << "\n"
                                         << "{\"text\": \"\xff\"}\n";
    std::ofstream(Path("badids.jsonl")) << R"({"ids": [1, 2]})"
                                        << "\n"
                                        << R"({"ids": [1, 2, 999999999]})"
                                        << "\n";
    std::ofstream(Path("notext.jsonl")) << R"({"ids": [1]})"
                                        << "\n";
  }
  const std::string err = Path("err.txt");
  EXPECT_EQ(
      Run("tokenize --tokenizer " + tok_ + " --jsonl " + Path("bad.jsonl") + " --out " + Path("x"),
          err),
      1);
  EXPECT_NE(ReadAll(err).find("line 2"), std::string::npos) << ReadAll(err);
  EXPECT_EQ(Run("tokenize --tokenizer " + tok_ + " --jsonl " + Path("badutf8.jsonl") + " --out " +
                    Path("x"),
                err),
            1);
  EXPECT_NE(ReadAll(err).find("line 2"), std::string::npos) << ReadAll(err);
  EXPECT_EQ(Run("detokenize --tokenizer " + tok_ + " --jsonl " + Path("badids.jsonl") + " --out " +
                    Path("x"),
                err),
            1);
  EXPECT_NE(ReadAll(err).find("line 2"), std::string::npos) << ReadAll(err);
  EXPECT_EQ(Run("tokenize --tokenizer " + tok_ + " --jsonl " + Path("notext.jsonl") + " --out " +
                Path("x")),
            1);
  EXPECT_EQ(Run("detokenize --tokenizer " + tok_ + " --ids '[1, -5]'"), 1);
  EXPECT_EQ(Run("detokenize --tokenizer " + tok_ + " --ids '[1,'"), 1);
  EXPECT_EQ(Run("tokenize --tokenizer /nonexistent --text hi", err), 1);
  EXPECT_NE(ReadAll(err).find("/nonexistent"), std::string::npos);
  EXPECT_EQ(Run("tokenize --tokenizer " + tok_ + " --jsonl /nonexistent.jsonl --out " + Path("x")),
            1);
  EXPECT_EQ(Run("tokenize --text hi"), 2);  // usage
  EXPECT_EQ(Run("detokenize --tokenizer " + tok_), 2);
}

}  // namespace
}  // namespace dsv4
