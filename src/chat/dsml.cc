#include "chat/dsml.h"

#include <cstdint>

#include "chat/py_json.h"

namespace dsv4::dsml {
namespace {

constexpr std::string_view kNameOpen = "name=\"";
constexpr std::string_view kParamOpen = " name=\"";
constexpr std::string_view kStringTrue = "\" string=\"true\">";
constexpr std::string_view kStringFalse = "\" string=\"false\">";

enum class Utf8 { kOk, kInvalid, kTruncated };

// Decodes one UTF-8 sequence at s[i].
Utf8 Decode(std::string_view s, size_t i, uint32_t* cp, size_t* len) {
  auto b = static_cast<unsigned char>(s[i]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (n == 0) return Utf8::kInvalid;
  if (i + n > s.size()) return Utf8::kTruncated;
  uint32_t v = n == 1 ? b : b & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return Utf8::kInvalid;
    v = (v << 6) | (c & 0x3F);
  }
  *cp = v;
  *len = n;
  return Utf8::kOk;
}

// Python's str.isspace() (what `\s` matches in a str pattern).
bool IsPyWhitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Length of the leading whitespace; *truncated when the text ends inside a UTF-8 sequence that
// might still turn out to be whitespace.
size_t SkipWhitespace(std::string_view s, bool* truncated) {
  size_t i = 0;
  *truncated = false;
  while (i < s.size()) {
    uint32_t cp = 0;
    size_t len = 0;
    Utf8 r = Decode(s, i, &cp, &len);
    if (r == Utf8::kTruncated) *truncated = true;
    if (r != Utf8::kOk || !IsPyWhitespace(cp)) break;
    i += len;
  }
  return i;
}

// `text` can still be extended to something starting with `prefix`.
bool CompatibleWith(std::string_view text, std::string_view prefix) {
  size_t n = text.size() < prefix.size() ? text.size() : prefix.size();
  return text.substr(0, n) == prefix.substr(0, n);
}

}  // namespace

bool MatchInvokeHeader(std::string_view header, std::string* name) {
  bool truncated = false;
  std::string_view rest = header.substr(SkipWhitespace(header, &truncated));
  if (rest.substr(0, kNameOpen.size()) != kNameOpen) return false;
  rest.remove_prefix(kNameOpen.size());
  // The lazy name ends at '">\n' that is followed by the end or by one final "\n".
  for (std::string_view tail : {std::string_view("\">\n"), std::string_view("\">\n\n")}) {
    if (rest.size() >= tail.size() && rest.substr(rest.size() - tail.size()) == tail) {
      *name = std::string(rest.substr(0, rest.size() - tail.size()));
      return true;
    }
  }
  return false;
}

bool InvokeHeaderPrefixFails(std::string_view header) {
  bool truncated = false;
  size_t ws = SkipWhitespace(header, &truncated);
  if (truncated) return false;
  return !CompatibleWith(header.substr(ws), kNameOpen);
}

bool MatchParameter(std::string_view content, Parameter* param) {
  if (content.substr(0, kParamOpen.size()) != kParamOpen) return false;
  std::string_view s = content.substr(kParamOpen.size());
  size_t tail = 0;  // the value ends with "<" at the end, or "<\n" (`$` before a final newline)
  if (!s.empty() && s.back() == '<') {
    tail = 1;
  } else if (s.size() >= 2 && s.substr(s.size() - 2) == "<\n") {
    tail = 2;
  } else {
    return false;
  }
  size_t value_end = s.size() - tail;
  // The lazy name ends at the first `" string="true|false">` that leaves room for the tail.
  for (size_t p = s.find("\" string=\""); p != std::string_view::npos;
       p = s.find("\" string=\"", p + 1)) {
    for (std::string_view marker : {kStringTrue, kStringFalse}) {
      if (s.substr(p, marker.size()) == marker && p + marker.size() <= value_end) {
        param->name = std::string(s.substr(0, p));
        param->is_string = marker == kStringTrue;
        param->value = std::string(s.substr(p + marker.size(), value_end - p - marker.size()));
        return true;
      }
    }
  }
  return false;
}

bool ParameterPrefixFails(std::string_view content) { return !CompatibleWith(content, kParamOpen); }

std::string ArgumentMember(const Parameter& param) {
  return PyJsonQuote(param.name) + ": " +
         (param.is_string ? PyJsonQuote(param.value) : param.value);
}

}  // namespace dsv4::dsml
