// Stop conditions of one generation: stop token ids, stop strings and max_tokens.
//
// Fed one generated token and its decoded text at a time, the checker says which text is safe to
// emit now. It holds back the longest suffix that could still grow into a stop string (and an
// incomplete trailing UTF-8 character), so a stop string split across tokens is never streamed.
// On a stop string the text before it is emitted and the string itself is not (OpenAI `stop`);
// on a stop token its text is not emitted. See docs/sampling.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace dsv4 {

struct StopParams {
  std::vector<int32_t> stop_token_ids = {};    // e.g. EOS (id 1); the token's text is not emitted
  std::vector<std::string> stop_strings = {};  // non-empty; matched on the decoded text
  int max_tokens = 0;  // generated tokens, stop tokens included; 0: no limit
};

enum class StopReason {
  kNone,        // still generating
  kStopToken,   // a token of stop_token_ids was generated
  kStopString,  // the text contains a stop string
  kMaxTokens,   // max_tokens tokens were generated
};

// "none", "stop_token", "stop_string", "max_tokens" (OpenAI finish_reason: "stop" or "length").
const char* StopReasonName(StopReason reason);

struct StopUpdate {
  std::string text;  // safe to emit now (appended to what earlier updates emitted)
  StopReason reason = StopReason::kNone;
  std::string stop_string;  // the matched stop string when reason == kStopString
  int32_t stop_token = -1;  // the matched token when reason == kStopToken

  bool stopped() const { return reason != StopReason::kNone; }
};

class StopChecker {
 public:
  // InvalidArgument for an empty stop string or a negative max_tokens.
  static Result<StopChecker> Create(StopParams params);

  // One generated token and the text it decoded to (may be empty, may end mid UTF-8 character).
  // Must not be called once stopped.
  StopUpdate Append(int32_t token, std::string_view text);
  // Ends the generation for an outside reason (cancel, context full): releases held-back text.
  std::string Flush();

  bool stopped() const { return reason_ != StopReason::kNone; }
  StopReason reason() const { return reason_; }
  int tokens() const { return tokens_; }
  size_t emitted_bytes() const { return emitted_bytes_; }  // total text emitted so far

 private:
  explicit StopChecker(StopParams params) : params_(std::move(params)) {}

  // Length of the longest suffix of pending_ that is a proper prefix of some stop string.
  size_t HeldBackSuffix() const;
  std::string Emit(size_t n);  // removes and returns the first n bytes of pending_

  StopParams params_;
  std::string pending_;  // decoded text not yet emitted
  int tokens_ = 0;
  size_t emitted_bytes_ = 0;
  StopReason reason_ = StopReason::kNone;
};

}  // namespace dsv4
