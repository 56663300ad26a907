// The official DeepSeek-V4 chat encoding: messages -> prompt string, byte-identical to
// `encode_messages` of encoding_dsv4.py (see docs/chat-encoding.md for the rules).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/status.h"

namespace dsv4 {

// `request` holds the keyword arguments of encode_messages:
//   messages               array of message objects (required)
//   thinking_mode          "chat" | "thinking" (required)
//   context                null | array of messages already encoded (prefix; not re-rendered)
//   drop_thinking          bool, default true
//   add_default_bos_token  bool, default true
//   reasoning_effort       null | "high" | "max"
// An ordered_json, because tool schemas are re-serialized in their original key order.
// Invalid requests return a ChatError (chat_error.h) of the kind the reference raises.
Result<std::string> EncodeChat(const nlohmann::ordered_json& request);

// Same, from the request's JSON text (e.g. a file).
Result<std::string> EncodeChatJson(std::string_view request_json);

}  // namespace dsv4
