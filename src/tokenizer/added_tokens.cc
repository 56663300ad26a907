#include "tokenizer/added_tokens.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <tuple>

#include "tokenizer/utf8.h"

namespace dsv4 {
namespace {

// Rust regex `\w` (what HF's single_word test uses): Alphabetic, marks, decimal digits, connector
// punctuation and Join_Control.
bool IsWordChar(std::string_view ch) {
  static pcre2_code* const code = [] {
    int err = 0;
    PCRE2_SIZE off = 0;
    constexpr char kWord[] = "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]";
    return pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kWord), PCRE2_ZERO_TERMINATED,
                         PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &err, &off, nullptr);
  }();
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
  const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(ch.data()), ch.size(), 0,
                             PCRE2_NO_UTF_CHECK, md, nullptr);
  pcre2_match_data_free(md);
  return rc >= 0;
}

// The last character of valid UTF-8 text s (empty when s is).
std::string_view LastChar(std::string_view s) {
  size_t i = s.size();
  while (i > 0 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) --i;
  return i == 0 ? s : s.substr(i - 1);
}

std::string_view FirstChar(std::string_view s) {
  return s.empty() ? s : s.substr(0, ScanUtf8(s, 0).len);
}

// Start of the White_Space run that ends s (Rust `\s*$`).
size_t SpaceRunAtEnd(std::string_view s) {
  size_t i = s.size();
  while (i > 0) {
    const std::string_view ch = LastChar(s.substr(0, i));
    if (!IsUnicodeWhiteSpace(ScanUtf8(ch, 0).cp)) break;
    i -= ch.size();
  }
  return i;
}

// Length of the White_Space run that starts s (Rust `^\s*`).
size_t SpaceRunAtStart(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const Utf8Step st = ScanUtf8(s, i);
    if (!IsUnicodeWhiteSpace(st.cp)) break;
    i += st.len;
  }
  return i;
}

}  // namespace

// A byte trie over token contents, with a direct table at the root (the hot path: most text bytes
// start no token at all).
struct AddedVocabulary::Trie {
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> kids;
    int32_t token = -1;  // index into tokens_
  };
  std::array<int32_t, 256> root{};
  std::vector<Node> nodes;

  Trie() { root.fill(-1); }
  bool empty() const { return nodes.empty(); }

  int32_t Child(int32_t node, uint8_t b) const {
    for (const auto& [kb, kn] : nodes[node].kids) {
      if (kb == b) return kn;
    }
    return -1;
  }

  void Insert(std::string_view s, int32_t token) {
    int32_t& first = root[static_cast<unsigned char>(s[0])];
    if (first < 0) {
      first = static_cast<int32_t>(nodes.size());
      nodes.emplace_back();
    }
    int32_t cur = first;
    for (size_t i = 1; i < s.size(); ++i) {
      const uint8_t b = s[i];
      int32_t nxt = Child(cur, b);
      if (nxt < 0) {
        nxt = static_cast<int32_t>(nodes.size());
        nodes.emplace_back();
        nodes[cur].kids.emplace_back(b, nxt);
      }
      cur = nxt;
    }
    nodes[cur].token = token;
  }

  // The longest token starting at text[i]: its length and index, or length 0.
  std::pair<size_t, int32_t> LongestAt(std::string_view text, size_t i) const {
    int32_t cur = root[static_cast<unsigned char>(text[i])];
    size_t best_len = 0;
    int32_t best = -1;
    for (size_t j = i + 1; cur >= 0; ++j) {
      if (nodes[cur].token >= 0) best_len = j - i, best = nodes[cur].token;
      if (j >= text.size()) break;
      cur = Child(cur, static_cast<uint8_t>(text[j]));
    }
    return {best_len, best};
  }
};

AddedVocabulary::AddedVocabulary()
    : non_normalized_(std::make_unique<Trie>()), normalized_(std::make_unique<Trie>()) {}
AddedVocabulary::~AddedVocabulary() = default;
AddedVocabulary::AddedVocabulary(AddedVocabulary&&) noexcept = default;
AddedVocabulary& AddedVocabulary::operator=(AddedVocabulary&&) noexcept = default;

void AddedVocabulary::Add(AddedToken token) {
  if (token.content.empty()) return;
  if (auto it = index_.find(token.content); it != index_.end()) {
    // The same content again: the later entry's id and flags win; rebuild the tries (rare).
    tokens_[it->second] = std::move(token);
    non_normalized_ = std::make_unique<Trie>();
    normalized_ = std::make_unique<Trie>();
    for (size_t i = 0; i < tokens_.size(); ++i) {
      const AddedToken& t = tokens_[i];
      (t.normalized ? normalized_ : non_normalized_)->Insert(t.content, static_cast<int32_t>(i));
    }
    return;
  }
  const int32_t index = static_cast<int32_t>(tokens_.size());
  (token.normalized ? normalized_ : non_normalized_)->Insert(token.content, index);
  index_.emplace(token.content, index);
  tokens_.push_back(std::move(token));
}

void AddedVocabulary::SplitPass(std::string_view text, size_t base, const Trie& trie,
                                bool parse_special, std::vector<Segment>* out) const {
  const size_t n = text.size();
  size_t start_offset = 0;
  for (size_t pos = 0; pos < n;) {
    // The leftmost-longest match at or after pos.
    size_t start = pos, len = 0;
    int32_t index = -1;
    for (; start < n; ++start) {
      if (trie.root[static_cast<unsigned char>(text[start])] < 0) continue;
      std::tie(len, index) = trie.LongestAt(text, start);
      if (len > 0) break;
    }
    if (len == 0) break;
    size_t stop = start + len;
    pos = stop;  // the match iteration continues after the match even when it is discarded
    const AddedToken& t = tokens_[index];
    if (t.special && !parse_special) continue;
    if (t.single_word) {
      const bool word_before = start > 0 && IsWordChar(LastChar(text.substr(0, start)));
      const bool word_after = stop < n && IsWordChar(FirstChar(text.substr(stop)));
      if (word_before || word_after) continue;
    }
    // The stripped White_Space belongs to the token. lstrip never reaches into an earlier match.
    if (t.lstrip) start = std::max(SpaceRunAtEnd(text.substr(0, start)), start_offset);
    if (t.rstrip) stop += SpaceRunAtStart(text.substr(stop));
    if (start_offset < start) out->push_back({base + start_offset, base + start, -1});
    out->push_back({base + start, base + stop, t.id});
    start_offset = stop;
  }
  if (start_offset < n) out->push_back({base + start_offset, base + n, -1});
}

void AddedVocabulary::Split(std::string_view text, bool parse_special,
                            std::vector<Segment>* out) const {
  out->clear();
  if (non_normalized_->empty()) {
    out->push_back({0, text.size(), -1});
  } else {
    SplitPass(text, 0, *non_normalized_, parse_special, out);
  }
  if (normalized_->empty()) return;
  std::vector<Segment> first;
  first.swap(*out);
  for (const Segment& s : first) {
    if (s.id >= 0) {
      out->push_back(s);
    } else {
      SplitPass(text.substr(s.begin, s.end - s.begin), s.begin, *normalized_, parse_special, out);
    }
  }
}

}  // namespace dsv4
