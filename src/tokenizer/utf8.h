// UTF-8 helpers shared by the tokenizer: validation, the lossy conversion Rust's
// String::from_utf8_lossy performs (what HF `tokenizers` decode returns), and the boundary test the
// stream decoder needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dsv4 {

// One step of a UTF-8 scan at s[i]: a valid character (len bytes, code point cp), or an invalid
// "maximal subpart" of len bytes (Unicode's rule, as in Rust and WHATWG). truncated: the subpart is
// a proper prefix of a valid sequence cut off by the end of s — more bytes could still complete it.
struct Utf8Step {
  size_t len = 0;
  uint32_t cp = 0;
  bool valid = false;
  bool truncated = false;
};
Utf8Step ScanUtf8(std::string_view s, size_t i);

// Offset of the first invalid byte, or npos when s is valid UTF-8.
size_t FindInvalidUtf8(std::string_view s);
// Length of the longest prefix of s that does not end inside a character that might still be
// completed by more bytes. Invalid bytes are not held back (they can never become valid).
size_t CompleteUtf8Prefix(std::string_view s);
// Every invalid maximal subpart replaced by U+FFFD (Rust's String::from_utf8_lossy).
std::string Utf8Lossy(std::string_view s);
// Appends the UTF-8 encoding of cp (a Unicode scalar value).
void AppendUtf8(uint32_t cp, std::string* out);
// Unicode White_Space (Rust regex `\s`, Oniguruma `\s`): includes U+0085, excludes U+FEFF.
bool IsUnicodeWhiteSpace(uint32_t cp);

}  // namespace dsv4
