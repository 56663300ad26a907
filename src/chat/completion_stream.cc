#include "chat/completion_stream.h"

#include <algorithm>
#include <array>

#include "chat/chat_error.h"
#include "chat/dsml.h"
#include "chat/special_tokens.h"

namespace dsv4 {
namespace {

namespace tok = chat_tokens;

// Special tokens that make a reasoning / content field invalid when they appear in it.
constexpr std::array<std::string_view, 4> kForbiddenInReasoning = {tok::kBos, tok::kEos,
                                                                   tok::kThinkStart, tok::kDsml};
constexpr std::array<std::string_view, 4> kForbiddenInContent = {tok::kBos, tok::kThinkStart,
                                                                 tok::kThinkEnd, tok::kDsml};

// Length of the longest suffix of `text` that is a proper prefix of one of `tokens`.
size_t HoldBack(std::string_view text, std::initializer_list<std::string_view> tokens) {
  size_t best = 0;
  for (std::string_view t : tokens) {
    for (size_t k = std::min(text.size(), t.size() - 1); k > best; --k) {
      if (text.substr(text.size() - k) == t.substr(0, k)) {
        best = k;
        break;
      }
    }
  }
  return best;
}

// Shortens `end` so that text[0, end) does not stop inside a UTF-8 sequence.
size_t Utf8Boundary(std::string_view text, size_t end) {
  for (size_t back = 1; back <= 3 && back <= end; ++back) {
    auto b = static_cast<unsigned char>(text[end - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 1;
    return need > back ? end - back : end;
  }
  return end;
}

// `text` could still grow into a string that starts with one of `tokens`.
bool IsPrefixOfAny(std::string_view text, std::initializer_list<std::string_view> tokens) {
  for (std::string_view t : tokens) {
    if (t.substr(0, std::min(t.size(), text.size())) == text.substr(0, t.size())) return true;
  }
  return false;
}

Status ValueError(std::string message) {
  return ChatError(ChatErrorKind::kValue, std::move(message));
}

}  // namespace

CompletionStreamParser::CompletionStreamParser(ThinkingMode mode)
    : mode_(mode), state_(mode == ThinkingMode::kThinking ? State::kReasoning : State::kContent) {}

Status CompletionStreamParser::Feed(std::string_view chunk, std::vector<CompletionDelta>* deltas) {
  if (!error_.ok()) return error_;
  text_.append(chunk);
  while (true) {
    Result<bool> progressed = Step(deltas);
    if (!progressed.ok()) return Fail(progressed.status());
    if (!*progressed) return Status::Ok();
  }
}

Status CompletionStreamParser::Fail(Status status) {
  error_ = std::move(status);
  return error_;
}

void CompletionStreamParser::Emit(CompletionDeltaKind kind, std::string text,
                                  std::vector<CompletionDelta>* deltas) {
  if (text.empty() && kind != CompletionDeltaKind::kToolCallName) return;
  int tool_index = -1;
  switch (kind) {
    case CompletionDeltaKind::kReasoning:
      emitted_.reasoning_content += text;
      break;
    case CompletionDeltaKind::kContent:
      emitted_.content += text;
      break;
    case CompletionDeltaKind::kToolCallName:
      emitted_.tool_calls.push_back({text, ""});
      tool_index = static_cast<int>(emitted_.tool_calls.size()) - 1;
      break;
    case CompletionDeltaKind::kToolCallArguments:
      emitted_.tool_calls.back().arguments += text;
      tool_index = static_cast<int>(emitted_.tool_calls.size()) - 1;
      break;
  }
  deltas->push_back({kind, std::move(text), tool_index});
}

size_t CompletionStreamParser::FindStop(std::initializer_list<std::string_view> stops,
                                        std::string_view* which) {
  size_t longest = 0;
  for (std::string_view s : stops) longest = std::max(longest, s.size());
  size_t from = std::max(pos_, search_from_ > longest ? search_from_ - longest : 0);
  size_t best = std::string::npos;
  for (std::string_view s : stops) {
    size_t p = text_.find(s, from);
    if (p != std::string::npos && p < best) {
      best = p;
      *which = s;
    }
  }
  if (best == std::string::npos) search_from_ = text_.size();
  return best;
}

void CompletionStreamParser::Advance(size_t to) {
  pos_ = to;
  search_from_ = to;
}

Result<bool> CompletionStreamParser::Step(std::vector<CompletionDelta>* deltas) {
  std::string_view pending = std::string_view(text_).substr(pos_);
  switch (state_) {
    case State::kReasoning:
    case State::kContent:
      return StepText(deltas);
    case State::kToolCalls:
      return StepToolCalls(deltas);
    case State::kAfterToolCalls:
      if (pending.substr(0, tok::kEos.size()) == tok::kEos) {
        Advance(pos_ + tok::kEos.size());
        state_ = State::kDone;
        return true;
      }
      if (tok::kEos.substr(0, pending.size()) == pending) return false;
      return ChatError(ChatErrorKind::kAssertion, "Unexpected content after tool calls");
    case State::kDone:
      if (pending.empty()) return false;
      return ChatError(ChatErrorKind::kAssertion, "Unexpected content at end");
  }
  return false;
}

// Reasoning or content: text up to the first stop token, free of special tokens.
Result<bool> CompletionStreamParser::StepText(std::vector<CompletionDelta>* deltas) {
  bool reasoning = state_ == State::kReasoning;
  std::string_view first = reasoning ? tok::kThinkEnd : tok::kEos;
  std::string_view pending = std::string_view(text_).substr(pos_);
  std::string_view stop;
  size_t s = FindStop({first, tok::kToolCallsStart}, &stop);
  const auto& forbidden = reasoning ? kForbiddenInReasoning : kForbiddenInContent;
  size_t limit =
      s != std::string::npos
          ? s - pos_
          : pending.size() - HoldBack(pending, {first, tok::kToolCallsStart, forbidden[0],
                                                forbidden[1], forbidden[2], forbidden[3]});
  for (std::string_view f : forbidden) {
    size_t q = pending.find(f);
    if (q != std::string_view::npos && q + f.size() <= limit) {
      return ChatError(ChatErrorKind::kAssertion,
                       "Unexpected special token '" + std::string(f) + "' in content");
    }
  }
  if (s == std::string::npos) limit = Utf8Boundary(pending, limit);
  auto kind = reasoning ? CompletionDeltaKind::kReasoning : CompletionDeltaKind::kContent;
  Emit(kind, std::string(pending.substr(0, limit)), deltas);
  if (s == std::string::npos) {
    pos_ += limit;
    return false;
  }
  if (reasoning && stop == tok::kToolCallsStart) {
    return ChatError(ChatErrorKind::kAssertion, "Invalid thinking format: missing </think>");
  }
  Advance(s + stop.size());
  if (reasoning) {
    state_ = State::kContent;
  } else if (stop == tok::kEos) {
    state_ = State::kDone;
  } else {
    state_ = State::kToolCalls;
    step_ = ToolStep::kBetweenInvokes;
  }
  return true;
}

Result<bool> CompletionStreamParser::StepToolCalls(std::vector<CompletionDelta>* deltas) {
  switch (step_) {
    case ToolStep::kBetweenInvokes:
    case ToolStep::kAfterParameter:
      return StepAfterTag(deltas);
    case ToolStep::kInvokeHeader:
      return StepInvokeHeader(deltas);
    case ToolStep::kParameter:
      return StepParameter(deltas);
  }
  return false;
}

// After "<｜DSML｜tool_calls", "</｜DSML｜invoke" or a parameter: exactly ">\n", then the next tag.
Result<bool> CompletionStreamParser::StepAfterTag(std::vector<CompletionDelta>* deltas) {
  bool between = step_ == ToolStep::kBetweenInvokes;
  std::string_view open = between ? tok::kInvokeStart : tok::kParameterStart;
  std::string_view close = between ? tok::kToolCallsEnd : tok::kInvokeEnd;
  const char* what = between ? "Tool call" : "Parameter";
  std::string_view pending = std::string_view(text_).substr(pos_);
  std::string_view stop;
  size_t s = FindStop({open, close}, &stop);
  std::string_view content = s == std::string::npos ? pending : pending.substr(0, s - pos_);
  bool bad = s != std::string::npos
                 ? content != ">\n"
                 : (std::string_view(">\n").substr(0, content.size()) != content.substr(0, 2) ||
                    (content.size() > 2 && !IsPrefixOfAny(content.substr(2), {open, close})));
  if (bad) {
    return ValueError(std::string(what) + " format error: expected '>\\n' but got '" +
                      std::string(content) + "'");
  }
  if (s == std::string::npos) return false;
  Advance(s + stop.size());
  if (stop == tok::kToolCallsEnd) {
    state_ = State::kAfterToolCalls;
  } else if (stop == tok::kInvokeStart) {
    step_ = ToolStep::kInvokeHeader;
  } else if (stop == tok::kParameterStart) {
    step_ = ToolStep::kParameter;
  } else {  // invoke end
    Emit(CompletionDeltaKind::kToolCallArguments, "}", deltas);
    step_ = ToolStep::kBetweenInvokes;
  }
  return true;
}

Result<bool> CompletionStreamParser::StepInvokeHeader(std::vector<CompletionDelta>* deltas) {
  std::string_view pending = std::string_view(text_).substr(pos_);
  std::string_view stop;
  size_t s = FindStop({tok::kParameterStart, tok::kInvokeEnd}, &stop);
  if (s == std::string::npos) {
    if (dsml::InvokeHeaderPrefixFails(pending)) {
      return ValueError("Tool name format error: '" + std::string(pending) + "'");
    }
    return false;
  }
  std::string_view header = pending.substr(0, s - pos_);
  std::string name;
  if (!dsml::MatchInvokeHeader(header, &name)) {
    return ValueError("Tool name format error: '" + std::string(header) + "'");
  }
  Emit(CompletionDeltaKind::kToolCallName, std::move(name), deltas);
  Emit(CompletionDeltaKind::kToolCallArguments, "{", deltas);
  param_names_.clear();
  Advance(s + stop.size());
  if (stop == tok::kParameterStart) {
    step_ = ToolStep::kParameter;
  } else {
    Emit(CompletionDeltaKind::kToolCallArguments, "}", deltas);
    step_ = ToolStep::kBetweenInvokes;
  }
  return true;
}

Result<bool> CompletionStreamParser::StepParameter(std::vector<CompletionDelta>* deltas) {
  std::string_view pending = std::string_view(text_).substr(pos_);
  std::string_view stop;
  size_t s = FindStop({tok::kParameterEnd}, &stop);
  if (s == std::string::npos) {
    if (dsml::ParameterPrefixFails(pending)) {
      return ValueError("Parameter format error: '" + std::string(pending) + "'");
    }
    return false;
  }
  std::string_view content = pending.substr(0, s - pos_);
  dsml::Parameter param;
  if (!dsml::MatchParameter(content, &param)) {
    return ValueError("Parameter format error: '" + std::string(content) + "'");
  }
  if (!param_names_.insert(param.name).second) {
    return ValueError("Duplicate parameter name: '" + param.name + "'");
  }
  std::string member = (param_names_.size() > 1 ? ", " : "") + dsml::ArgumentMember(param);
  Emit(CompletionDeltaKind::kToolCallArguments, std::move(member), deltas);
  Advance(s + stop.size());
  step_ = ToolStep::kAfterParameter;
  return true;
}

Result<ParsedMessage> CompletionStreamParser::Finish(std::vector<CompletionDelta>* deltas) {
  if (!error_.ok()) return error_;
  Result<ParsedMessage> parsed = ParseCompletion(text_, mode_);
  if (!parsed.ok()) return Fail(parsed.status());
  const ParsedMessage& final_message = *parsed;
  // Whatever the incremental steps held back (a truncated tool block, text at the end) follows
  // now; what was already sent must be a prefix of the final message.
  auto rest = [](const std::string& sent, const std::string& full, std::string* out) {
    if (full.compare(0, sent.size(), sent) != 0) return false;
    *out = full.substr(sent.size());
    return true;
  };
  std::string more;
  bool consistent = rest(emitted_.reasoning_content, final_message.reasoning_content, &more);
  if (consistent) Emit(CompletionDeltaKind::kReasoning, more, deltas);
  consistent = consistent && rest(emitted_.content, final_message.content, &more);
  if (consistent) Emit(CompletionDeltaKind::kContent, more, deltas);
  consistent = consistent && emitted_.tool_calls.size() <= final_message.tool_calls.size();
  for (size_t i = 0; consistent && i < final_message.tool_calls.size(); ++i) {
    const ToolCall& call = final_message.tool_calls[i];
    if (i == emitted_.tool_calls.size())
      Emit(CompletionDeltaKind::kToolCallName, call.name, deltas);
    consistent = emitted_.tool_calls[i].name == call.name &&
                 rest(emitted_.tool_calls[i].arguments, call.arguments, &more);
    if (consistent && i + 1 == emitted_.tool_calls.size()) {
      Emit(CompletionDeltaKind::kToolCallArguments, more, deltas);
    } else if (consistent && !more.empty()) {
      consistent = false;  // an earlier call cannot grow once a later one started
    }
  }
  if (!consistent) return Fail(Internal("streaming parser deltas disagree with the final parse"));
  return final_message;
}

}  // namespace dsv4
