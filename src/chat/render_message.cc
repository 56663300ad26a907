// render_message of the reference: one message's text plus the transition after it
// (<｜Assistant｜> with <think> or </think>, or a quick-task token).
#include <array>
#include <string_view>
#include <utility>

#include "chat/chat_error.h"
#include "chat/encoding_internal.h"
#include "chat/py_json.h"
#include "chat/special_tokens.h"

namespace dsv4::chat_internal {
namespace {

namespace tok = chat_tokens;

// Prepended to the first rendered message in thinking mode with reasoning_effort "max".
constexpr std::string_view kReasoningEffortMax =
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to "
    "resolve the root cause, rigorously stress-testing your logic against all potential paths, "
    "edge cases, and adversarial scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate step, "
    "considered alternative, and rejected hypothesis to ensure absolutely no assumption is left "
    "unchecked.\n\n";

// The "## Tools" section, split around the list of tool schemas (one JSON line per function).
constexpr std::string_view kToolsHead =
    "## Tools\n\n"
    "You have access to a set of tools to help answer the user's question. You can invoke tools "
    "by writing a \"<｜DSML｜tool_calls>\" block like the following:\n\n"
    "<｜DSML｜tool_calls>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME\">\n"
    "<｜DSML｜parameter name=\"$PARAMETER_NAME\" string=\"true|false\">$PARAMETER_VALUE"
    "</｜DSML｜parameter>\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "<｜DSML｜invoke name=\"$TOOL_NAME2\">\n"
    "...\n"
    "</｜DSML｜invoke>\n"
    "</｜DSML｜tool_calls>\n\n"
    "String parameters should be specified as is and set `string=\"true\"`. For all other types "
    "(numbers, booleans, arrays, objects), pass the value in JSON format and set "
    "`string=\"false\"`.\n\n"
    "If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning "
    "inside <think>...</think> BEFORE any tool calls or final response.\n\n"
    "Otherwise, output directly after </think> with tool calls or final response.\n\n"
    "### Available Tool Schemas\n\n";
constexpr std::string_view kToolsTail =
    "\n\nYou MUST strictly follow the above defined tool name and parameter schemas to invoke "
    "tool calls.\n";

constexpr std::string_view kResponseFormatHead =
    "## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n";

// Quick-task tokens, in the order the reference lists them.
constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kTaskTokens = {{
    {"action", "<｜action｜>"},
    {"query", "<｜query｜>"},
    {"authority", "<｜authority｜>"},
    {"domain", "<｜domain｜>"},
    {"title", "<｜title｜>"},
    {"read_url", "<｜read_url｜>"},
}};

Status MissingKey(const char* key) {
  return ChatError(ChatErrorKind::kKey, std::string("'") + key + "'");
}

// tools_from_openai_format + render_tools.
Result<std::string> RenderTools(const Json& tools) {
  if (!tools.is_array()) {
    return ChatError(ChatErrorKind::kType,
                     "tools must be an array of {\"type\": \"function\", "
                     "\"function\": {...}} objects");
  }
  std::string schemas;
  for (const Json& tool : tools) {
    if (!tool.is_object()) {
      return ChatError(ChatErrorKind::kType,
                       "each tool must be an object, got " + std::string(PyTypeNameOf(tool)));
    }
    if (!tool.contains("function")) return MissingKey("function");
    if (!schemas.empty()) schemas += "\n";
    schemas += PyJsonDumps(tool["function"]);
  }
  return std::string(kToolsHead) + schemas + std::string(kToolsTail);
}

// The "\n\n## Tools ..." and "\n\n## Response Format ..." suffixes of system/developer text.
Result<std::string> RenderToolsAndFormat(const Json& msg) {
  std::string out;
  const Json* tools = Get(msg, "tools");
  if (tools != nullptr && PyTruthy(*tools)) {
    DSV4_ASSIGN_OR_RETURN(std::string rendered, RenderTools(*tools));
    out += "\n\n" + rendered;
  }
  const Json* response_format = Get(msg, "response_format");
  if (response_format != nullptr && PyTruthy(*response_format)) {
    out += "\n\n" + std::string(kResponseFormatHead) + PyJsonDumps(*response_format);
  }
  return out;
}

// `value or ""` formatted with str().
Result<std::string> StrOrEmpty(const Json* value, const char* field) {
  if (value == nullptr || !PyTruthy(*value)) return std::string();
  return PyStr(*value, field);
}

// encode_arguments_to_dsml: the parameters of one call. Arguments are json.loads'ed and each
// value written raw (strings, string="true") or re-dumped (string="false"); arguments that are not
// JSON become one string parameter named "arguments".
Result<std::string> EncodeArgumentsToDsml(const Json& arguments) {
  PyJsonValue args;
  Result<PyJsonValue> loaded = arguments.is_string()
                                   ? PyJsonLoads(arguments.get_ref<const std::string&>())
                                   : Result<PyJsonValue>(InvalidArgument("not a string"));
  if (loaded.ok()) {
    args = std::move(loaded).value();
  } else {
    // json.loads failed: {"arguments": <the raw value>}.
    std::string value =
        arguments.is_string() ? arguments.get<std::string>() : PyJsonDumps(arguments);
    const char* is_str = arguments.is_string() ? "true" : "false";
    return "<" + std::string(tok::kDsml) + "parameter name=\"arguments\" string=\"" + is_str +
           "\">" + value + "</" + std::string(tok::kDsml) + "parameter>";
  }
  if (args.kind != PyJsonValue::Kind::kObject) {
    return ChatError(ChatErrorKind::kAttribute,
                     std::string("'") + PyTypeName(args) + "' object has no attribute 'items'");
  }
  std::string out;
  for (size_t i = 0; i < args.keys.size(); ++i) {
    const std::string& key = args.keys[i];
    const PyJsonValue& value = args.items[i];
    if (!out.empty()) out += "\n";
    bool is_str = value.kind == PyJsonValue::Kind::kString;
    out += "<" + std::string(tok::kDsml) + "parameter name=\"" + key + "\" string=\"" +
           (is_str ? "true" : "false") + "\">" + (is_str ? value.text : PyJsonDumps(value)) + "</" +
           std::string(tok::kDsml) + "parameter>";
  }
  return out;
}

// The "\n\n<｜DSML｜tool_calls>...</｜DSML｜tool_calls>" block of an assistant message.
// tool_calls_from_openai_format: each call needs function.name and function.arguments.
Status CheckToolCallsShape(const Json& tool_calls) {
  if (!tool_calls.is_array()) {
    return ChatError(ChatErrorKind::kType, "tool_calls must be an array");
  }
  for (const Json& tc : tool_calls) {
    if (!tc.is_object()) return ChatError(ChatErrorKind::kType, "tool call must be an object");
    if (!tc.contains("function")) return MissingKey("function");
    const Json& fn = tc["function"];
    if (!fn.is_object()) {
      return ChatError(ChatErrorKind::kType, "tool_calls[].function must be an object");
    }
    if (!fn.contains("name")) return MissingKey("name");
    if (!fn.contains("arguments")) return MissingKey("arguments");
  }
  return Status::Ok();
}

Result<std::string> RenderToolCalls(const Json& tool_calls) {
  DSV4_RETURN_IF_ERROR(CheckToolCallsShape(tool_calls));
  std::string invokes;
  for (const Json& tc : tool_calls) {
    const Json& fn = tc["function"];
    DSV4_ASSIGN_OR_RETURN(std::string name, PyStr(fn["name"], "tool_calls[].function.name"));
    DSV4_ASSIGN_OR_RETURN(std::string params, EncodeArgumentsToDsml(fn["arguments"]));
    if (!invokes.empty()) invokes += "\n";
    invokes += "<" + std::string(tok::kDsml) + "invoke name=\"" + name + "\">\n" + params + "\n</" +
               std::string(tok::kDsml) + "invoke>";
  }
  return "\n\n<" + std::string(tok::kDsml) + "tool_calls>\n" + invokes + "\n</" +
         std::string(tok::kDsml) + "tool_calls>";
}

// A join of str parts, as "\n\n".join(...) requires: anything but a string is a TypeError.
Status AppendJoinPart(const Json* part, size_t index, std::vector<std::string>* parts) {
  if (part == nullptr) {
    parts->emplace_back();
    return Status::Ok();
  }
  if (!part->is_string()) {
    return ChatError(ChatErrorKind::kType, "sequence item " + std::to_string(index) +
                                               ": expected str instance, " + PyTypeNameOf(*part) +
                                               " found");
  }
  parts->push_back(part->get<std::string>());
  return Status::Ok();
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

// One tool_result block: "<tool_result>{content}</tool_result>", list content flattened.
Result<std::string> RenderToolResult(const Json& block) {
  const Json* content = Get(block, "content");
  std::string text;
  if (content != nullptr && content->is_array()) {
    std::vector<std::string> parts;
    for (const Json& b : *content) {
      if (!b.is_object()) {
        return ChatError(ChatErrorKind::kAttribute,
                         std::string("'") + PyTypeNameOf(b) + "' object has no attribute 'get'");
      }
      const Json* type = Get(b, "type");
      if (type != nullptr && *type == "text") {
        DSV4_RETURN_IF_ERROR(AppendJoinPart(Get(b, "text"), parts.size(), &parts));
      } else {
        DSV4_ASSIGN_OR_RETURN(std::string type_str,
                              type ? PyStr(*type, "content block type") : std::string("None"));
        parts.push_back("[Unsupported " + type_str + "]");
      }
    }
    text = Join(parts, "\n\n");
  } else {
    DSV4_ASSIGN_OR_RETURN(text, content ? PyStr(*content, "tool content") : std::string(""));
  }
  return "<tool_result>" + text + "</tool_result>";
}

Result<std::string> RenderUser(const Json& msg) {
  const Json* blocks = Get(msg, "content_blocks");
  if (blocks == nullptr || !PyTruthy(*blocks) || !blocks->is_array()) {
    DSV4_ASSIGN_OR_RETURN(std::string content, StrOrEmpty(Get(msg, "content"), "content"));
    return std::string(tok::kUser) + content;
  }
  std::vector<std::string> parts;
  for (const Json& block : *blocks) {
    const Json* type = Get(block, "type");
    if (type != nullptr && *type == "text") {
      DSV4_RETURN_IF_ERROR(AppendJoinPart(Get(block, "text"), parts.size(), &parts));
    } else if (type != nullptr && *type == "tool_result") {
      DSV4_ASSIGN_OR_RETURN(std::string result, RenderToolResult(block));
      parts.push_back(std::move(result));
    } else {
      DSV4_ASSIGN_OR_RETURN(std::string type_str,
                            type ? PyStr(*type, "content block type") : std::string("None"));
      parts.push_back("[Unsupported " + type_str + "]");
    }
  }
  return std::string(tok::kUser) + Join(parts, "\n\n");
}

Result<std::string> RenderDeveloper(const Json& msg) {
  const Json* content = Get(msg, "content");
  if (content == nullptr || !PyTruthy(*content)) {
    return ChatError(ChatErrorKind::kAssertion,
                     "Invalid message for role `developer`: " + PyJsonDumps(msg));
  }
  if (!content->is_string()) {
    return ChatError(ChatErrorKind::kType, "developer content must be a string, got " +
                                               std::string(PyTypeNameOf(*content)));
  }
  DSV4_ASSIGN_OR_RETURN(std::string extra, RenderToolsAndFormat(msg));
  return std::string(tok::kUser) + content->get<std::string>() + extra;
}

Result<std::string> RenderAssistant(size_t index, const std::vector<Json>& messages,
                                    const RenderOptions& options) {
  const Json& msg = messages[index];
  std::string tool_calls_text;
  const Json* tool_calls = Get(msg, "tool_calls");
  if (tool_calls != nullptr && PyTruthy(*tool_calls)) {
    DSV4_ASSIGN_OR_RETURN(tool_calls_text, RenderToolCalls(*tool_calls));
  }
  DSV4_ASSIGN_OR_RETURN(std::string content, StrOrEmpty(Get(msg, "content"), "content"));
  DSV4_ASSIGN_OR_RETURN(std::string reasoning,
                        StrOrEmpty(Get(msg, "reasoning_content"), "reasoning_content"));
  // The answer to a quick-task prompt carries no thinking block.
  bool prev_has_task = index > 0 && HasNonNull(messages[index - 1], "task");
  std::string thinking;
  if (*options.thinking_mode == "thinking" && !prev_has_task) {
    int last_user = FindLastUserIndex(messages);
    if (!options.drop_thinking || static_cast<int>(index) > last_user) {
      thinking = reasoning + std::string(tok::kThinkEnd);
    }
  }
  const Json* wo_eos = Get(msg, "wo_eos");
  bool with_eos = wo_eos == nullptr || !PyTruthy(*wo_eos);
  return thinking + content + tool_calls_text + (with_eos ? std::string(tok::kEos) : "");
}

Result<std::string> RenderBody(size_t index, const std::vector<Json>& messages,
                               const RenderOptions& options) {
  const Json& msg = messages[index];
  std::string role = RoleOf(msg);
  if (role == "system") {
    DSV4_ASSIGN_OR_RETURN(std::string content, StrOrEmpty(Get(msg, "content"), "content"));
    DSV4_ASSIGN_OR_RETURN(std::string extra, RenderToolsAndFormat(msg));
    return content + extra;
  }
  if (role == "developer") return RenderDeveloper(msg);
  if (role == "user") return RenderUser(msg);
  if (role == "latest_reminder") {
    const Json* content = Get(msg, "content");
    DSV4_ASSIGN_OR_RETURN(std::string text, content ? PyStr(*content, "content")
                                                    : Result<std::string>(std::string("None")));
    return std::string(tok::kLatestReminder) + text;
  }
  if (role == "assistant") return RenderAssistant(index, messages, options);
  const Json* raw_role = Get(msg, "role");
  DSV4_ASSIGN_OR_RETURN(std::string role_str,
                        raw_role ? PyStr(*raw_role, "role") : std::string("None"));
  return ChatError(ChatErrorKind::kNotImplemented, "Unknown role: " + role_str);
}

// What follows a message that ends the list or precedes an assistant / latest_reminder turn.
Status AppendTransition(size_t index, const std::vector<Json>& messages,
                        const RenderOptions& options, std::string* prompt) {
  if (index + 1 < messages.size()) {
    std::string next = RoleOf(messages[index + 1]);
    if (next != "assistant" && next != "latest_reminder") return Status::Ok();
  }
  const Json& msg = messages[index];
  bool thinking = *options.thinking_mode == "thinking";
  if (HasNonNull(msg, "task")) {
    const Json& task = msg["task"];
    if (task.is_array() || task.is_object()) {
      return ChatError(ChatErrorKind::kType,
                       std::string("unhashable type: '") + PyTypeNameOf(task) + "'");
    }
    for (const auto& [name, token] : kTaskTokens) {
      if (task != std::string(name)) continue;
      if (name != "action") {
        *prompt += token;
      } else {
        *prompt += std::string(tok::kAssistant) +
                   std::string(thinking ? tok::kThinkStart : tok::kThinkEnd) + std::string(token);
      }
      return Status::Ok();
    }
    DSV4_ASSIGN_OR_RETURN(std::string task_str, PyStr(task, "task"));
    std::string valid;
    for (const auto& [name, token] : kTaskTokens) {
      valid += (valid.empty() ? "'" : ", '") + std::string(name) + "'";
    }
    return ChatError(ChatErrorKind::kAssertion,
                     "Invalid task: '" + task_str + "'. Valid tasks are: [" + valid + "]");
  }
  std::string role = RoleOf(msg);
  if (role == "user" || role == "developer") {
    int last_user = FindLastUserIndex(messages);
    bool open_thinking =
        thinking && (!options.drop_thinking || static_cast<int>(index) >= last_user);
    *prompt += std::string(tok::kAssistant) +
               std::string(open_thinking ? tok::kThinkStart : tok::kThinkEnd);
  }
  return Status::Ok();
}

}  // namespace

Status RenderMessage(size_t index, const std::vector<Json>& messages, const RenderOptions& options,
                     std::string* prompt) {
  const Json& mode = *options.thinking_mode;
  if (mode != "chat" && mode != "thinking") {
    DSV4_ASSIGN_OR_RETURN(std::string mode_str, PyStr(mode, "thinking_mode"));
    return ChatError(ChatErrorKind::kAssertion, "Invalid thinking_mode `" + mode_str + "`");
  }
  // Like the reference, `tools` and `tool_calls` are converted (and can fail) on any role.
  const Json& msg = messages[index];
  const Json* tools = Get(msg, "tools");
  if (tools != nullptr && PyTruthy(*tools)) DSV4_RETURN_IF_ERROR(RenderTools(*tools).status());
  const Json* tool_calls = Get(msg, "tool_calls");
  if (tool_calls != nullptr && PyTruthy(*tool_calls)) {
    DSV4_RETURN_IF_ERROR(CheckToolCallsShape(*tool_calls));
  }
  const Json& effort = *options.reasoning_effort;
  if (!effort.is_null() && effort != "max" && effort != "high") {
    DSV4_ASSIGN_OR_RETURN(std::string effort_str, PyStr(effort, "reasoning_effort"));
    return ChatError(ChatErrorKind::kAssertion, "Invalid reasoning effort: " + effort_str);
  }
  if (index == 0 && mode == "thinking" && effort == "max") *prompt += kReasoningEffortMax;
  DSV4_ASSIGN_OR_RETURN(std::string body, RenderBody(index, messages, options));
  *prompt += body;
  return AppendTransition(index, messages, options, prompt);
}

}  // namespace dsv4::chat_internal
