// HF `tokenizers` rules the reference file does not exercise (lstrip/rstrip/single_word,
// normalized added tokens, ByteLevel flags, Split behaviours), on small hand-made tokenizer.json
// files; the fast BPE merge against its plain twin; UTF-8 helpers; malformed files.
#include <gtest/gtest.h>

#include <random>

#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace dsv4 {
namespace {

using json = nlohmann::json;

// A byte-level vocabulary: ids 0..255 are the bytes, then "he" "ll" "hell" "hello" "Ġhello".
json SmallModel() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[BytesToByteLevel(std::string(1, char(b)))] = b;
  const char* merged[] = {"he", "ll", "hell", "hello", "Ġhello"};
  for (int i = 0; i < 5; ++i) vocab[merged[i]] = 256 + i;
  return {
      {"type", "BPE"}, {"vocab", vocab}, {"merges", {"h e", "l l", "he ll", "hell o", "Ġ hello"}}};
}

json ByteLevelStep(bool add_prefix_space, bool use_regex) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space}, {"use_regex", use_regex}};
}

std::unique_ptr<Tokenizer> Small(json added, json pre = ByteLevelStep(false, false)) {
  const json file = {{"model", SmallModel()},
                     {"added_tokens", added},
                     {"pre_tokenizer", pre},
                     {"decoder", {{"type", "ByteLevel"}}}};
  auto t = Tokenizer::FromJson(file.dump());
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::move(t).value() : nullptr;
}

json Added(const std::string& content, int id, json flags = json::object()) {
  json a = {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
            {"rstrip", false}, {"normalized", false}, {"special", true}};
  for (auto& [k, v] : flags.items()) a[k] = v;
  return a;
}

// The ids of `text` when it is all plain bytes (no merges apply in SmallModel for these texts).
std::vector<int32_t> Bytes(std::string_view text) {
  return std::vector<int32_t>(reinterpret_cast<const uint8_t*>(text.data()),
                              reinterpret_cast<const uint8_t*>(text.data()) + text.size());
}

