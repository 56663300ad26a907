// Byte-level BPE tokenizer loaded from a checkpoint's own tokenizer.json (HF `tokenizers` format):
// added tokens matched in the raw text first (leftmost, longest), then the pre-tokenizer Sequence of
// Split regexes, then byte-level BPE by merge rank. Nothing about the vocabulary is hard-coded.
// Exact against HF `tokenizers` on ../shared/tokenizer/cases.jsonl.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "tokenizer/pretokenizer.h"

namespace dsv4 {

class Tokenizer {
 public:
  // A tokenizer.json path, or a directory holding tokenizer.json (+ tokenizer_config.json).
  static Result<std::unique_ptr<Tokenizer>> Load(const std::string& path_or_dir);
  static Result<std::unique_ptr<Tokenizer>> FromJson(std::string_view json_text,
                                                     std::string_view config_text = {});

  // Invalid UTF-8 is an error naming the byte offset. parse_special: match added tokens in the text.
  Result<std::vector<int32_t>> Encode(std::string_view text, bool parse_special = true) const;
  // Ids outside the vocabulary decode to nothing (callers validate ids first if they care).
  std::string Decode(std::span<const int32_t> ids) const;
  // Raw bytes of one token (may be an incomplete UTF-8 sequence).
  const std::string& TokenBytes(int32_t id) const;

  std::optional<int32_t> TokenId(std::string_view token) const;  // added-token text or vocab piece
  int vocab_size() const { return static_cast<int>(bytes_.size()); }
  int32_t bos_id() const { return bos_id_; }
  int32_t eos_id() const { return eos_id_; }

 private:
  Tokenizer() = default;
  Status Build(std::string_view json_text, std::string_view config_text);
  void EncodePiece(std::string_view piece, std::vector<int32_t>* out) const;
  void EncodeOrdinary(std::string_view text, std::vector<int32_t>* out) const;

  std::vector<std::string> bytes_;                      // id → raw bytes
  std::unordered_map<std::string, int32_t> by_bytes_;  // raw bytes → id (BPE vocabulary)
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // (left, right) → (rank, id)
  int32_t byte_token_[256] = {};
  struct Added {
    std::string content;
    int32_t id;
  };
  std::vector<Added> added_;                             // sorted by content
  std::unordered_map<std::string, int32_t> added_by_text_;
  size_t added_max_len_ = 0;
  bool added_first_byte_[256] = {};  // bytes that start some added token
  std::vector<std::unique_ptr<SplitRegex>> splits_;
  int32_t bos_id_ = -1, eos_id_ = -1;
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;  // piece → ids
};

// Incremental detokenization for streaming: returns only complete UTF-8 characters; bytes of a
// character split across tokens are held back until it is complete.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok) : tok_(tok) {}
  std::string Feed(int32_t id);
  std::string Flush();  // whatever is held back (an incomplete sequence at the very end)

 private:
  const Tokenizer& tok_;
  std::string pending_;
};

// Length of the valid UTF-8 prefix of s that ends on a character boundary.
size_t CompleteUtf8Prefix(std::string_view s);
// Offset of the first invalid byte, or npos when s is valid UTF-8.
size_t FindInvalidUtf8(std::string_view s);

}  // namespace dsv4
