#include "server/openai_api.h"

#include <limits>

namespace dsv4 {
namespace {

constexpr int kMaxChoices = 16;            // n
constexpr int kMaxStops = 16;              // stop strings (OpenAI allows 4)
constexpr int kMaxCompletionLogprobs = 5;  // /v1/completions `logprobs` (OpenAI's bound)
constexpr int64_t kMaxTokensBound = int64_t{1} << 30;

ApiError Invalid(std::string message, std::string param = "") {
  return {ApiErrorKind::kInvalidRequest, std::move(message), std::move(param)};
}

// Content as the encoding wants it: a string (text parts joined), or null.
std::optional<ApiError> ContentText(const Json& content, Json* out) {
  if (content.is_null() || content.is_string()) {
    *out = content;
    return std::nullopt;
  }
  if (!content.is_array()) return Invalid("message content must be a string, null or an array");
  std::string text;
  for (const Json& part : content) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      return Invalid("content parts must be objects with a string 'type'");
    }
    const std::string type = part["type"].get<std::string>();
    if (type != "text") {
      return ApiError{ApiErrorKind::kUnsupported,
                      "content part type '" + type + "' is not supported (text only)"};
    }
    if (!part.contains("text") || !part["text"].is_string()) {
      return Invalid("a text content part needs a string 'text'");
    }
    text += part["text"].get<std::string>();
  }
  *out = text;
  return std::nullopt;
}

