// Added tokens of HF `tokenizers` (AddedVocabulary): matched in the raw text before the
// pre-tokenizer, as HF does it:
//   1. tokens with normalized=false are found in the whole text; 2. tokens with normalized=true
//      are found in each remaining stretch (there is no normalizer to apply first).
// Each pass walks the leftmost-longest, non-overlapping matches (aho-corasick LeftmostLongest).
// A match is skipped when it is special and special tokens are not parsed, or when single_word is
// set and a word character touches it; lstrip/rstrip widen it over neighbouring White_Space, which
// then belongs to the token (so it vanishes from the ids).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dsv4 {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;  // HF's default for a token without the field
  bool special = false;
};

class AddedVocabulary {
 public:
  AddedVocabulary();
  ~AddedVocabulary();
  AddedVocabulary(AddedVocabulary&&) noexcept;
  AddedVocabulary& operator=(AddedVocabulary&&) noexcept;

  // In file order; an empty content is ignored (as HF does).
  void Add(AddedToken token);
  bool empty() const { return tokens_.empty(); }
  const std::vector<AddedToken>& tokens() const { return tokens_; }

  // A stretch of the text: an added token (id >= 0) or ordinary text (id == -1, [begin, end)).
  struct Segment {
    size_t begin, end;
    int32_t id;
  };
  // Covers the whole text in order. parse_special=false: special tokens are not matched (HF's
  // encode_special_tokens=true); non-special added tokens still are.
  void Split(std::string_view text, bool parse_special, std::vector<Segment>* out) const;

 private:
  struct Trie;
  void SplitPass(std::string_view text, size_t base, const Trie& trie, bool parse_special,
                 std::vector<Segment>* out) const;

  std::vector<AddedToken> tokens_;
  std::unordered_map<std::string, int32_t> index_;  // content → index into tokens_
  std::unique_ptr<Trie> non_normalized_;            // tokens with normalized=false
  std::unique_ptr<Trie> normalized_;                // tokens with normalized=true
};

}  // namespace dsv4
