// Parsing a generated completion back into an assistant message, exactly as
// `parse_message_from_completion_text` of encoding_dsv4.py does, and the streaming variant that
// turns decoded text chunks into deltas as they arrive.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace dsv4 {

// chat: the prompt ended with "</think>"; thinking: it ended with "<think>", so the completion
// starts with reasoning that "</think>" closes.
enum class ThinkingMode { kChat, kThinking };

// "chat" | "thinking".
Result<ThinkingMode> ParseThinkingMode(std::string_view name);

struct ToolCall {
  std::string name;
  std::string arguments;  // JSON text: {"key": value, ...} in DSML parameter order
};

struct ParsedMessage {
  std::string role = "assistant";
  std::string content;
  std::string reasoning_content;
  std::vector<ToolCall> tool_calls;
};

// The completion text as generated after the prompt, including the final EOS token text
// (optional only after tool calls). Malformed text returns a ChatError (chat_error.h):
// AssertionError for structure (missing </think> or EOS, special tokens in content, trailing
// text), ValueError for malformed DSML — the kinds and messages of the reference.
Result<ParsedMessage> ParseCompletion(std::string_view text, ThinkingMode mode);

// {"role", "content", "reasoning_content",
//  "tool_calls": [{"type": "function", "function": {"name", "arguments"}}]} — the reference's dict.
nlohmann::ordered_json ParsedMessageToJson(const ParsedMessage& message);

}  // namespace dsv4
