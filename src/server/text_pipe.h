// The output of one choice, token by token: StreamDecoder (UTF-8 safe text) → StopChecker (stop
// strings held back and never streamed) → for chat, the official CompletionStreamParser
// (reasoning / content / tool calls; DSML never reaches content). What comes out are deltas a
// response writer renders, and the whole output accumulated from those same deltas.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "chat/completion_parser.h"
#include "chat/completion_stream.h"
#include "runtime/stop.h"
#include "tokenizer/tokenizer.h"

namespace dsv4 {

enum class OutputKind { kContent, kReasoning, kToolCallName, kToolCallArguments };

struct OutputDelta {
  OutputKind kind = OutputKind::kContent;
  std::string text;
  int tool_index = -1;  // tool-call kinds
};

struct ChoiceOutput {
  std::string content;    // completions: the text
  std::string reasoning;  // chat in thinking mode
  std::vector<ToolCall> tool_calls;
};

class TextPipe {
 public:
  // `stop_ids` (e.g. EOS) end a choice; their text is not output, but a chat completion's parser
  // sees it (it needs the EOS to accept the whole message). Stop strings: validated non-empty.
  TextPipe(const Tokenizer& tokenizer, std::vector<int32_t> stop_ids,
           std::vector<std::string> stops, bool chat, ThinkingMode mode);

  // One generated token (stop tokens included). False when the choice must end here: a stop
  // string matched (stopped_by_string()) or the output is malformed (error()).
  bool Feed(int32_t token, std::vector<OutputDelta>* out);
  // End of generation. `natural`: a stop token ended it, so the chat parser must accept the whole
  // completion (else error()). Otherwise (length, stop string, cancel) whatever was held back is
  // released as far as it is valid markup-free text.
  void Finish(bool natural, std::vector<OutputDelta>* out);

  const Status& error() const { return error_; }  // malformed tool-call markup, special tokens
  bool stopped_by_string() const { return stop_.reason() == StopReason::kStopString; }
  const std::string& stop_string() const { return stop_string_; }
  const ChoiceOutput& output() const { return output_; }

 private:
  void Text(const std::string& text, std::vector<OutputDelta>* out);
  void Deliver(const std::vector<CompletionDelta>& deltas, std::vector<OutputDelta>* out);

  const Tokenizer& tokenizer_;
  StreamDecoder decoder_;
  StopChecker stop_;
  bool chat_;
  CompletionStreamParser parser_;
  Status error_;
  std::string stop_string_;
  std::string stop_token_text_;  // of the stop token that ended generation
  ChoiceOutput output_;
};

}  // namespace dsv4
