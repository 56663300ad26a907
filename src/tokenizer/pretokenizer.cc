#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenizer.h"

#include <pcre2.h>

namespace dsv4 {
namespace {

// Unicode White_Space (what Oniguruma's \s matches): includes U+0085, excludes U+FEFF.
constexpr const char* kWhiteSpace =
    "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
    "\\x{205F}\\x{3000}";

// One match-data block per thread: PCRE2 match data is not shareable between threads.
pcre2_match_data* ThreadMatchData() {
  thread_local struct Holder {
    pcre2_match_data* md = pcre2_match_data_create(4, nullptr);
    ~Holder() { pcre2_match_data_free(md); }
  } holder;
  return holder.md;
}

}  // namespace

std::string RewriteWhitespaceClasses(const std::string& p) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char n = p[i + 1];
      if (!in_class && (n == 's' || n == 'S')) {
        out += n == 's' ? "[" : "[^";
        out += kWhiteSpace;
        out += "]";
      } else {
        out += c;
        out += n;
      }
      ++i;
      continue;
    }
    if (c == '[' && !in_class) in_class = true;
    else if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

Result<std::unique_ptr<SplitRegex>> SplitRegex::Compile(const std::string& pattern) {
  const std::string rewritten = RewriteWhitespaceClasses(pattern);
  int err = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    return InvalidArgument("pre-tokenizer regex '" + pattern + "' does not compile at offset " +
                           std::to_string(offset) + ": " + reinterpret_cast<char*>(msg));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when unavailable
  std::unique_ptr<SplitRegex> r(new SplitRegex);
  r->code_ = code;
  return r;
}

SplitRegex::~SplitRegex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void SplitRegex::Split(std::string_view text, std::vector<std::string_view>* out) const {
  auto* code = static_cast<pcre2_code*>(code_);
  pcre2_match_data* md = ThreadMatchData();
  size_t start = 0, last = 0;
  while (start <= text.size()) {
    // The input was validated as UTF-8 once, up front.
    const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start,
                               PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc < 0) break;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t b = ov[0], e = ov[1];
    if (b > last) out->push_back(text.substr(last, b - last));
    if (e > b) out->push_back(text.substr(b, e - b));
    last = e;
    if (e == b) {  // empty match: step one character forward
      size_t next = e + 1;
      while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80) ++next;
      start = next;
    } else {
      start = e;
    }
  }
  if (last < text.size()) out->push_back(text.substr(last));
}

}  // namespace dsv4
