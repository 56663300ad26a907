// Internals of the chat encoder shared by encoding.cc (preprocessing) and render_message.cc.
// Messages are kept as JSON objects, like the dicts the reference works on.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"

namespace dsv4::chat_internal {

using Json = nlohmann::ordered_json;

// Python truthiness of a JSON value (None, False, 0, "", [], {} are false).
bool PyTruthy(const Json& value);
// msg.get(key): nullptr when absent (a JSON null is returned as a null value, like None).
const Json* Get(const Json& msg, const char* key);
// msg.get(key) is not None.
bool HasNonNull(const Json& msg, const char* key);
// The role when it is a string, else "".
std::string RoleOf(const Json& msg);
// str(value) for scalars; a TypeError ChatError for arrays and objects (the reference would print
// their Python repr — a deliberate deviation: such content is a malformed request).
Result<std::string> PyStr(const Json& value, const char* field);
// Python type name of a JSON value ("dict", "list", "str", ...).
const char* PyTypeNameOf(const Json& value);
// Index of the last user or developer message, or -1.
int FindLastUserIndex(const std::vector<Json>& messages);

struct RenderOptions {
  const Json* thinking_mode = nullptr;     // validated when a message is rendered
  bool drop_thinking = true;               // effective value (false when any message has tools)
  const Json* reasoning_effort = nullptr;  // validated when a message is rendered
};

// render_message: the text of messages[index] plus the transition that follows it.
Status RenderMessage(size_t index, const std::vector<Json>& messages, const RenderOptions& options,
                     std::string* prompt);

}  // namespace dsv4::chat_internal
