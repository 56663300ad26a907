// libFuzzer: arbitrary bytes as a tokenizer.json text. Loading must fail cleanly or succeed; when
// it loads, encoding a few strings (ASCII, CJK, emoji, added-token look-alikes, invalid UTF-8),
// decoding the ids (and odd ids), and streaming them must not crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto tok = dsv4::Tokenizer::FromJson(text);
  if (!tok.ok()) return 0;
  const dsv4::Tokenizer& t = **tok;
  for (const char* s :
       {"Hello, world 1234567 -x- <mask> hello", "<｜User｜>x 中文 🙂\u0085 ", "\xff", ""}) {
    for (bool parse_special : {true, false}) {
      auto ids = t.Encode(s, parse_special);
      if (!ids.ok()) continue;
      t.Decode(*ids);
      dsv4::StreamDecoder stream(t);
      for (int32_t id : *ids) stream.Feed(id);
      stream.Flush();
    }
  }
  const std::vector<int32_t> odd = {-1, 0, 1, t.vocab_size() - 1, t.vocab_size(), 1 << 30};
  t.Decode(odd, /*skip_special_tokens=*/true);
  for (int32_t id : odd) t.TokenText(id);
  t.TokenId("");
  return 0;
}
