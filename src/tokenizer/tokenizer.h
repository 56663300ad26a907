// Byte-level BPE tokenizer loaded from a checkpoint's own tokenizer.json (HF `tokenizers` format),
// exact to HF `tokenizers` (Rust):
//   1. added tokens are matched in the raw text first (AddedVocabulary rules, added_tokens.h);
//   2. every other stretch goes through the pre-tokenizer (Split regexes, ByteLevel);
//   3. each piece is BPE-merged by rank (bpe.h).
// Nothing about the vocabulary is hard-coded; BOS/EOS come from tokenizer_config.json.
// Encode never adds BOS (HF's post-processor for these files adds nothing; chat prompts carry the
// BOS string themselves).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/utf8.h"

namespace dsv4 {

class Tokenizer {
 public:
  // A tokenizer.json path, or a directory holding tokenizer.json; tokenizer_config.json next to
  // it is read when present.
  static Result<std::unique_ptr<Tokenizer>> Load(const std::string& path_or_dir);
  // The same from the files' text (config_text may be empty).
  static Result<std::unique_ptr<Tokenizer>> FromJson(std::string_view json_text,
                                                     std::string_view config_text = {});

  // Invalid UTF-8 is an error naming the byte offset. parse_special=false: special tokens
  // (special=true in the file) are encoded as plain text, as HF's encode_special_tokens /
  // split_special_tokens does; non-special added tokens are still recognised.
  Result<std::vector<int32_t>> Encode(std::string_view text, bool parse_special = true) const;
  // HF decode: token bytes concatenated, invalid UTF-8 shown as U+FFFD. Unknown ids are skipped.
  std::string Decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // Id of a token as the file writes it (added-token content or byte-level vocabulary string).
  std::optional<int32_t> TokenId(std::string_view token) const;
  // The token as the file writes it ("Ġthe", "<｜User｜>"); empty for an unknown id.
  std::string TokenText(int32_t id) const;
  // The raw bytes a token decodes to (possibly part of a UTF-8 character); empty when unknown.
  const std::string& TokenBytes(int32_t id) const;
  bool IsSpecial(int32_t id) const;

  int vocab_size() const { return static_cast<int>(bytes_.size()); }  // highest id + 1
  int32_t bos_id() const { return bos_id_; }                          // -1 when unknown
  int32_t eos_id() const { return eos_id_; }                          // -1 when unknown

  // The BPE stage alone (tests compare its fast merge with the plain twin).
  const BpeModel& bpe() const { return bpe_; }

 private:
  Tokenizer() = default;
  Status Build(std::string_view json_text, std::string_view config_text);
  Status BuildAddedTokens(const nlohmann::json& added);
  Status ReadConfig(std::string_view config_text);
  Status EncodeOrdinary(std::string_view text, std::vector<int32_t>* out) const;

  BpeModel bpe_;
  std::unique_ptr<PreTokenizer> pre_;
  AddedVocabulary added_;
  std::vector<std::string> text_;   // id → token as written in the file
  std::vector<std::string> bytes_;  // id → raw bytes (the ByteLevel decoder's view)
  std::vector<bool> special_;       // id → special added token
  std::unordered_map<std::string, int32_t> added_by_text_;
  std::unordered_map<std::string, int32_t> literal_vocab_;  // entries outside the byte alphabet
  int32_t bos_id_ = -1, eos_id_ = -1;
};

// Incremental detokenization for streaming: Feed returns the newly completed text. Bytes of a
// character split across tokens are held back until it completes; bytes that can never become
// valid (a model may emit any token order) are shown as U+FFFD, so every piece is valid UTF-8 and
// the pieces together equal Decode of the ids.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, bool skip_special_tokens = false)
      : tok_(tok), skip_special_(skip_special_tokens) {}
  std::string Feed(int32_t id);
  std::string Flush();  // whatever is held back (an incomplete character at the very end)

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace dsv4
