#include "tokenizer/utf8.h"

namespace dsv4 {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

Utf8Step ScanUtf8(std::string_view s, size_t i) {
  const unsigned char c = s[i];
  if (c < 0x80) return {.len = 1, .cp = c, .valid = true};
  size_t width = 0;
  // The allowed range of the second byte excludes overlongs, surrogates and values > U+10FFFF.
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    width = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    width = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    width = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return {.len = 1};  // 0x80..0xC1, 0xF5..0xFF: never valid
  }
  uint32_t cp = c & (0x7F >> width);
  for (size_t k = 1; k < width; ++k) {
    if (i + k >= s.size()) return {.len = k, .truncated = true};
    const unsigned char cc = s[i + k];
    const bool ok = k == 1 ? (cc >= lo && cc <= hi) : IsContinuation(cc);
    if (!ok) return {.len = k};
    cp = (cp << 6) | (cc & 0x3F);
  }
  return {.len = width, .cp = cp, .valid = true};
}

size_t FindInvalidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    // ASCII fast path: 8 bytes at a time.
    while (i + 8 <= s.size()) {
      uint64_t w;
      __builtin_memcpy(&w, s.data() + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= s.size()) break;
    const Utf8Step st = ScanUtf8(s, i);
    if (!st.valid) return i;
    i += st.len;
  }
  return std::string_view::npos;
}

size_t CompleteUtf8Prefix(std::string_view s) {
  // Only the last (up to 3) bytes can be an incomplete character: start the scan near the end.
  size_t i = s.size() > 3 ? s.size() - 3 : 0;
  while (i > 0 && IsContinuation(static_cast<unsigned char>(s[i]))) --i;
  while (i < s.size()) {
    const Utf8Step st = ScanUtf8(s, i);
    if (st.truncated) return i;
    i += st.len;
  }
  return s.size();
}

std::string Utf8Lossy(std::string_view s) {
  size_t bad = FindInvalidUtf8(s);
  if (bad == std::string_view::npos) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (bad != std::string_view::npos) {
    out.append(s.data() + i, bad - i);  // the valid run before the invalid subpart
    out += kReplacement;
    i = bad + ScanUtf8(s, bad).len;
    const size_t next = FindInvalidUtf8(s.substr(i));
    bad = next == std::string_view::npos ? next : i + next;
  }
  out.append(s.data() + i, s.size() - i);
  return out;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsUnicodeWhiteSpace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

}  // namespace dsv4
