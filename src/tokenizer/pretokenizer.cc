#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenizer.h"

#include <pcre2.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tokenizer/utf8.h"

namespace dsv4 {
namespace {

using json = nlohmann::json;

// HF's ByteLevel split (GPT-2), used when ByteLevel has use_regex=true.
constexpr char kGpt2Pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

constexpr size_t kJitStackStart = 32 << 10;
constexpr size_t kJitStackMax = 8 << 20;  // deep backtracking on long pieces

// Per-thread match data and JIT stack: neither can be shared between threads.
struct ThreadScratch {
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(kJitStackStart, kJitStackMax, nullptr);
  pcre2_match_context* ctx = [this] {
    pcre2_match_context* c = pcre2_match_context_create(nullptr);
    pcre2_jit_stack_assign(c, nullptr, stack);
    return c;
  }();
  ~ThreadScratch() {
    pcre2_match_context_free(ctx);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(md);
  }
};

ThreadScratch& Scratch() {
  thread_local ThreadScratch scratch;
  return scratch;
}

Result<SplitBehavior> ParseBehavior(const std::string& s) {
  if (s == "Removed") return SplitBehavior::kRemoved;
  if (s == "Isolated") return SplitBehavior::kIsolated;
  if (s == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (s == "Contiguous") return SplitBehavior::kContiguous;
  return InvalidArgument("Split behavior '" + s + "' is not one HF defines");
}

// Flattens nested Sequences into their steps.
Status Flatten(const json& pre, std::vector<const json*>* out) {
  if (!pre.is_object()) return InvalidArgument("pre_tokenizer entry is not an object");
  if (pre.value("type", "") == "Sequence") {
    for (const json& s : pre.at("pretokenizers")) DSV4_RETURN_IF_ERROR(Flatten(s, out));
  } else {
    out->push_back(&pre);
  }
  return Status::Ok();
}

}  // namespace

std::string RewriteWhitespaceClasses(const std::string& p) {
  std::string out;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\' && i + 1 < p.size()) {
      const char n = p[++i];
      if (n == 's') {
        out += "\\p{White_Space}";
      } else if (n == 'S') {
        out += "\\P{White_Space}";
      } else {
        out += '\\';
        out += n;
      }
    } else {
      out += p[i];
    }
  }
  return out;
}

Result<std::unique_ptr<SplitRegex>> SplitRegex::Compile(const std::string& pattern, bool literal) {
  const std::string source = literal ? pattern : RewriteWhitespaceClasses(pattern);
  int err = 0;
  PCRE2_SIZE offset = 0;
  // PCRE2_LITERAL admits no UCP (a literal has no classes to widen).
  const uint32_t options = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(),
                                   options, &err, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    return InvalidArgument("pre-tokenizer pattern '" + pattern + "' does not compile at offset " +
                           std::to_string(offset) + ": " + reinterpret_cast<char*>(msg));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // the interpreter serves when JIT is unavailable
  std::unique_ptr<SplitRegex> r(new SplitRegex);
  r->code_ = code;
  return r;
}

SplitRegex::~SplitRegex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

Status SplitRegex::FindAll(std::string_view text, std::vector<Match>* out) const {
  auto* code = static_cast<pcre2_code*>(code_);
  ThreadScratch& s = Scratch();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  bool have_last = false;
  size_t last_end = 0;
  for (size_t pos = 0; pos <= text.size();) {
    // The text was validated as UTF-8 once, up front.
    int rc = pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, s.md, s.ctx);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      rc = pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, s.md,
                       nullptr);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      return ResourceExhausted("pre-tokenizer regex failed on a piece of " +
                               std::to_string(text.size()) +
                               " bytes: " + reinterpret_cast<char*>(msg));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(s.md);
    const size_t b = ov[0], e = ov[1];
    if (b == e && have_last && e == last_end) {  // empty match adjacent to the last: step on
      if (pos >= text.size()) break;
      pos += ScanUtf8(text, pos).len;
      continue;
    }
    out->push_back({b, e});
    have_last = true;
    last_end = pos = e;
  }
  return Status::Ok();
}

