// Anthropic's Messages API (/v1/messages): requests → ApiRequest (content blocks mapped onto the
// official V4 messages: thinking → reasoning_content, tool_use → tool_calls, tool_result → tool
// messages), and the writer for `message` JSON and the SSE event sequence message_start,
// content_block_start / _delta / _stop, message_delta, message_stop.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "server/api_request.h"

namespace dsv4 {

std::optional<ApiError> ParseAnthropicMessages(const Json& body, ApiRequest* out);

class AnthropicWriter : public ResponseWriter {
 public:
  AnthropicWriter(std::string id, std::string model)
      : id_(std::move(id)), model_(std::move(model)) {}

  std::string Begin(const Usage& usage) override;
  std::string Delta(int choice, const std::vector<OutputDelta>& deltas,
                    const std::vector<TokenLogprob>& logprobs) override;
  std::string End(const std::vector<ChoiceResult>& results, const Usage& usage) override;
  std::string StreamError(const ApiError& error) override;
  Json Whole(const std::vector<ChoiceResult>& results, const Usage& usage) override;

 private:
  std::string CloseBlock();
  std::string ToolUseId(int index);
  static Json UsageJson(const Usage& usage, int64_t output_tokens);
  static const char* StopReason(const ChoiceResult& r);

  std::string id_, model_;
  int block_ = -1;  // index of the open content block (-1: none)
  OutputKind block_kind_ = OutputKind::kContent;
  std::map<int, std::string> tool_ids_;
};

}  // namespace dsv4