std::vector<int32_t> Cat(std::initializer_list<std::vector<int32_t>> parts) {
  std::vector<int32_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

constexpr int32_t kMask = 300;

// HF's own added_vocabulary tests (test_lstrip_unicode_space), without the lowercase normalizer.
TEST(AddedTokenRules, LstripRstripSwallowUnicodeWhiteSpace) {
  auto t =
      Small({Added("<mask>", kMask, {{"lstrip", true}, {"rstrip", true}, {"single_word", true}})});
  EXPECT_EQ(*t->Encode("Hi <mask> there\t<mask>\t<mask>\u2000"),
            Cat({Bytes("Hi"), {kMask}, {'t', 256 /*he*/, 'r', 'e'}, {kMask, kMask}}));
}

TEST(AddedTokenRules, SingleWordNeedsNonWordNeighbours) {
  auto t = Small({Added("<mask>", kMask, {{"single_word", true}})});
  EXPECT_EQ(*t->Encode("<mask> My name <mask> A<mask> <mask>ony <mask>"),
            Cat({{kMask}, Bytes(" My name "), {kMask}, Bytes(" A<mask> <mask>ony "), {kMask}}));
  // Punctuation is not a word character; a combining mark is.
  EXPECT_EQ(*t->Encode("<mask>, <mask>- \u25CC\u0330<mask>"),
            Cat({{kMask}, Bytes(", "), {kMask}, Bytes("- \u25CC\u0330<mask>")}));
}

TEST(AddedTokenRules, LstripStopsAtThePreviousMatch) {
  auto t = Small({Added("<a>", 300, {{"rstrip", true}}), Added("<b>", 301, {{"lstrip", true}})});
  EXPECT_EQ(*t->Encode("x<a>  <b>y"), Cat({Bytes("x"), {300, 301}, Bytes("y")}));
  EXPECT_EQ(*t->Encode("x  <b>"), Cat({Bytes("x"), {301}}));
}

// Non-normalized tokens are found first, in the whole text; normalized ones in what remains.
TEST(AddedTokenRules, NormalizedTokensMatchOnlyInTheRemainingText) {
  auto t = Small({Added("ab", 300, {{"normalized", true}, {"special", false}}),
                  Added("b", 301, {{"normalized", false}})});
  EXPECT_EQ(*t->Encode("xab"), Cat({Bytes("xa"), {301}}));
  EXPECT_EQ(*t->Encode("ab-a"), Cat({Bytes("a"), {301}, Bytes("-a")}));
  auto u = Small({Added("ab", 300, {{"normalized", true}, {"special", false}})});
  EXPECT_EQ(*u->Encode("xab"), Cat({Bytes("x"), {300}}));
}

TEST(AddedTokenRules, LongestMatchAndSkippedSpecials) {
  auto t = Small({Added("<s>", 300), Added("s>", 301, {{"special", false}}), Added("<", 302)});
  EXPECT_EQ(*t->Encode("<<s>"), (std::vector<int32_t>{302, 300}));
  // A skipped special match still consumes its text: `s>` inside it is not matched.
  EXPECT_EQ(*t->Encode("<s>", /*parse_special=*/false), Bytes("<s>"));
  EXPECT_EQ(*t->Encode("as>", false), Cat({Bytes("a"), {301}}));
}

TEST(ByteLevelRules, PrefixSpaceAndGpt2Split) {
  auto plain = Small(json::array(), ByteLevelStep(false, false));
  EXPECT_EQ(*plain->Encode("hello"), std::vector<int32_t>{259});
  EXPECT_EQ(*plain->Encode(" hello"), std::vector<int32_t>{260});
  auto prefixed = Small(json::array(), ByteLevelStep(true, true));
  EXPECT_EQ(*prefixed->Encode("hello hello"), (std::vector<int32_t>{260, 260}));
  EXPECT_EQ(prefixed->Decode(*prefixed->Encode("hello")), " hello");
  // The GPT-2 split isolates contractions and digit runs.
  EXPECT_EQ(*prefixed->Encode("it's 42"), Cat({Bytes(" it"), Bytes("'s"), Bytes(" 42")}));
  // Each stretch between added tokens is its own piece and gets its own prefix space.
  auto with_added = Small({Added("<s>", 300)}, ByteLevelStep(true, false));
  EXPECT_EQ(*with_added->Encode("hello<s>hello"), (std::vector<int32_t>{260, 300, 260}));
}

std::vector<std::string> SplitWith(const std::string& text, const std::string& pattern,
                                   SplitBehavior behavior, bool invert = false,
                                   bool literal = false) {
  auto re = SplitRegex::Compile(pattern, literal);
  EXPECT_TRUE(re.ok());
  std::vector<std::string_view> pieces;
  EXPECT_TRUE(SplitByBehavior(text, **re, behavior, invert, &pieces).ok());
  return {pieces.begin(), pieces.end()};
}

// The examples of HF's SplitDelimiterBehavior documentation.
TEST(SplitRules, EveryBehaviour) {
  using V = std::vector<std::string>;
  const std::string t = "the-final--countdown";
  EXPECT_EQ(SplitWith(t, "-", SplitBehavior::kRemoved), (V{"the", "final", "countdown"}));
  EXPECT_EQ(SplitWith(t, "-", SplitBehavior::kIsolated),
            (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(SplitWith(t, "-", SplitBehavior::kMergedWithPrevious),
            (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(SplitWith(t, "-", SplitBehavior::kMergedWithNext),
            (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(SplitWith(t, "-", SplitBehavior::kContiguous),
            (V{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(SplitWith(t, "-", SplitBehavior::kRemoved, /*invert=*/true), (V{"-", "-", "-"}));
  // A String pattern is literal text.
  EXPECT_EQ(SplitWith("a.b", ".", SplitBehavior::kRemoved, false, /*literal=*/true), (V{"a", "b"}));
  // Empty matches never produce empty pieces, and never loop.
  EXPECT_EQ(SplitWith("ab", "x*", SplitBehavior::kIsolated), (V{"a", "b"}));
}

TEST(SplitRules, WhiteSpaceIsUnicodeWhiteSpace) {
  EXPECT_EQ(RewriteWhitespaceClasses(R"(\s+(?!\S)|[^\s\p{L}]|\\s)"),
            R"(\p{White_Space}+(?!\P{White_Space})|[^\p{White_Space}\p{L}]|\\s)");
  using V = std::vector<std::string>;
  // U+0085 is White_Space (Oniguruma, Rust); U+FEFF is not.
  EXPECT_EQ(SplitWith("a\u0085b\uFEFFc", "\\s", SplitBehavior::kRemoved), (V{"a", "b\uFEFFc"}));
}

// The heap merge equals the plain twin on random byte strings and on long repeats.
TEST(Bpe, FastMergeEqualsReference) {
  const BpeModel& bpe = testing::ReferenceTokenizer().bpe();
  std::mt19937 rng(11);
  const std::string alphabet = "aaeeiinnoorrsstt  \n.,'-0123456789\xe4\xb8\xad\xf0\x9f\x99\x82";
  for (int round = 0; round < 3000; ++round) {
    const size_t len = 1 + rng() % (round < 2900 ? 40 : 600);
    std::string s;
    for (size_t i = 0; i < len; ++i) {
      s += rng() % 8 ? alphabet[rng() % alphabet.size()] : char(rng() % 256);
    }
    ASSERT_EQ(bpe.Merge(s), bpe.MergeReference(s)) << "piece of " << s.size() << " bytes";
  }
  for (const char* unit : {"a", "ab", "abc", "\xe4\xb8\xad", " the"}) {
    std::string s;
    while (s.size() < 3000) s += unit;
    ASSERT_EQ(bpe.Merge(s), bpe.MergeReference(s)) << unit;
  }
}

TEST(Bpe, LongPiecesAreFastAndRoundTrip) {
  const Tokenizer& tok = testing::ReferenceTokenizer();
  for (const char* unit : {"a", " ", "7", "\n", "\xe4\xb8\xad", "\xf0\x9f\x99\x82", "ab "}) {
    std::string s;
    while (s.size() < (1 << 20)) s += unit;
    auto ids = tok.Encode(s);
    ASSERT_TRUE(ids.ok()) << unit << ": " << ids.status().ToString();
    EXPECT_EQ(tok.Decode(*ids), s) << unit;
  }
}

TEST(Utf8, LossyMatchesRust) {
  EXPECT_EQ(Utf8Lossy("a\xF0\x9F\x98"), "a\uFFFD");                      // truncated: one U+FFFD
  EXPECT_EQ(Utf8Lossy("\xE0\x80"), "\uFFFD\uFFFD");                      // bad second byte
  EXPECT_EQ(Utf8Lossy("\xED\xA0\x80z"), "\uFFFD\uFFFD\uFFFDz");          // surrogate
  EXPECT_EQ(Utf8Lossy("\xF4\x90\x80\x80"), "\uFFFD\uFFFD\uFFFD\uFFFD");  // > U+10FFFF
  EXPECT_EQ(Utf8Lossy("\xE4\xB8\xAD"), "\u4E2D");
  EXPECT_EQ(CompleteUtf8Prefix("a\xF0\x9F"), 1u);  // may still complete
  EXPECT_EQ(CompleteUtf8Prefix("a\xF0\x41"), 3u);  // can never complete: not held
  EXPECT_EQ(CompleteUtf8Prefix("a\xC3\xA9"), 3u);
  EXPECT_EQ(CompleteUtf8Prefix("\x80\x80\x80\x80"), 4u);
}

TEST(TokenizerFiles, MalformedFilesAreErrors) {
  EXPECT_EQ(Tokenizer::FromJson("{").status().code(), StatusCode::kDataLoss);
  EXPECT_FALSE(Tokenizer::FromJson("{}").ok());
  EXPECT_FALSE(Tokenizer::FromJson("[1]").ok());
  EXPECT_EQ(Tokenizer::FromJson(R"({"model":{"type":"Unigram"}})").status().code(),
            StatusCode::kUnimplemented);
  json file = {{"model", SmallModel()},
               {"pre_tokenizer", ByteLevelStep(false, false)},
               {"decoder", {{"type", "ByteLevel"}}}};
  EXPECT_TRUE(Tokenizer::FromJson(file.dump()).ok());
  auto broken = [&](const char* key, json value) {
    json f = file;
    f[key] = value;
    return Tokenizer::FromJson(f.dump()).status();
  };
  EXPECT_EQ(broken("decoder", nullptr).code(), StatusCode::kUnimplemented);
  EXPECT_EQ(broken("normalizer", {{"type", "NFC"}}).code(), StatusCode::kUnimplemented);
  EXPECT_EQ(broken("pre_tokenizer",
                   {{"type", "Split"}, {"pattern", {{"Regex", "("}}}, {"behavior", "Isolated"}})
                .code(),
            StatusCode::kInvalidArgument);
  json bad_merge = SmallModel();
  bad_merge["merges"].push_back("x yz");
  EXPECT_FALSE(broken("model", bad_merge).ok());
  EXPECT_FALSE(broken("added_tokens", {{{"content", "x"}}}).ok());  // no id
  EXPECT_FALSE(broken("added_tokens", {{{"content", "x"}, {"id", 2.5e30}}}).ok());
  EXPECT_FALSE(broken("added_tokens", {{{"content", "x"}, {"id", -3}}}).ok());
  EXPECT_FALSE(broken("added_tokens", {{{"content", "x"}, {"id", 1 << 30}}}).ok());
  EXPECT_EQ(Tokenizer::Load("/nonexistent").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Tokenizer::Load(testing::SharedTokenizerDir() + "/tokenizer.json").ok());
}

// The fuzz seeds are valid files of the shapes the fuzzer should start from.
TEST(TokenizerFiles, FuzzSeedsLoad) {
  const std::string dir = std::string(DSV4_SOURCE_DIR) + "/fuzz/seeds/tokenizer_json_fuzz";
  for (const char* name : {"bytes.json", "gpt2_style.json"}) {
    std::ifstream in(dir + "/" + name);
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    auto t = Tokenizer::FromJson(text);
    ASSERT_TRUE(t.ok()) << name << ": " << t.status().ToString();
    auto ids = (*t)->Encode("hello <｜User｜>-1234");
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ((*t)->Decode(*ids), std::string(name) == "bytes.json" ? "hello <｜User｜>-1234"
                                                                    : " hello <｜User｜>-1234");
  }
}

}  // namespace
}  // namespace dsv4
