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

TEST(Tokenizer, MalformedFilesAreErrors) {
  EXPECT_EQ(Tokenizer::FromJson("{").status().code(), StatusCode::kDataLoss);
  EXPECT_FALSE(Tokenizer::FromJson("{}").ok());
  EXPECT_FALSE(Tokenizer::FromJson(R"({"model":{"type":"Unigram"}})").ok());
  EXPECT_EQ(Tokenizer::Load("/nonexistent").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace dsv4
