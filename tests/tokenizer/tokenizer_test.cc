// The tokenizer against HF `tokenizers` on every case of ../shared/tokenizer/cases.jsonl.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

namespace dsv4 {
namespace {

const Tokenizer& Tok() {
  static std::unique_ptr<Tokenizer> t = [] {
    auto r = Tokenizer::Load(std::string(DSV4_SHARED_DIR) + "/tokenizer");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return std::move(r).value();
  }();
  return *t;
}

TEST(Tokenizer, EveryReferenceCase) {
  std::ifstream in(std::string(DSV4_SHARED_DIR) + "/tokenizer/cases.jsonl");
  std::string line;
  int total = 0, passed = 0;
  while (std::getline(in, line)) {
    const auto c = nlohmann::json::parse(line);
    const std::string text = c["text"];
    auto ids = Tok().Encode(text);
    ASSERT_TRUE(ids.ok()) << c["id"];
    ++total;
    const auto expected = c["ids"].get<std::vector<int32_t>>();
    if (*ids == expected) ++passed;
    else ADD_FAILURE() << c["id"] << " (" << c["category"] << ") differs";
    EXPECT_EQ(Tok().Decode(*ids), text) << c["id"];
  }
  std::printf("tokenizer cases: %d / %d identical\n", passed, total);
  EXPECT_EQ(total, 635);
}

TEST(Tokenizer, SpecialTokensComeFromTheFile) {
  EXPECT_EQ(Tok().TokenId("<｜User｜>"), 128803);
  EXPECT_EQ(Tok().TokenId("<｜Assistant｜>"), 128804);
  EXPECT_EQ(Tok().bos_id(), 0);
  EXPECT_EQ(Tok().eos_id(), 1);
  auto ids = Tok().Encode("<<｜User｜>>");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->size(), 3u);
  EXPECT_EQ((*ids)[1], 128803);
  auto raw = Tok().Encode("<｜User｜>", /*parse_special=*/false);
  ASSERT_TRUE(raw.ok());
  EXPECT_GT(raw->size(), 1u);
}

TEST(Tokenizer, InvalidUtf8IsAnError) {
  auto r = Tok().Encode(std::string("ok\xff\xfe", 4));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("byte offset 2"), std::string::npos);
  EXPECT_FALSE(Tok().Encode(std::string("\xe4\xb8", 2)).ok());  // truncated 3-byte character
  EXPECT_TRUE(Tok().Encode("").ok());
}

TEST(Tokenizer, StreamDecoderNeverSplitsCharacters) {
  const std::string text = "héllo 世界 🙂👍🏽 end";
  auto ids = Tok().Encode(text);
  ASSERT_TRUE(ids.ok());
  StreamDecoder dec(Tok());
  std::string out;
  for (int32_t id : *ids) {
    const std::string piece = dec.Feed(id);
    EXPECT_EQ(FindInvalidUtf8(piece), std::string::npos) << "broken UTF-8 emitted";
    out += piece;
  }
  out += dec.Flush();
  EXPECT_EQ(out, text);
}

// Random token orders (a random-weight model) can form invalid UTF-8: the stream shows U+FFFD instead.
TEST(Tokenizer, StreamDecoderReplacesBytesThatCanNeverBeValid) {
  StreamDecoder dec(Tok());
  const auto lead = Tok().TokenId(std::string(1, '\xe4'));  // a lone 3-byte lead byte token
  ASSERT_TRUE(lead.has_value());
  std::string out = dec.Feed(*lead);
  EXPECT_EQ(out, "");  // held back: it may still complete
  out += dec.Feed(*Tok().TokenId("a"));
  out += dec.Flush();
  EXPECT_EQ(out, "\xEF\xBF\xBD" "a");
  EXPECT_EQ(FindInvalidUtf8(out), std::string::npos);
}

TEST(Tokenizer, MalformedFilesAreErrors) {
  EXPECT_EQ(Tokenizer::FromJson("{").status().code(), StatusCode::kDataLoss);
  EXPECT_FALSE(Tokenizer::FromJson("{}").ok());
  EXPECT_FALSE(Tokenizer::FromJson(R"({"model":{"type":"Unigram"}})").ok());
  EXPECT_EQ(Tokenizer::Load("/nonexistent").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace dsv4

namespace dsv4 {
namespace {

int Sh(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(TokenizeCli, JsonlRoundTripAndErrors) {
  const std::string bin = DSV4_BINARY, tok = std::string(DSV4_SHARED_DIR) + "/tokenizer";
  const std::string dir = "/tmp/dsv4_tok_cli_" + std::to_string(getpid());
  ASSERT_EQ(Sh("mkdir -p " + dir), 0);
  {
    std::ofstream in(dir + "/in.jsonl");
    in << R"({"text": "Hello <｜User｜> world 123456"})" << "\n" << R"({"text": "中文 🙂"})" << "\n";
  }
  ASSERT_EQ(Sh(bin + " tokenize --tokenizer " + tok + " --jsonl " + dir + "/in.jsonl --out " + dir + "/ids.jsonl"), 0);
  ASSERT_EQ(Sh(bin + " detokenize --tokenizer " + tok + " --jsonl " + dir + "/ids.jsonl --out " + dir + "/out.jsonl"), 0);
  std::ifstream ids(dir + "/ids.jsonl"), out(dir + "/out.jsonl");
  std::string line;
  std::getline(ids, line);
  const auto first = nlohmann::json::parse(line)["ids"].get<std::vector<int32_t>>();
  EXPECT_EQ(first, *Tok().Encode("Hello <｜User｜> world 123456"));
  std::getline(out, line);
  EXPECT_EQ(nlohmann::json::parse(line)["text"], "Hello <｜User｜> world 123456");
  std::getline(out, line);
  EXPECT_EQ(nlohmann::json::parse(line)["text"], "中文 🙂");
  {  // a malformed line and an out-of-range id are errors, not crashes
    std::ofstream bad(dir + "/bad.jsonl");
    bad << R"({"text": "ok"})" << "\n" << "{not json\n";
    std::ofstream badids(dir + "/badids.jsonl");
    badids << R"({"ids": [1, 2, 999999999]})" << "\n";
  }
  EXPECT_EQ(Sh(bin + " tokenize --tokenizer " + tok + " --jsonl " + dir + "/bad.jsonl --out " + dir + "/x 2>/dev/null"), 1);
  EXPECT_EQ(Sh(bin + " detokenize --tokenizer " + tok + " --jsonl " + dir + "/badids.jsonl --out " + dir + "/x 2>/dev/null"), 1);
  EXPECT_EQ(Sh(bin + " tokenize --tokenizer /nonexistent --text hi 2>/dev/null"), 1);
  EXPECT_EQ(Sh(bin + " tokenize --text hi 2>/dev/null"), 2);
  Sh("rm -rf " + dir);
}

}  // namespace
}  // namespace dsv4
