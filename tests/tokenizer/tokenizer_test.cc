// The tokenizer against HF `tokenizers` (Rust) on every case of ../shared/tokenizer/cases.jsonl,
// plus the behaviours the engine relies on: added tokens from the file, errors, streaming.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <random>

#include "tokenizer/byte_level.h"
#include "tokenizer_test_util.h"

namespace dsv4 {
namespace {

using testing::ReferenceCases;
using testing::ReferenceTokenizer;

const Tokenizer& Tok() { return ReferenceTokenizer(); }

constexpr size_t kReferenceCases = 635;  // ../shared/tokenizer/README.md

TEST(Tokenizer, EveryReferenceCaseGivesTheSameIds) {
  int passed = 0;
  for (const auto& c : ReferenceCases()) {
    auto ids = Tok().Encode(c["text"].get<std::string>());
    ASSERT_TRUE(ids.ok()) << c["id"] << ": " << ids.status().ToString();
    if (*ids == c["ids"].get<std::vector<int32_t>>()) {
      ++passed;
    } else {
      ADD_FAILURE() << c["id"] << " (" << c["category"] << ") differs";
    }
  }
  std::printf("tokenizer reference cases: %d / %zu identical ids\n", passed,
              ReferenceCases().size());
  EXPECT_EQ(ReferenceCases().size(), kReferenceCases);
}

TEST(Tokenizer, EveryReferenceCaseRoundTripsAndNamesItsTokens) {
  for (const auto& c : ReferenceCases()) {
    const std::string text = c["text"];
    const auto ids = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(Tok().Decode(ids), text) << c["id"];
    const auto tokens = c["tokens"].get<std::vector<std::string>>();
    ASSERT_EQ(tokens.size(), ids.size()) << c["id"];
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(Tok().TokenText(ids[i]), tokens[i]) << c["id"] << " token " << i;
      EXPECT_EQ(Tok().TokenId(tokens[i]), ids[i]) << c["id"] << " token " << i;
    }
  }
}

TEST(Tokenizer, AddedTokensComeFromTheFile) {
  std::ifstream in(testing::SharedTokenizerDir() + "/tokenizer.json");
  const auto file = nlohmann::json::parse(in);
  int checked = 0;
  for (const auto& a : file["added_tokens"]) {
    const std::string content = a["content"];
    const int32_t id = a["id"];
    EXPECT_EQ(Tok().TokenId(content), id) << content;
    EXPECT_EQ(Tok().TokenText(id), content);
    EXPECT_EQ(Tok().IsSpecial(id), a["special"].get<bool>()) << content;
    auto ids = Tok().Encode("x" + content + "y");
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(*ids, (std::vector<int32_t>{*Tok().TokenId("x"), id, *Tok().TokenId("y")}))
        << content;
    ++checked;
  }
  EXPECT_EQ(checked, 818);
  EXPECT_EQ(Tok().TokenId("<｜User｜>"), 128803);
  EXPECT_EQ(Tok().TokenId("<｜Assistant｜>"), 128804);
  EXPECT_EQ(Tok().bos_id(), 0);  // tokenizer_config.json's bos_token
  EXPECT_EQ(Tok().eos_id(), 1);
  EXPECT_EQ(Tok().vocab_size(), 128815);
  // Longest match wins, in raw text: `<<｜User｜>>` is `<`, User, `>`.
  EXPECT_EQ(*Tok().Encode("<<｜User｜>>"),
            (std::vector<int32_t>{*Tok().TokenId("<"), 128803, *Tok().TokenId(">")}));
}

TEST(Tokenizer, ParseSpecialFalseEncodesSpecialTokensAsText) {
  const std::string bos = "<｜begin▁of▁sentence｜>";
  auto as_text = Tok().Encode(bos, /*parse_special=*/false);
  ASSERT_TRUE(as_text.ok());
  EXPECT_GT(as_text->size(), 1u);
  EXPECT_EQ(std::count(as_text->begin(), as_text->end(), 0), 0);
  EXPECT_EQ(Tok().Decode(*as_text), bos);
  EXPECT_EQ(*Tok().Encode(bos), std::vector<int32_t>{0});
  // `<｜User｜>` is special=false in this file: HF still matches it (encode_special_tokens only
  // concerns special tokens).
  EXPECT_EQ(*Tok().Encode("<｜User｜>", false), std::vector<int32_t>{128803});
}

TEST(Tokenizer, DecodeSkipsSpecialTokensOnRequest) {
  const std::vector<int32_t> ids = {0, 128803, *Tok().TokenId("x"), 1};
  EXPECT_EQ(Tok().Decode(ids), "<｜begin▁of▁sentence｜><｜User｜>x<｜end▁of▁sentence｜>");
  EXPECT_EQ(Tok().Decode(ids, /*skip_special_tokens=*/true), "<｜User｜>x");
}

TEST(Tokenizer, InvalidUtf8IsAnErrorAndEmptyIsEmpty) {
  auto r = Tok().Encode(std::string("ok\xff\xfe", 4));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("byte offset 2"), std::string::npos);
  EXPECT_FALSE(Tok().Encode(std::string("\xe4\xb8", 2)).ok());      // truncated 3-byte character
  EXPECT_FALSE(Tok().Encode(std::string("\xed\xa0\x80", 3)).ok());  // a surrogate
  EXPECT_FALSE(Tok().Encode(std::string("\xc0\xaf", 2)).ok());      // overlong '/'
  EXPECT_FALSE(Tok().Encode(std::string("a\0b\xf5", 4)).ok());
  EXPECT_TRUE(Tok().Encode(std::string("a\0b", 3)).ok());  // NUL is valid UTF-8
  auto empty = Tok().Encode("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(Tok().Decode({}), "");
}

TEST(Tokenizer, DecodeShowsInvalidBytesAsReplacementCharacters) {
  const int32_t e4 = *Tok().TokenId(BytesToByteLevel("\xe4"));  // lone lead byte of 3
  const int32_t b8 = *Tok().TokenId(BytesToByteLevel("\xb8"));
  const int32_t a = *Tok().TokenId("a");
  // As Rust's from_utf8_lossy: one U+FFFD per maximal invalid subpart.
  EXPECT_EQ(Tok().Decode(std::vector<int32_t>{e4, b8, a}),
            "\xEF\xBF\xBD"
            "a");
  EXPECT_EQ(Tok().Decode(std::vector<int32_t>{b8, b8}), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(Tok().Decode(std::vector<int32_t>{-1, 1 << 30, a}), "a");  // unknown ids skipped
}

// Every reference case with a character split across tokens, fed one id at a time.
TEST(StreamDecoder, HoldsBackSplitCharactersOnEveryReferenceCase) {
  int split_chars = 0;
  for (const auto& c : ReferenceCases()) {
    const auto ids = c["ids"].get<std::vector<int32_t>>();
    StreamDecoder dec(Tok());
    std::string out;
    for (int32_t id : ids) {
      const std::string piece = dec.Feed(id);
      ASSERT_EQ(FindInvalidUtf8(piece), std::string::npos) << c["id"] << ": broken UTF-8";
      if (FindInvalidUtf8(Tok().TokenBytes(id)) != std::string::npos) ++split_chars;
      out += piece;
    }
    out += dec.Flush();
    EXPECT_EQ(out, c["text"].get<std::string>()) << c["id"];
  }
  EXPECT_GT(split_chars, 100);  // emoji, CJK and astral characters of the corpus
}

TEST(StreamDecoder, EmojiSplitAcrossTokensComesOutWhole) {
  const std::string text = "héllo 世界 🙂👍🏽 end";
  auto ids = Tok().Encode(text);
  ASSERT_TRUE(ids.ok());
  StreamDecoder dec(Tok());
  std::string out;
  bool held_back = false;
  for (int32_t id : *ids) {
    const std::string piece = dec.Feed(id);
    held_back |= piece.empty();
    out += piece;
  }
  EXPECT_TRUE(held_back);  // some emoji byte arrived without the rest of its character
  EXPECT_EQ(out + dec.Flush(), text);
}

// Random ids (a random-weight model): every piece is valid UTF-8, together they equal Decode.
TEST(StreamDecoder, RandomIdsGiveValidTextEqualToDecode) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> any(0, Tok().vocab_size() - 1), byte_token(0, 255);
  for (int round = 0; round < 200; ++round) {
    std::vector<int32_t> ids;
    for (int i = 0; i < 12; ++i) {
      // Mostly single-byte tokens so that partial and impossible sequences are common.
      const int32_t id =
          rng() % 3 ? Tok().bpe().IdOfBytes(std::string(1, char(byte_token(rng)))) : any(rng);
      ids.push_back(id);
    }
    StreamDecoder dec(Tok());
    std::string out;
    for (int32_t id : ids) {
      const std::string piece = dec.Feed(id);
      ASSERT_EQ(FindInvalidUtf8(piece), std::string::npos);
      out += piece;
    }
    const std::string tail = dec.Flush();
    ASSERT_EQ(FindInvalidUtf8(tail), std::string::npos);
    EXPECT_EQ(out + tail, Tok().Decode(ids));
  }
}

TEST(StreamDecoder, SkipsSpecialTokensOnRequest) {
  StreamDecoder dec(Tok(), /*skip_special_tokens=*/true);
  EXPECT_EQ(dec.Feed(0), "");
  EXPECT_EQ(dec.Feed(*Tok().TokenId("a")), "a");
  EXPECT_EQ(dec.Feed(1), "");
}

}  // namespace
}  // namespace dsv4
