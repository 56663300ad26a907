// encode_messages: preprocessing (tool messages merged into user turns, tool results sorted by
// call order, earlier reasoning dropped) and the render loop. Rendering is in render_message.cc.
#include "chat/encoding.h"

#include <algorithm>
#include <map>
#include <set>

#include "chat/chat_error.h"
#include "chat/encoding_internal.h"
#include "chat/special_tokens.h"

namespace dsv4 {
namespace {

using chat_internal::Get;
using chat_internal::HasNonNull;
using chat_internal::Json;
using chat_internal::PyTruthy;
using chat_internal::RoleOf;

struct EncodeArgs {
  std::vector<Json> messages;
  std::vector<Json> context;
  Json thinking_mode;
  bool drop_thinking = true;
  bool add_default_bos_token = true;
  Json reasoning_effort;
};

Result<std::vector<Json>> ReadMessageList(const Json& list, const char* field) {
  if (!list.is_array()) {
    return ChatError(
        ChatErrorKind::kType,
        std::string(field) + " must be an array of messages, got " + std::string(list.type_name()));
  }
  std::vector<Json> out;
  for (const Json& msg : list) {
    if (!msg.is_object()) {
      return ChatError(ChatErrorKind::kAttribute,
                       std::string("'") + chat_internal::PyTypeNameOf(msg) +
                           "' object has no attribute 'get' (each entry of " + field +
                           " must be a message object)");
    }
    out.push_back(msg);
  }
  return out;
}

Result<bool> ReadBool(const Json& request, const char* key, bool default_value) {
  auto it = request.find(key);
  if (it == request.end()) return default_value;
  if (!it->is_boolean()) {
    // Deliberate deviation: the reference would use Python truthiness of any value.
    return ChatError(ChatErrorKind::kType, std::string(key) + " must be true or false, got " +
                                               std::string(it->type_name()));
  }
  return it->get<bool>();
}

Result<EncodeArgs> ReadArgs(const Json& request) {
  static const std::set<std::string> kKnown = {
      "messages",      "thinking_mode",         "context",
      "drop_thinking", "add_default_bos_token", "reasoning_effort"};
  if (!request.is_object()) {
    return ChatError(ChatErrorKind::kType, "the request must be a JSON object");
  }
  for (const auto& [key, value] : request.items()) {
    if (!kKnown.count(key)) {
      return ChatError(ChatErrorKind::kType,
                       "encode_messages() got an unexpected keyword argument '" + key + "'");
    }
  }
  for (const char* required : {"messages", "thinking_mode"}) {
    if (!request.contains(required)) {
      return ChatError(
          ChatErrorKind::kType,
          std::string("encode_messages() missing required argument: '") + required + "'");
    }
  }
  EncodeArgs args;
  DSV4_ASSIGN_OR_RETURN(args.messages, ReadMessageList(request["messages"], "messages"));
  const Json* context = Get(request, "context");
  if (context != nullptr && PyTruthy(*context)) {  // `context if context else []`
    DSV4_ASSIGN_OR_RETURN(args.context, ReadMessageList(*context, "context"));
  }
  args.thinking_mode = request["thinking_mode"];
  DSV4_ASSIGN_OR_RETURN(args.drop_thinking, ReadBool(request, "drop_thinking", true));
  DSV4_ASSIGN_OR_RETURN(args.add_default_bos_token,
                        ReadBool(request, "add_default_bos_token", true));
  if (const Json* effort = Get(request, "reasoning_effort")) args.reasoning_effort = *effort;
  return args;
}

// merge_tool_messages: each tool message becomes a tool_result block of a user message; a user
// message joins the previous user block list unless that one carries a task.
std::vector<Json> MergeToolMessages(const std::vector<Json>& messages) {
  std::vector<Json> merged;
  auto last_is_user_with_blocks = [&merged] {
    return !merged.empty() && RoleOf(merged.back()) == "user" &&
           merged.back().contains("content_blocks");
  };
  for (const Json& msg : messages) {
    std::string role = RoleOf(msg);
    const Json* content = Get(msg, "content");
    Json content_or_empty = content ? *content : Json("");
    if (role == "tool") {
      const Json* id = Get(msg, "tool_call_id");
      Json block = {{"type", "tool_result"},
                    {"tool_use_id", id ? *id : Json("")},
                    {"content", content_or_empty}};
      if (last_is_user_with_blocks()) {
        merged.back()["content_blocks"].push_back(std::move(block));
      } else {
        merged.push_back(Json{{"role", "user"}, {"content_blocks", Json::array({block})}});
      }
    } else if (role == "user") {
      Json block = {{"type", "text"}, {"text", content_or_empty}};
      if (last_is_user_with_blocks() && !HasNonNull(merged.back(), "task")) {
        merged.back()["content_blocks"].push_back(std::move(block));
      } else {
        Json user = {{"role", "user"},
                     {"content", content_or_empty},
                     {"content_blocks", Json::array({block})}};
        for (const char* key : {"task", "wo_eos", "mask"}) {
          if (msg.contains(key)) user[key] = msg[key];
        }
        merged.push_back(std::move(user));
      }
    } else {
      merged.push_back(msg);
    }
  }
  return merged;
}

// The id of a call as a dictionary key: its JSON text keeps 1 and "1" apart, as Python does.
std::string CallIdKey(const Json& id) { return id.dump(); }

// sort_tool_results_by_call_order: tool_result blocks of a user message follow the call order of
// the latest assistant message with tool calls; other blocks keep their places.
Status SortToolResultsByCallOrder(std::vector<Json>* messages) {
  std::map<std::string, int> call_order;
  for (Json& msg : *messages) {
    std::string role = RoleOf(msg);
    const Json* tool_calls = Get(msg, "tool_calls");
    if (role == "assistant" && tool_calls != nullptr && PyTruthy(*tool_calls)) {
      if (!tool_calls->is_array()) {
        return ChatError(ChatErrorKind::kType, "assistant tool_calls must be an array");
      }
      call_order.clear();
      int idx = 0;
      for (const Json& tc : *tool_calls) {
        if (!tc.is_object()) {
          return ChatError(
              ChatErrorKind::kAttribute,
              "each tool_calls entry must be an object, got " + std::string(tc.type_name()));
        }
        const Json* id = Get(tc, "id");
        if (id == nullptr || !PyTruthy(*id)) {
          const Json* fn = Get(tc, "function");
          id = (fn != nullptr && fn->is_object()) ? Get(*fn, "id") : nullptr;
        }
        if (id != nullptr && PyTruthy(*id)) call_order[CallIdKey(*id)] = idx;
        ++idx;
      }
    } else if (role == "user" && msg.contains("content_blocks") &&
               PyTruthy(msg["content_blocks"])) {
      Json& blocks = msg["content_blocks"];
      std::vector<Json> tool_blocks;
      for (const Json& b : blocks) {
        if (b.is_object() && b.value("type", Json()) == "tool_result") tool_blocks.push_back(b);
      }
      if (tool_blocks.size() <= 1 || call_order.empty()) continue;
      auto order_of = [&call_order](const Json& b) {
        const Json* id = Get(b, "tool_use_id");
        auto it = call_order.find(CallIdKey(id ? *id : Json("")));
        return it == call_order.end() ? 0 : it->second;
      };
      std::stable_sort(tool_blocks.begin(), tool_blocks.end(),
                       [&](const Json& a, const Json& b) { return order_of(a) < order_of(b); });
      size_t next = 0;
      for (Json& b : blocks) {
        if (b.is_object() && b.value("type", Json()) == "tool_result") b = tool_blocks[next++];
      }
    }
  }
  return Status::Ok();
}

// _drop_thinking_messages: before the last user turn, assistant reasoning is removed and
// developer (or unknown-role) messages are dropped altogether.
std::vector<Json> DropThinkingMessages(const std::vector<Json>& messages) {
  static const std::set<std::string> kKeepRoles = {"user", "system", "tool", "latest_reminder",
                                                   "direct_search_results"};
  int last_user = chat_internal::FindLastUserIndex(messages);
  std::vector<Json> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    std::string role = RoleOf(messages[i]);
    if (kKeepRoles.count(role) || static_cast<int>(i) >= last_user) {
      out.push_back(messages[i]);
    } else if (role == "assistant") {
      Json copy = messages[i];
      copy.erase("reasoning_content");
      out.push_back(std::move(copy));
    }
  }
  return out;
}

}  // namespace

