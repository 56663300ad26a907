// Streaming completion parser: feed decoded text as it is generated, get deltas as soon as they
// are certain. Guarantees:
//   * Finish() returns exactly ParseCompletion(all text fed) — same message or same error;
//   * the deltas, concatenated per field and per tool call, equal that final message;
//   * no markup leaks into reasoning/content: text that could be the start of a special token or
//     of the DSML tool-call block is held back until it is decided;
//   * malformed DSML (or a special token inside content) is reported by Feed() as soon as no
//     continuation could make it valid, instead of being passed on as text.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "chat/completion_parser.h"

namespace dsv4 {

enum class CompletionDeltaKind {
  kReasoning,          // text of reasoning_content
  kContent,            // text of content
  kToolCallName,       // a new tool call starts; text is its name
  kToolCallArguments,  // a fragment of that call's arguments JSON ("{", "\"k\": 1", ", ...", "}")
};

struct CompletionDelta {
  CompletionDeltaKind kind = CompletionDeltaKind::kContent;
  std::string text;
  int tool_index = -1;  // 0-based tool call, for the tool-call kinds
};

class CompletionStreamParser {
 public:
  explicit CompletionStreamParser(ThinkingMode mode);

  // Consumes one chunk (any split, even inside a UTF-8 sequence or a tag) and appends the deltas
  // that became certain. After an error, every later call returns that error.
  Status Feed(std::string_view chunk, std::vector<CompletionDelta>* deltas);

  // End of generation: appends the remaining deltas and returns the parsed message.
  Result<ParsedMessage> Finish(std::vector<CompletionDelta>* deltas);

 private:
  enum class State { kReasoning, kContent, kToolCalls, kAfterToolCalls, kDone };
  enum class ToolStep { kBetweenInvokes, kInvokeHeader, kParameter, kAfterParameter };

  // One step of progress from pos_; false when more text is needed.
  Result<bool> Step(std::vector<CompletionDelta>* deltas);
  Result<bool> StepText(std::vector<CompletionDelta>* deltas);
  Result<bool> StepToolCalls(std::vector<CompletionDelta>* deltas);
  Result<bool> StepAfterTag(std::vector<CompletionDelta>* deltas);
  Result<bool> StepInvokeHeader(std::vector<CompletionDelta>* deltas);
  Result<bool> StepParameter(std::vector<CompletionDelta>* deltas);

  void Emit(CompletionDeltaKind kind, std::string text, std::vector<CompletionDelta>* deltas);
  // Earliest complete stop token at or after pos_ (scanning from where the last search stopped).
  size_t FindStop(std::initializer_list<std::string_view> stops, std::string_view* which);
  void Advance(size_t to);
  Status Fail(Status status);

  ThinkingMode mode_;
  State state_;
  ToolStep step_ = ToolStep::kBetweenInvokes;
  std::string text_;                   // everything fed so far
  size_t pos_ = 0;                     // start of the undecided text
  size_t search_from_ = 0;             // no stop token starts in [pos_, search_from_)
  std::set<std::string> param_names_;  // of the invoke being parsed
  ParsedMessage emitted_;              // what the deltas have said so far
  Status error_;
};

}  // namespace dsv4
