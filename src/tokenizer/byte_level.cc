#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace dsv4 {
namespace {

constexpr uint32_t kFirstShifted = 256;  // where the non-printable bytes are moved to
constexpr uint32_t kAlphabetEnd = 512;   // every code point of the alphabet is below this

struct Tables {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, kAlphabetEnd> to_byte{};
};

const Tables& GetTables() {
  static const Tables t = [] {
    Tables t;
    t.to_byte.fill(-1);
    uint32_t next = kFirstShifted;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      t.to_cp[b] = printable ? b : next++;
      t.to_byte[t.to_cp[b]] = static_cast<int16_t>(b);
    }
    return t;
  }();
  return t;
}

}  // namespace

uint32_t ByteLevelCodepoint(uint8_t b) { return GetTables().to_cp[b]; }

int ByteLevelByte(uint32_t cp) { return cp < kAlphabetEnd ? GetTables().to_byte[cp] : -1; }

bool ByteLevelToBytes(std::string_view token, std::string* out) {
  std::string bytes;
  bytes.reserve(token.size());
  for (size_t i = 0; i < token.size();) {
    const Utf8Step st = ScanUtf8(token, i);
    const int b = st.valid ? ByteLevelByte(st.cp) : -1;
    if (b < 0) return false;
    bytes.push_back(static_cast<char>(b));
    i += st.len;
  }
  *out = std::move(bytes);
  return true;
}

std::string BytesToByteLevel(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) AppendUtf8(ByteLevelCodepoint(b), &out);
  return out;
}

}  // namespace dsv4
