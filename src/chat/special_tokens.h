// The text of the DeepSeek-V4 special tokens that the chat encoding writes and the completion
// parser reads (spec §12). The tokenizer maps each to one id; here they are plain UTF-8 strings.
#pragma once

#include <string_view>

namespace dsv4::chat_tokens {

inline constexpr std::string_view kBos = "<｜begin▁of▁sentence｜>";
inline constexpr std::string_view kEos = "<｜end▁of▁sentence｜>";
inline constexpr std::string_view kThinkStart = "<think>";
inline constexpr std::string_view kThinkEnd = "</think>";
inline constexpr std::string_view kDsml = "｜DSML｜";
inline constexpr std::string_view kUser = "<｜User｜>";
inline constexpr std::string_view kAssistant = "<｜Assistant｜>";
inline constexpr std::string_view kLatestReminder = "<｜latest_reminder｜>";

// DSML markup around tool calls. The parser matches the opening tags without their closing '>'.
inline constexpr std::string_view kToolCallsStart = "\n\n<｜DSML｜tool_calls";  // block opener
inline constexpr std::string_view kToolCallsEnd = "</｜DSML｜tool_calls>";
inline constexpr std::string_view kInvokeStart = "<｜DSML｜invoke";
inline constexpr std::string_view kInvokeEnd = "</｜DSML｜invoke";
inline constexpr std::string_view kParameterStart = "<｜DSML｜parameter";
inline constexpr std::string_view kParameterEnd = "/｜DSML｜parameter";  // the '<' is in the value

}  // namespace dsv4::chat_tokens
