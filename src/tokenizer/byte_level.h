// The GPT-2 byte-level alphabet (HF `ByteLevel`): every byte is shown as one printable code point.
// Printable Latin-1 bytes stand for themselves; the other 68 map to U+0100.. in byte order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dsv4 {

// The code point that stands for byte b.
uint32_t ByteLevelCodepoint(uint8_t b);
// The byte a code point stands for, or -1 when cp is not in the alphabet.
int ByteLevelByte(uint32_t cp);
// A byte-level token string back to raw bytes. False (out untouched) when some character is not in
// the alphabet — HF's ByteLevel decoder then keeps that token's text as it is.
bool ByteLevelToBytes(std::string_view token, std::string* out);
// Raw bytes to their byte-level string.
std::string BytesToByteLevel(std::string_view bytes);

}  // namespace dsv4
