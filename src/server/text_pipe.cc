#include "server/text_pipe.h"

#include <utility>

#include "chat/special_tokens.h"

namespace dsv4 {

TextPipe::TextPipe(const Tokenizer& tokenizer, std::vector<int32_t> stop_ids,
                   std::vector<std::string> stops, bool chat, ThinkingMode mode)
    : tokenizer_(tokenizer),
      decoder_(tokenizer),
      stop_(std::move(StopChecker::Create({.stop_token_ids = std::move(stop_ids),
                                           .stop_strings = std::move(stops)}))
                .value()),
      chat_(chat),
      parser_(mode) {}

bool TextPipe::Feed(int32_t token, std::vector<OutputDelta>* out) {
  if (!error_.ok() || stop_.stopped()) return false;
  const StopUpdate u = stop_.Append(token, decoder_.Feed(token));
  Text(u.text, out);
  if (u.reason == StopReason::kStopToken) {
    const int32_t ids[] = {token};
    stop_token_text_ = tokenizer_.Decode(ids);
  }
  if (u.reason == StopReason::kStopString) {
    stop_string_ = u.stop_string;
    return false;
  }
  return error_.ok();
}

void TextPipe::Finish(bool natural, std::vector<OutputDelta>* out) {
  if (!error_.ok()) return;
  if (!stop_.stopped()) Text(decoder_.Flush() + stop_.Flush(), out);
  if (!chat_ || !error_.ok()) return;
  std::vector<CompletionDelta> deltas;
  if (natural) {
    Status s = parser_.Feed(stop_token_text_, &deltas);
    if (s.ok()) {
      auto message = parser_.Finish(&deltas);
      s = message.status();
    }
    Deliver(deltas, out);
    if (!s.ok()) error_ = s;
    return;
  }
  // Cut short (length, stop string, cancel): release what the parser held back when the text so
  // far closes validly with EOS (or, mid-reasoning, with </think> and EOS); else nothing more.
  const std::string eos(chat_tokens::kEos);
  for (const std::string& ending : {eos, std::string(chat_tokens::kThinkEnd) + eos}) {
    CompletionStreamParser attempt = parser_;
    deltas.clear();
    if (attempt.Feed(ending, &deltas).ok() && attempt.Finish(&deltas).ok()) {
      return Deliver(deltas, out);
    }
  }
}

void TextPipe::Text(const std::string& text, std::vector<OutputDelta>* out) {
  if (text.empty() || !error_.ok()) return;
  if (!chat_) {
    output_.content += text;
    out->push_back({OutputKind::kContent, text});
    return;
  }
  std::vector<CompletionDelta> deltas;
  const Status s = parser_.Feed(text, &deltas);
  Deliver(deltas, out);
  if (!s.ok()) error_ = s;
}

void TextPipe::Deliver(const std::vector<CompletionDelta>& deltas, std::vector<OutputDelta>* out) {
  for (const CompletionDelta& d : deltas) {
    if (d.text.empty() && d.kind != CompletionDeltaKind::kToolCallName) continue;
    switch (d.kind) {
      case CompletionDeltaKind::kReasoning:
        output_.reasoning += d.text;
        out->push_back({OutputKind::kReasoning, d.text});
        break;
      case CompletionDeltaKind::kContent:
        output_.content += d.text;
        out->push_back({OutputKind::kContent, d.text});
        break;
      case CompletionDeltaKind::kToolCallName:
        output_.tool_calls.push_back({d.text, ""});
        out->push_back({OutputKind::kToolCallName, d.text, d.tool_index});
        break;
      case CompletionDeltaKind::kToolCallArguments:
        if (d.tool_index >= 0 && d.tool_index < static_cast<int>(output_.tool_calls.size())) {
          output_.tool_calls[d.tool_index].arguments += d.text;
        }
        out->push_back({OutputKind::kToolCallArguments, d.text, d.tool_index});
        break;
    }
  }
}

}  // namespace dsv4
