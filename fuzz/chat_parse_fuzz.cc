// Fuzzes the completion parsers and the chat encoder. Invariants checked on every input:
//   * ParseCompletion never crashes (both modes);
//   * the streaming parser, fed in chunk sizes drawn from the input, fails exactly when the
//     one-shot parser fails, and otherwise returns the same message — which the deltas add up to;
//   * EncodeChatJson never crashes on the bytes as a request.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/check.h"
#include "chat/completion_parser.h"
#include "chat/completion_stream.h"
#include "chat/encoding.h"

namespace {

void CheckStreamingMatches(std::string_view text, dsv4::ThinkingMode mode, uint32_t seed) {
  dsv4::Result<dsv4::ParsedMessage> one_shot = dsv4::ParseCompletion(text, mode);
  dsv4::CompletionStreamParser parser(mode);
  std::vector<dsv4::CompletionDelta> deltas;
  dsv4::Status status;
  for (size_t i = 0; i < text.size() && status.ok();) {
    seed = seed * 1103515245u + 12345u;
    size_t n = std::min<size_t>(text.size() - i, 1 + (seed >> 16) % 17);
    status = parser.Feed(text.substr(i, n), &deltas);
    i += n;
  }
  if (!status.ok()) {
    DSV4_CHECK(!one_shot.ok());  // an early streaming error must be a certain error
    return;
  }
  dsv4::Result<dsv4::ParsedMessage> streamed = parser.Finish(&deltas);
  DSV4_CHECK(streamed.ok() == one_shot.ok());
  if (!streamed.ok()) return;
  dsv4::ParsedMessage sum;
  for (const dsv4::CompletionDelta& d : deltas) {
    if (d.kind == dsv4::CompletionDeltaKind::kReasoning) sum.reasoning_content += d.text;
    if (d.kind == dsv4::CompletionDeltaKind::kContent) sum.content += d.text;
    if (d.kind == dsv4::CompletionDeltaKind::kToolCallName) sum.tool_calls.push_back({d.text, ""});
    if (d.kind == dsv4::CompletionDeltaKind::kToolCallArguments) {
      DSV4_CHECK(!sum.tool_calls.empty());
      sum.tool_calls.back().arguments += d.text;
    }
  }
  DSV4_CHECK(ParsedMessageToJson(*streamed) == ParsedMessageToJson(*one_shot));
  DSV4_CHECK(ParsedMessageToJson(sum) == ParsedMessageToJson(*one_shot));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  uint32_t seed = size > 0 ? data[0] : 0;
  CheckStreamingMatches(text, dsv4::ThinkingMode::kChat, seed);
  CheckStreamingMatches(text, dsv4::ThinkingMode::kThinking, seed ^ 0x5Au);
  (void)dsv4::EncodeChatJson(text);
  return 0;
}