Result<std::string> EncodeChat(const nlohmann::ordered_json& request) {
  DSV4_ASSIGN_OR_RETURN(EncodeArgs args, ReadArgs(request));
  std::vector<Json> context = MergeToolMessages(args.context);
  std::vector<Json> messages = MergeToolMessages(args.messages);
  // The reference sorts context + messages together (call order carries over from the context)
  // and then the context alone; one pass over the concatenation gives both.
  std::vector<Json> full = context;
  full.insert(full.end(), messages.begin(), messages.end());
  DSV4_RETURN_IF_ERROR(SortToolResultsByCallOrder(&full));
  context.assign(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(context.size()));

  std::string prompt;
  if (args.add_default_bos_token && context.empty()) prompt += chat_tokens::kBos;

  bool drop_thinking = args.drop_thinking;
  for (const Json& msg : full) {
    const Json* tools = Get(msg, "tools");
    if (tools != nullptr && PyTruthy(*tools)) drop_thinking = false;
  }
  std::ptrdiff_t num_to_render = static_cast<std::ptrdiff_t>(messages.size());
  std::ptrdiff_t context_len = static_cast<std::ptrdiff_t>(context.size());
  if (args.thinking_mode == "thinking" && drop_thinking) {
    full = DropThinkingMessages(full);
    // Same arithmetic as the reference, which drops within the context separately.
    context_len = static_cast<std::ptrdiff_t>(DropThinkingMessages(context).size());
    num_to_render = static_cast<std::ptrdiff_t>(full.size()) - context_len;
  }
  chat_internal::RenderOptions options{.thinking_mode = &args.thinking_mode,
                                       .drop_thinking = drop_thinking,
                                       .reasoning_effort = &args.reasoning_effort};
  for (std::ptrdiff_t i = 0; i < num_to_render; ++i) {
    std::ptrdiff_t index = i + context_len;
    if (index < 0 || index >= static_cast<std::ptrdiff_t>(full.size())) {
      return ChatError(ChatErrorKind::kAssertion, "message index out of range");
    }
    DSV4_RETURN_IF_ERROR(
        chat_internal::RenderMessage(static_cast<size_t>(index), full, options, &prompt));
  }
  return prompt;
}

Result<std::string> EncodeChatJson(std::string_view request_json) {
  nlohmann::ordered_json request =
      nlohmann::ordered_json::parse(request_json, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded()) {
    return ChatError(ChatErrorKind::kValue, "the request is not valid JSON");
  }
  return EncodeChat(request);
}

}  // namespace dsv4
