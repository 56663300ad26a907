// The pre-tokenizer of HF `tokenizers` as byte-level BPE files use it: a Sequence (or one step) of
//   Split {pattern: Regex | String, behavior, invert}  — each step runs on every piece of the last;
//   ByteLevel {add_prefix_space, use_regex}            — the last step.
// ByteLevel's byte→unicode mapping itself is folded into the BPE vocabulary (pieces stay raw
// bytes); here it only adds the prefix space and the GPT-2 split when the file asks for them.
// Regexes run on PCRE2 (UTF + Unicode properties, JIT). `\s`/`\S` are rewritten to Unicode
// White_Space as Oniguruma (HF's engine) defines it: PCRE2's own `\s` lacks U+0085.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace dsv4 {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

class SplitRegex {
 public:
  // literal: the pattern is a plain string (HF's `String` pattern), not a regex.
  static Result<std::unique_ptr<SplitRegex>> Compile(const std::string& pattern, bool literal);
  ~SplitRegex();

  struct Match {
    size_t begin, end;
  };
  // All matches, as Oniguruma's find_iter returns them: left to right, an empty match right
  // where the previous match ended is skipped.
  Status FindAll(std::string_view text, std::vector<Match>* out) const;

 private:
  SplitRegex() = default;
  void* code_ = nullptr;  // pcre2_code*
};

// Splits `text` by `re` as HF's NormalizedString::split does; empty pieces are dropped.
Status SplitByBehavior(std::string_view text, const SplitRegex& re, SplitBehavior behavior,
                       bool invert, std::vector<std::string_view>* out);

// `\s` / `\S` (inside or outside classes) → `\p{White_Space}` / `\P{White_Space}`.
std::string RewriteWhitespaceClasses(const std::string& pattern);

class PreTokenizer {
 public:
  // `pre` is the "pre_tokenizer" object of tokenizer.json.
  static Result<std::unique_ptr<PreTokenizer>> FromJson(const nlohmann::json& pre);

  // Hands the pieces the BPE model sees to `sink`, in order. A piece is only valid during the
  // call (it may be a temporary that gained a prefix space). Depth-first: no step materialises
  // the pieces of the whole text.
  using Sink = std::function<void(std::string_view piece)>;
  Status Split(std::string_view text, const Sink& sink) const;

 private:
  struct Step {
    std::unique_ptr<SplitRegex> re;  // null: no split (ByteLevel with use_regex=false)
    SplitBehavior behavior = SplitBehavior::kIsolated;
    bool invert = false;
    bool add_prefix_space = false;  // ByteLevel: a piece not starting with ' ' gets one
  };
  Status AddStep(const nlohmann::json& step, bool last);
  Status RunStep(size_t step, std::string_view piece, const Sink& sink,
                 std::vector<std::vector<std::string_view>>* levels) const;

  std::vector<Step> steps_;
};

}  // namespace dsv4
