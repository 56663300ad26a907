// libFuzzer: arbitrary bytes as a tokenizer.json; when it loads, encode/decode must not crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto tok = dsv4::Tokenizer::FromJson(text);
  if (!tok.ok()) return 0;
  for (const char* s : {"Hello, world 123 中文", "<｜User｜>x", "\xff", ""}) {
    auto ids = (*tok)->Encode(s);
    if (ids.ok()) (*tok)->Decode(*ids);
  }
  const int32_t odd[] = {-1, 0, 1, 1 << 30};
  (*tok)->Decode(odd);
  return 0;
}