Status SplitByBehavior(std::string_view text, const SplitRegex& re, SplitBehavior behavior,
                       bool invert, std::vector<std::string_view>* out) {
  struct Span {
    size_t begin, end;
    bool is_match;
  };
  // Every match and every stretch between matches, in order (HF's Pattern::find_matches).
  // Per-thread scratch: this function does not recurse, and pieces are hot.
  thread_local std::vector<SplitRegex::Match> found;
  found.clear();
  DSV4_RETURN_IF_ERROR(re.FindAll(text, &found));
  if (behavior == SplitBehavior::kIsolated) {  // the common case: every span is a piece
    size_t prev = 0;
    for (const auto& m : found) {
      if (prev != m.begin) out->push_back(text.substr(prev, m.begin - prev));
      if (m.end > m.begin) out->push_back(text.substr(m.begin, m.end - m.begin));
      prev = m.end;
    }
    if (prev < text.size()) out->push_back(text.substr(prev));
    return Status::Ok();
  }
  std::vector<Span> spans;
  size_t prev = 0;
  for (const auto& m : found) {
    if (prev != m.begin) spans.push_back({prev, m.begin, invert});
    spans.push_back({m.begin, m.end, !invert});
    prev = m.end;
  }
  if (prev != text.size() || text.empty()) spans.push_back({prev, text.size(), invert});
  // The behaviors fold the spans into pieces; `is_match` then means "drop" (Removed only).
  std::vector<Span> pieces;
  bool prev_match = false;
  auto fold = [&](bool extend, const Span& s, bool backwards) {
    if (extend && !pieces.empty()) {
      (backwards ? pieces.back().begin : pieces.back().end) = backwards ? s.begin : s.end;
    } else {
      pieces.push_back({s.begin, s.end, false});
    }
  };
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Span& s : spans) pieces.push_back({s.begin, s.end, false});
      break;
    case SplitBehavior::kRemoved:
      pieces = spans;
      break;
    case SplitBehavior::kContiguous:
      for (const Span& s : spans) fold(s.is_match == prev_match, s, false), prev_match = s.is_match;
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Span& s : spans)
        fold(s.is_match && !prev_match, s, false), prev_match = s.is_match;
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        fold(it->is_match && !prev_match, *it, true), prev_match = it->is_match;
      }
      std::reverse(pieces.begin(), pieces.end());
      break;
  }
  for (const Span& p : pieces) {
    if (!p.is_match && p.end > p.begin) out->push_back(text.substr(p.begin, p.end - p.begin));
  }
  return Status::Ok();
}

Result<std::unique_ptr<PreTokenizer>> PreTokenizer::FromJson(const json& pre) {
  if (pre.is_null()) {
    return Unimplemented("no pre_tokenizer: byte-level BPE needs a ByteLevel pre-tokenizer");
  }
  std::vector<const json*> steps;
  DSV4_RETURN_IF_ERROR(Flatten(pre, &steps));
  std::unique_ptr<PreTokenizer> p(new PreTokenizer);
  for (size_t i = 0; i < steps.size(); ++i) {
    DSV4_RETURN_IF_ERROR(p->AddStep(*steps[i], i + 1 == steps.size()));
  }
  if (steps.empty() || steps.back()->value("type", "") != "ByteLevel") {
    return Unimplemented("the pre_tokenizer must end with ByteLevel (byte-level BPE)");
  }
  return p;
}

Status PreTokenizer::AddStep(const json& step, bool last) {
  const std::string type = step.value("type", "");
  Step s;
  if (type == "ByteLevel") {
    if (!last) return Unimplemented("a ByteLevel pre-tokenizer before other steps");
    s.add_prefix_space = step.value("add_prefix_space", true);  // HF's defaults
    if (step.value("use_regex", true)) {
      DSV4_ASSIGN_OR_RETURN(s.re, SplitRegex::Compile(kGpt2Pattern, /*literal=*/false));
    }
  } else if (type == "Split") {
    const json& pattern = step.at("pattern");
    const bool literal = pattern.contains("String");
    if (!literal && !pattern.contains("Regex")) {
      return InvalidArgument("Split pattern " + pattern.dump() + " is neither Regex nor String");
    }
    const std::string text = pattern.at(literal ? "String" : "Regex").get<std::string>();
    DSV4_ASSIGN_OR_RETURN(s.re, SplitRegex::Compile(text, literal));
    DSV4_ASSIGN_OR_RETURN(s.behavior, ParseBehavior(step.at("behavior").get<std::string>()));
    s.invert = step.value("invert", false);
  } else {
    return Unimplemented("pre-tokenizer type '" + type + "'");
  }
  steps_.push_back(std::move(s));
  return Status::Ok();
}

Status PreTokenizer::RunStep(size_t step, std::string_view piece, const Sink& sink,
                             std::vector<std::vector<std::string_view>>* levels) const {
  if (step == steps_.size()) {
    sink(piece);
    return Status::Ok();
  }
  const Step& st = steps_[step];
  std::string spaced;
  if (st.add_prefix_space && piece.front() != ' ') {
    spaced.reserve(piece.size() + 1);
    spaced.push_back(' ');
    spaced.append(piece);
    piece = spaced;
  }
  if (st.re == nullptr) return RunStep(step + 1, piece, sink, levels);
  // This level's buffer stays untouched while deeper levels use theirs.
  std::vector<std::string_view>& pieces = (*levels)[step];
  pieces.clear();
  DSV4_RETURN_IF_ERROR(SplitByBehavior(piece, *st.re, st.behavior, st.invert, &pieces));
  for (size_t i = 0; i < pieces.size(); ++i) {
    DSV4_RETURN_IF_ERROR(RunStep(step + 1, pieces[i], sink, levels));
  }
  return Status::Ok();
}

Status PreTokenizer::Split(std::string_view text, const Sink& sink) const {
  if (text.empty()) return Status::Ok();
  std::vector<std::vector<std::string_view>> levels(steps_.size());
  return RunStep(0, text, sink, &levels);
}

}  // namespace dsv4