std::optional<ApiError> ToolCalls(const Json& calls, Json* out) {
  if (!calls.is_array()) return Invalid("'tool_calls' must be an array");
  *out = Json::array();
  for (const Json& c : calls) {
    const Json* fn = c.is_object() && c.contains("function") ? &c["function"] : nullptr;
    if (fn == nullptr || !fn->is_object() || !fn->contains("name") || !(*fn)["name"].is_string()) {
      return Invalid("each tool call needs a 'function' with a string 'name'");
    }
    Json args = fn->contains("arguments") ? (*fn)["arguments"] : Json("{}");
    if (!args.is_string()) args = Dump(args);
    Json call = {{"type", "function"},
                 {"function", {{"name", (*fn)["name"]}, {"arguments", args}}}};
    if (c.contains("id") && c["id"].is_string()) call["id"] = c["id"];
    out->push_back(std::move(call));
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> ToEncodingMessages(const Json& messages, const Json* tools,
                                           const Json* response_format, Json* out) {
  if (!messages.is_array() || messages.empty()) {
    return Invalid("'messages' must be a non-empty array", "messages");
  }
  *out = Json::array();
  for (const Json& m : messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return Invalid("each message must be an object with a string 'role'", "messages");
    }
    const std::string role = m["role"].get<std::string>();
    if (role != "system" && role != "developer" && role != "user" && role != "assistant" &&
        role != "tool") {
      return Invalid("unknown message role '" + role + "'", "messages");
    }
    Json msg = {{"role", role}};
    Json content;
    if (auto e = ContentText(m.contains("content") ? m["content"] : Json(), &content)) return e;
    msg["content"] = content;
    if (role == "assistant" && m.contains("reasoning_content") &&
        !m["reasoning_content"].is_null()) {
      if (!m["reasoning_content"].is_string()) return Invalid("'reasoning_content' must be text");
      msg["reasoning_content"] = m["reasoning_content"];
    }
    if (role == "assistant" && m.contains("tool_calls") && !m["tool_calls"].is_null()) {
      Json calls;
      if (auto e = ToolCalls(m["tool_calls"], &calls)) return e;
      if (!calls.empty()) msg["tool_calls"] = calls;
    }
    if (role == "tool") {
      if (!m.contains("tool_call_id") || !m["tool_call_id"].is_string()) {
        return Invalid("a tool message needs a string 'tool_call_id'", "messages");
      }
      msg["tool_call_id"] = m["tool_call_id"];
    }
    out->push_back(std::move(msg));
  }
  const bool has_tools = tools != nullptr && !tools->empty();
  const bool has_format = response_format != nullptr;
  if (!has_tools && !has_format) return std::nullopt;
  auto system = out->begin();
  while (system != out->end() && (*system)["role"] != "system") ++system;
  if (system == out->end()) {
    out->insert(out->begin(), Json{{"role", "system"}, {"content", ""}});
    system = out->begin();
  }
  if (has_tools) (*system)["tools"] = *tools;
  if (has_format) (*system)["response_format"] = *response_format;
  return std::nullopt;
}

std::optional<ApiError> ParseSampling(FieldReader& f, ApiRequest* out) {
  SamplingParams& s = out->sampling;
  s.temperature = static_cast<float>(f.Number("temperature", 0, 2).value_or(1.0));
  s.top_p = static_cast<float>(f.Number("top_p", 0, 1).value_or(1.0));
  s.top_k = static_cast<int>(f.Integer("top_k", 0, std::numeric_limits<int>::max()).value_or(0));
  s.min_p = static_cast<float>(f.Number("min_p", 0, 1).value_or(0.0));
  s.presence_penalty = static_cast<float>(f.Number("presence_penalty", -2, 2).value_or(0.0));
  s.frequency_penalty = static_cast<float>(f.Number("frequency_penalty", -2, 2).value_or(0.0));
  s.repetition_penalty = static_cast<float>(f.Number("repetition_penalty", 0, 10).value_or(1.0));
  if (auto seed = f.Integer("seed", std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::max())) {
    s.seed = static_cast<uint64_t>(*seed);
    out->seeded = true;
  }
  if (auto stream = f.Bool("stream")) out->stream = *stream;
  if (!f.ok()) return f.error();
  if (s.top_p <= 0) return Invalid("'top_p' must be above 0", "top_p");
  if (s.repetition_penalty <= 0) return Invalid("'repetition_penalty' must be above 0");
  return std::nullopt;
}

namespace {

// Fields of both OpenAI endpoints: sampling, n, max_tokens, stop, stream_options.
std::optional<ApiError> ParseOpenAICommon(const Json& body, FieldReader& f, ApiRequest* out) {
  if (auto e = ParseSampling(f, out)) return e;
  out->n = static_cast<int>(f.Integer("n", 1, kMaxChoices).value_or(1));
  auto max_tokens = f.Integer("max_completion_tokens", 1, kMaxTokensBound);
  if (!max_tokens) max_tokens = f.Integer("max_tokens", 1, kMaxTokensBound);
  if (max_tokens) out->max_tokens = static_cast<int>(*max_tokens);
  if (auto stops = f.Strings("stop", kMaxStops)) out->stops = *stops;
  if (const Json* so = f.Object("stream_options")) {
    FieldReader g(*so);
    out->include_usage = g.Bool("include_usage").value_or(false);
    if (!g.ok()) return g.error();
  }
  f.String("user");  // accepted, unused
  (void)body;
  if (!f.ok()) return f.error();
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> ParseOpenAIChat(const Json& body, ApiRequest* out) {
  FieldReader f(body);
  out->chat = true;
  if (auto e = ParseOpenAICommon(body, f, out)) return e;
  out->logprobs = f.Bool("logprobs").value_or(false);
  const auto top = f.Integer("top_logprobs", 0, SamplingParams::kMaxTopLogprobs);
  if (top && !out->logprobs) f.Fail("top_logprobs", "'top_logprobs' needs 'logprobs': true");
  out->sampling.top_logprobs = static_cast<int>(top.value_or(0));
  if (const Json* thinking = f.Object("thinking")) {
    FieldReader t(*thinking);
    const std::string type = t.String("type").value_or("disabled");
    if (!t.ok()) return t.error();
    if (type != "enabled" && type != "disabled") {
      return Invalid("'thinking.type' must be \"enabled\" or \"disabled\"", "thinking");
    }
    if (type == "enabled") out->mode = ThinkingMode::kThinking;
  }
  Json effort;
  if (auto e = f.String("reasoning_effort")) {
    // V4 knows two levels: "max" adds its prefix; "high" (and the lighter OpenAI names) add
    // nothing.
    if (*e == "max" || *e == "xhigh")
      effort = "max";
    else if (*e == "high" || *e == "medium" || *e == "low" || *e == "minimal")
      effort = "high";
    else
      return Invalid("'reasoning_effort' must be low, medium, high or max", "reasoning_effort");
  }
  const Json* tools = f.Array("tools");
  const Json* format = f.Object("response_format");
  std::string tool_choice = "auto";
  if (body.contains("tool_choice") && !body["tool_choice"].is_null()) {
    const Json& tc = body["tool_choice"];
    tool_choice = tc.is_string() ? tc.get<std::string>() : "named";
    if (tool_choice != "auto" && tool_choice != "none") {
      return ApiError{ApiErrorKind::kUnsupported,
                      "tool_choice '" + (tc.is_string() ? tool_choice : Dump(tc)) +
                          "' is not supported: the model decides (\"auto\") or sees no tools "
                          "(\"none\")",
                      "tool_choice"};
    }
  }
  if (!f.ok()) return f.error();
  if (format != nullptr) {
    const Json& type = (*format).contains("type") ? (*format)["type"] : Json();
    if (!type.is_string() || (type != "text" && type != "json_object" && type != "json_schema")) {
      return Invalid("'response_format.type' must be text, json_object or json_schema",
                     "response_format");
    }
    if (type == "text") format = nullptr;  // the default: nothing to say
  }
  if (!body.contains("messages")) return Invalid("'messages' is required", "messages");
  Json messages;
  if (auto e = ToEncodingMessages(body["messages"], tool_choice == "none" ? nullptr : tools, format,
                                  &messages)) {
    return e;
  }
  out->encode = {{"messages", std::move(messages)},
                 {"thinking_mode", out->mode == ThinkingMode::kThinking ? "thinking" : "chat"},
                 {"context", nullptr},
                 {"drop_thinking", true},
                 {"add_default_bos_token", true},
                 {"reasoning_effort", effort}};
  return std::nullopt;
}

std::optional<ApiError> ParseOpenAICompletion(const Json& body, ApiRequest* out) {
  FieldReader f(body);
  out->chat = false;
  if (auto e = ParseOpenAICommon(body, f, out)) return e;
  const auto logprobs = f.Integer("logprobs", 0, kMaxCompletionLogprobs);
  if (logprobs) {
    out->logprobs = true;
    out->sampling.top_logprobs = static_cast<int>(*logprobs);
  }
  if (f.Bool("echo").value_or(false)) {
    return ApiError{ApiErrorKind::kUnsupported, "'echo' is not supported", "echo"};
  }
  if (!f.ok()) return f.error();
  const Json& p = body.contains("prompt") ? body["prompt"] : Json();
  if (p.is_string()) {
    out->prompt_text = p.get<std::string>();
  } else if (p.is_array() && !p.empty() && p[0].is_number_integer()) {
    for (const Json& v : p) {
      if (!v.is_number_integer() || v.get<int64_t>() < 0 ||
          v.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
        return Invalid("'prompt' token arrays hold non-negative integer ids", "prompt");
      }
      out->prompt_ids.push_back(static_cast<int32_t>(v.get<int64_t>()));
    }
  } else if (p.is_array() && p.size() == 1 && p[0].is_string()) {
    out->prompt_text = p[0].get<std::string>();
  } else {
    return Invalid("'prompt' must be a string or an array of token ids", "prompt");
  }
  return std::nullopt;
}

// ---- responses ----

Json OpenAIWriter::UsageJson(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

const char* OpenAIWriter::FinishReason(const ChoiceResult& r) {
  if (!r.output.tool_calls.empty() && r.finish == FinishKind::kStopToken) return "tool_calls";
  return r.finish == FinishKind::kLength ? "length" : "stop";
}

std::string OpenAIWriter::ToolCallId(int choice, int index) {
  auto [it, inserted] = tool_ids_.try_emplace({choice, index});
  if (inserted) it->second = ShortId("call_");
  return it->second;
}

Json OpenAIWriter::TokenEntry(int32_t token, float logprob) const {
  const int32_t ids[] = {token};
  Json bytes = Json::array();
  for (unsigned char c : tokenizer_.TokenBytes(token)) bytes.push_back(static_cast<int>(c));
  return {{"token", tokenizer_.Decode(ids)}, {"logprob", logprob}, {"bytes", bytes}};
}

Json OpenAIWriter::Logprobs(const std::vector<TokenLogprob>& lps, size_t* text_offset) const {
  if (chat_) {
    Json content = Json::array();
    for (const TokenLogprob& lp : lps) {
      Json entry = TokenEntry(lp.token, lp.logprob);
      Json top = Json::array();
      for (const auto& [id, p] : lp.top) top.push_back(TokenEntry(id, p));
      entry["top_logprobs"] = top;
      content.push_back(std::move(entry));
    }
    return {{"content", content}};
  }
  Json tokens = Json::array(), token_logprobs = Json::array(), tops = Json::array(),
       offsets = Json::array();
  for (const TokenLogprob& lp : lps) {
    const int32_t ids[] = {lp.token};
    const std::string text = tokenizer_.Decode(ids);
    tokens.push_back(text);
    token_logprobs.push_back(lp.logprob);
    Json top = Json::object();
    for (const auto& [id, p] : lp.top) {
      const int32_t one[] = {id};
      top[tokenizer_.Decode(one)] = p;
    }
    tops.push_back(top);
    offsets.push_back(*text_offset);
    *text_offset += text.size();
  }
  return {{"tokens", tokens},
          {"token_logprobs", token_logprobs},
          {"top_logprobs", tops},
          {"text_offset", offsets}};
}

Json OpenAIWriter::Chunk(int choice, Json delta_or_text, const Json& finish,
                         const Json& logprobs) const {
  Json c = {{"index", choice}};
  c[chat_ ? "delta" : "text"] = std::move(delta_or_text);
  c["logprobs"] = logprobs;
  c["finish_reason"] = finish;
  return {{"id", id_},
          {"object", chat_ ? "chat.completion.chunk" : "text_completion"},
          {"created", created_},
          {"model", model_},
          {"choices", Json::array({c})}};
}

std::string OpenAIWriter::Begin(const Usage&) {
  if (!chat_) return "";
  std::string out;
  for (int i = 0; i < choices_; ++i) {
    out += Sse(Chunk(i, {{"role", "assistant"}, {"content", ""}}, nullptr, nullptr));
  }
  return out;
}

std::string OpenAIWriter::Delta(int choice, const std::vector<OutputDelta>& deltas,
                                const std::vector<TokenLogprob>& logprobs) {
  std::vector<TokenLogprob>& pending = pending_logprobs_[choice];
  if (logprobs_) pending.insert(pending.end(), logprobs.begin(), logprobs.end());
  std::string out;
  for (const OutputDelta& d : deltas) {
    Json lp = nullptr;
    if (logprobs_ && !pending.empty()) {
      lp = Logprobs(pending, &text_offsets_[choice]);
      pending.clear();
    }
    Json delta;
    if (!chat_) {
      delta = d.text;
    } else if (d.kind == OutputKind::kContent) {
      delta = {{"content", d.text}};
    } else if (d.kind == OutputKind::kReasoning) {
      delta = {{"reasoning_content", d.text}};
    } else if (d.kind == OutputKind::kToolCallName) {
      delta = {{"tool_calls",
                {{{"index", d.tool_index},
                  {"id", ToolCallId(choice, d.tool_index)},
                  {"type", "function"},
                  {"function", {{"name", d.text}, {"arguments", ""}}}}}}};
    } else {
      delta = {{"tool_calls", {{{"index", d.tool_index}, {"function", {{"arguments", d.text}}}}}}};
    }
    out += Sse(Chunk(choice, std::move(delta), nullptr, lp));
  }
  return out;
}

std::string OpenAIWriter::End(const std::vector<ChoiceResult>& results, const Usage& usage) {
  std::string out;
  for (size_t i = 0; i < results.size(); ++i) {
    std::vector<TokenLogprob>& pending = pending_logprobs_[static_cast<int>(i)];
    Json lp = nullptr;
    if (logprobs_ && !pending.empty()) lp = Logprobs(pending, &text_offsets_[static_cast<int>(i)]);
    out += Sse(Chunk(static_cast<int>(i), chat_ ? Json::object() : Json(""),
                     FinishReason(results[i]), lp));
  }
  if (include_usage_) {
    out += Sse({{"id", id_},
                {"object", chat_ ? "chat.completion.chunk" : "text_completion"},
                {"created", created_},
                {"model", model_},
                {"choices", Json::array()},
                {"usage", UsageJson(usage)}});
  }
  return out + "data: [DONE]\n\n";
}

std::string OpenAIWriter::StreamError(const ApiError& error) {
  return "data: " + ErrorBody(error, ApiDialect::kOpenAI) + "\n\ndata: [DONE]\n\n";
}

Json OpenAIWriter::Whole(const std::vector<ChoiceResult>& results, const Usage& usage) {
  Json choices = Json::array();
  for (size_t i = 0; i < results.size(); ++i) {
    const ChoiceResult& r = results[i];
    Json c = {{"index", i}};
    if (chat_) {
      Json msg = {{"role", "assistant"}, {"content", r.output.content}};
      if (!r.output.reasoning.empty()) msg["reasoning_content"] = r.output.reasoning;
      if (!r.output.tool_calls.empty()) {
        Json calls = Json::array();
        for (size_t k = 0; k < r.output.tool_calls.size(); ++k) {
          const ToolCall& call = r.output.tool_calls[k];
          calls.push_back({{"id", ToolCallId(static_cast<int>(i), static_cast<int>(k))},
                           {"type", "function"},
                           {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
        }
        msg["tool_calls"] = calls;
        if (r.output.content.empty()) msg["content"] = nullptr;
      }
      c["message"] = msg;
    } else {
      c["text"] = r.output.content;
    }
    size_t offset = 0;
    c["logprobs"] = logprobs_ ? Logprobs(r.logprobs, &offset) : Json();
    c["finish_reason"] = FinishReason(r);
    choices.push_back(std::move(c));
  }
  return {{"id", id_},           {"object", chat_ ? "chat.completion" : "text_completion"},
          {"created", created_}, {"model", model_},
          {"choices", choices},  {"usage", UsageJson(usage)}};
}

}  // namespace dsv4
