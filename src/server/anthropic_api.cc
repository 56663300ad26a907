#include "server/anthropic_api.h"

#include <limits>

#include "server/openai_api.h"

namespace dsv4 {
namespace {

constexpr int kMaxStopSequences = 16;
constexpr int64_t kMaxTokensBound = int64_t{1} << 30;

ApiError Invalid(std::string message, std::string param = "") {
  return {ApiErrorKind::kInvalidRequest, std::move(message), std::move(param)};
}

std::optional<ApiError> BlockText(const Json& content, std::string* out) {
  if (content.is_string()) {
    *out += content.get<std::string>();
    return std::nullopt;
  }
  if (!content.is_array()) return Invalid("content must be a string or an array of blocks");
  for (const Json& b : content) {
    if (!b.is_object() || !b.contains("type") || b["type"] != "text" || !b.contains("text") ||
        !b["text"].is_string()) {
      return ApiError{ApiErrorKind::kUnsupported, "only text blocks are supported here"};
    }
    *out += b["text"].get<std::string>();
  }
  return std::nullopt;
}

// One Anthropic message → one or more messages of the official encoding.
std::optional<ApiError> ConvertMessage(const Json& m, Json* out) {
  if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
    return Invalid("each message must be an object with a string 'role'", "messages");
  }
  const std::string role = m["role"].get<std::string>();
  if (role != "user" && role != "assistant") {
    return Invalid("message role must be \"user\" or \"assistant\", got '" + role + "'");
  }
  const Json& content = m.contains("content") ? m["content"] : Json();
  if (content.is_string()) {
    out->push_back({{"role", role}, {"content", content}});
    return std::nullopt;
  }
  if (!content.is_array()) return Invalid("message content must be a string or an array");
  std::string text, thinking;
  Json calls = Json::array();
  for (const Json& b : content) {
    const std::string type = b.is_object() && b.contains("type") && b["type"].is_string()
                                 ? b["type"].get<std::string>()
                                 : "";
    if (type == "text" && b.contains("text") && b["text"].is_string()) {
      text += b["text"].get<std::string>();
    } else if (type == "thinking" && role == "assistant" && b.contains("thinking") &&
               b["thinking"].is_string()) {
      thinking += b["thinking"].get<std::string>();
    } else if (type == "redacted_thinking" && role == "assistant") {
      continue;  // nothing readable to give back to the model
    } else if (type == "tool_use" && role == "assistant" && b.contains("name") &&
               b["name"].is_string()) {
      const Json input = b.contains("input") ? b["input"] : Json::object();
      Json call = {{"type", "function"},
                   {"function", {{"name", b["name"]}, {"arguments", Dump(input)}}}};
      if (b.contains("id") && b["id"].is_string()) call["id"] = b["id"];
      calls.push_back(std::move(call));
    } else if (type == "tool_result" && role == "user" && b.contains("tool_use_id") &&
               b["tool_use_id"].is_string()) {
      std::string result;
      if (b.contains("content") && !b["content"].is_null()) {
        if (auto e = BlockText(b["content"], &result)) return e;
      }
      out->push_back({{"role", "tool"}, {"tool_call_id", b["tool_use_id"]}, {"content", result}});
    } else if (type == "image" || type == "document") {
      return ApiError{ApiErrorKind::kUnsupported, "'" + type + "' blocks are not supported"};
    } else {
      return Invalid("malformed or misplaced content block of type '" + type + "' in a " + role +
                     " message");
    }
  }
  if (role == "user") {
    if (!text.empty()) out->push_back({{"role", "user"}, {"content", text}});
    if (content.empty()) return Invalid("a user message needs content", "messages");
    return std::nullopt;
  }
  Json msg = {{"role", "assistant"}, {"content", text}};
  if (!thinking.empty()) msg["reasoning_content"] = thinking;
  if (!calls.empty()) msg["tool_calls"] = calls;
  out->push_back(std::move(msg));
  return std::nullopt;
}

// Anthropic tools ({name, description, input_schema}) → the OpenAI form the encoding renders.
std::optional<ApiError> ConvertTools(const Json& tools, Json* out) {
  *out = Json::array();
  for (const Json& t : tools) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string()) {
      return Invalid("each tool needs a string 'name'", "tools");
    }
    Json fn = {{"name", t["name"]}};
    if (t.contains("description")) fn["description"] = t["description"];
    fn["parameters"] = t.contains("input_schema") ? t["input_schema"] : Json::object();
    out->push_back({{"type", "function"}, {"function", fn}});
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> ParseAnthropicMessages(const Json& body, ApiRequest* out) {
  FieldReader f(body);
  out->chat = true;
  if (auto e = ParseSampling(f, out)) return e;
  if (!body.contains("model")) return Invalid("'model' is required", "model");
  const auto max_tokens = f.Integer("max_tokens", 1, kMaxTokensBound);
  if (f.ok() && !max_tokens) return Invalid("'max_tokens' is required", "max_tokens");
  out->max_tokens = static_cast<int>(max_tokens.value_or(1));
  if (auto stops = f.Strings("stop_sequences", kMaxStopSequences)) out->stops = *stops;
  if (const Json* thinking = f.Object("thinking")) {
    FieldReader t(*thinking);
    const std::string type = t.String("type").value_or("disabled");
    t.Integer("budget_tokens", 0, kMaxTokensBound);  // accepted; V4 has no thinking budget
    if (!t.ok()) return t.error();
    if (type != "enabled" && type != "disabled") {
      return Invalid("'thinking.type' must be \"enabled\" or \"disabled\"", "thinking");
    }
    if (type == "enabled") out->mode = ThinkingMode::kThinking;
  }
  std::string system;
  if (body.contains("system") && !body["system"].is_null()) {
    if (auto e = BlockText(body["system"], &system)) return e;
  }
  const Json* tools = f.Array("tools");
  bool tools_off = false;
  if (const Json* tc = f.Object("tool_choice")) {
    const Json type = tc->contains("type") ? (*tc)["type"] : Json();
    if (type == "none") {
      tools_off = true;
    } else if (type != "auto") {
      return ApiError{ApiErrorKind::kUnsupported,
                      "tool_choice " + Dump(*tc) + " is not supported: use auto or none",
                      "tool_choice"};
    }
  }
  const Json* messages = f.Array("messages");
  if (!f.ok()) return f.error();
  if (messages == nullptr || messages->empty()) {
    return Invalid("'messages' must be a non-empty array", "messages");
  }
  Json converted = Json::array();
  if (!system.empty()) converted.push_back({{"role", "system"}, {"content", system}});
  for (const Json& m : *messages) {
    if (auto e = ConvertMessage(m, &converted)) return e;
  }
  Json v4_tools;
  if (tools != nullptr && !tools_off) {
    if (auto e = ConvertTools(*tools, &v4_tools)) return e;
  }
  Json encoded;
  // The converted messages are already in the encoding's shape; this attaches the tools.
  if (auto e = ToEncodingMessages(converted, v4_tools.is_array() ? &v4_tools : nullptr, nullptr,
                                  &encoded)) {
    return e;
  }
  out->encode = {{"messages", std::move(encoded)},
                 {"thinking_mode", out->mode == ThinkingMode::kThinking ? "thinking" : "chat"},
                 {"context", nullptr},
                 {"drop_thinking", true},
                 {"add_default_bos_token", true},
                 {"reasoning_effort", nullptr}};
  return std::nullopt;
}

// ---- responses ----

Json AnthropicWriter::UsageJson(const Usage& u, int64_t output_tokens) {
  return {{"input_tokens", u.prompt_tokens - u.cached_tokens},
          {"cache_creation_input_tokens", 0},
          {"cache_read_input_tokens", u.cached_tokens},
          {"output_tokens", output_tokens}};
}

const char* AnthropicWriter::StopReason(const ChoiceResult& r) {
  if (r.finish == FinishKind::kLength) return "max_tokens";
  if (!r.stop_string.empty()) return "stop_sequence";
  if (!r.output.tool_calls.empty()) return "tool_use";
  return "end_turn";
}

std::string AnthropicWriter::ToolUseId(int index) {
  auto [it, inserted] = tool_ids_.try_emplace(index);
  if (inserted) it->second = ShortId("toolu_");
  return it->second;
}

std::string AnthropicWriter::Begin(const Usage& usage) {
  const Json message = {{"id", id_},
                        {"type", "message"},
                        {"role", "assistant"},
                        {"model", model_},
                        {"content", Json::array()},
                        {"stop_reason", nullptr},
                        {"stop_sequence", nullptr},
                        {"usage", UsageJson(usage, 0)}};
  return SseEvent("message_start", {{"type", "message_start"}, {"message", message}}) +
         SseEvent("ping", {{"type", "ping"}});
}

std::string AnthropicWriter::CloseBlock() {
  if (block_ < 0) return "";
  return SseEvent("content_block_stop", {{"type", "content_block_stop"}, {"index", block_}});
}

std::string AnthropicWriter::Delta(int, const std::vector<OutputDelta>& deltas,
                                   const std::vector<TokenLogprob>&) {
  std::string out;
  for (const OutputDelta& d : deltas) {
    const bool opens = d.kind == OutputKind::kToolCallName || block_ < 0 || block_kind_ != d.kind;
    if (opens && d.kind != OutputKind::kToolCallArguments) {
      out += CloseBlock();
      ++block_;
      block_kind_ = d.kind;
      Json block;
      if (d.kind == OutputKind::kReasoning) {
        // No signature exists (V4 has no signed thinking); "" as in the whole message.
        block = {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}};
      } else if (d.kind == OutputKind::kContent) {
        block = {{"type", "text"}, {"text", ""}};
      } else {
        block = {{"type", "tool_use"},
                 {"id", ToolUseId(d.tool_index)},
                 {"name", d.text},
                 {"input", Json::object()}};
      }
      out +=
          SseEvent("content_block_start",
                   {{"type", "content_block_start"}, {"index", block_}, {"content_block", block}});
      if (d.kind == OutputKind::kToolCallName) continue;
    }
    Json delta;
    if (d.kind == OutputKind::kReasoning) {
      delta = {{"type", "thinking_delta"}, {"thinking", d.text}};
    } else if (d.kind == OutputKind::kContent) {
      delta = {{"type", "text_delta"}, {"text", d.text}};
    } else {
      delta = {{"type", "input_json_delta"}, {"partial_json", d.text}};
    }
    out += SseEvent("content_block_delta",
                    {{"type", "content_block_delta"}, {"index", block_}, {"delta", delta}});
  }
  return out;
}

