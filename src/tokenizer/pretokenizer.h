// The pre-tokenizer of HF `tokenizers` tokenizer.json files as DeepSeek uses them: a Sequence of
// Split(Regex, Isolated) steps (each step runs on every piece of the previous one) followed by
// ByteLevel (the byte→unicode mapping, applied by the BPE stage here). Regexes run on PCRE2 with
// UTF + Unicode properties, JIT-compiled; `\s` is rewritten to Unicode White_Space as Oniguruma
// (the engine HF uses) defines it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace dsv4 {

class SplitRegex {
 public:
  static Result<std::unique_ptr<SplitRegex>> Compile(const std::string& pattern);
  ~SplitRegex();
  // Isolated split: every match is a piece, and so is the text between matches.
  void Split(std::string_view text, std::vector<std::string_view>* out) const;

 private:
  SplitRegex() = default;
  void* code_ = nullptr;  // pcre2_code*
};

// `\s` / `\S` outside character classes → explicit Unicode White_Space classes.
std::string RewriteWhitespaceClasses(const std::string& pattern);

}  // namespace dsv4