std::string AnthropicWriter::End(const std::vector<ChoiceResult>& results, const Usage& usage) {
  const ChoiceResult& r = results.at(0);
  std::string out = CloseBlock();
  block_ = -1;
  out += SseEvent("message_delta",
                  {{"type", "message_delta"},
                   {"delta",
                    {{"stop_reason", StopReason(r)},
                     {"stop_sequence", r.stop_string.empty() ? Json() : Json(r.stop_string)}}},
                   {"usage", UsageJson(usage, usage.completion_tokens)}});
  return out + SseEvent("message_stop", {{"type", "message_stop"}});
}

std::string AnthropicWriter::StreamError(const ApiError& error) {
  return "event: error\ndata: " + ErrorBody(error, ApiDialect::kAnthropic) + "\n\n";
}

Json AnthropicWriter::Whole(const std::vector<ChoiceResult>& results, const Usage& usage) {
  const ChoiceResult& r = results.at(0);
  Json content = Json::array();
  if (!r.output.reasoning.empty()) {
    content.push_back({{"type", "thinking"}, {"thinking", r.output.reasoning}, {"signature", ""}});
  }
  // A text block when there is text, or when nothing else would say the answer is empty.
  if (!r.output.content.empty() || (content.empty() && r.output.tool_calls.empty())) {
    content.push_back({{"type", "text"}, {"text", r.output.content}});
  }
  for (size_t k = 0; k < r.output.tool_calls.size(); ++k) {
    const ToolCall& call = r.output.tool_calls[k];
    Json input = Json::parse(call.arguments, nullptr, /*allow_exceptions=*/false);
    if (input.is_discarded()) input = {{"arguments", call.arguments}};
    content.push_back({{"type", "tool_use"},
                       {"id", ToolUseId(static_cast<int>(k))},
                       {"name", call.name},
                       {"input", input}});
  }
  return {{"id", id_},
          {"type", "message"},
          {"role", "assistant"},
          {"model", model_},
          {"content", content},
          {"stop_reason", StopReason(r)},
          {"stop_sequence", r.stop_string.empty() ? Json() : Json(r.stop_string)},
          {"usage", UsageJson(usage, usage.completion_tokens)}};
}

}  // namespace dsv4
