// What the OpenAI and Anthropic front ends share: the parsed request (dialect-neutral), the
// per-choice results a response is built from, the response-writer interface, and a typed reader
// for optional JSON fields (a wrong type is an error naming the field, never a silent default).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/completion_parser.h"
#include "runtime/sampler.h"
#include "server/api_error.h"
#include "server/engine.h"
#include "server/text_pipe.h"

namespace dsv4 {

// Ordered: tool schemas reach the prompt in their original key order, responses read naturally.
using Json = nlohmann::ordered_json;

// A request after parsing, before tokenization.
struct ApiRequest {
  bool chat = true;  // chat (encoded messages, parsed output) or raw completion
  bool stream = false;
  bool include_usage = false;  // OpenAI stream_options.include_usage
  ThinkingMode mode = ThinkingMode::kChat;
  nlohmann::ordered_json encode;    // chat: the EncodeChat request
  std::string prompt_text;          // completion: the prompt text
  std::vector<int32_t> prompt_ids;  // completion: token ids sent by the client
  SamplingParams sampling;
  bool seeded = false;            // else the server draws a seed
  std::optional<int> max_tokens;  // else what the context leaves, capped at kDefaultMaxTokens
  int n = 1;
  std::vector<std::string> stops;
  bool logprobs = false;
};

inline constexpr int kDefaultMaxTokens = 4096;  // when the client sets no max_tokens

struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top;
};

struct ChoiceResult {
  ChoiceOutput output;
  FinishKind finish = FinishKind::kNone;  // after the pipe: kStopped means a stop string
  std::string stop_string;                // the one that matched
  std::vector<TokenLogprob> logprobs;
  int completion_tokens = 0;
  int64_t cached_tokens = 0;
};

struct Usage {
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
};

// Renders one response in its dialect. Streaming: Begin, then Delta per piece of output, then End
// (or StreamError); non-streaming: Whole. Each returns the SSE text to send.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual std::string Begin(const Usage& usage) = 0;
  virtual std::string Delta(int choice, const std::vector<OutputDelta>& deltas,
                            const std::vector<TokenLogprob>& logprobs) = 0;
  virtual std::string End(const std::vector<ChoiceResult>& results, const Usage& usage) = 0;
  virtual std::string StreamError(const ApiError& error) = 0;
  virtual Json Whole(const std::vector<ChoiceResult>& results, const Usage& usage) = 0;
};

// Typed access to optional fields of a JSON object; null counts as absent. The first error is kept
// (later calls return nullopt) so a parser reads every field and checks ok() once.
class FieldReader {
 public:
  explicit FieldReader(const Json& object) : object_(object) {}

  std::optional<double> Number(const char* key, double lo, double hi);
  std::optional<int64_t> Integer(const char* key, int64_t lo, int64_t hi);
  std::optional<bool> Bool(const char* key);
  std::optional<std::string> String(const char* key);
  const Json* Object(const char* key);
  const Json* Array(const char* key);
  // A string or an array of non-empty strings (OpenAI `stop`).
  std::optional<std::vector<std::string>> Strings(const char* key, size_t max_count);

  void Fail(const char* key, const std::string& message);
  bool ok() const { return !error_.has_value(); }
  const ApiError& error() const { return *error_; }

 private:
  const Json* Get(const char* key, bool (Json::*is)() const noexcept, const char* type);

  const Json& object_;
  std::optional<ApiError> error_;
};

// Deepest nesting of arrays/objects in JSON text (strings skipped), scanned without recursion.
// Requests deeper than kMaxJsonDepth are refused before parsing: the encoder and serializers
// recurse per level, and a deeply nested tool schema overflowed a worker's stack.
inline constexpr int kMaxJsonDepth = 128;
int JsonNestingDepth(std::string_view text);

std::string ShortId(const char* prefix);  // prefix + 24 random hex digits
int64_t UnixSeconds();
// JSON text that never throws on invalid UTF-8 (replaced by U+FFFD).
std::string Dump(const Json& j);
std::string Sse(const Json& data);                          // "data: {...}\n\n"
std::string SseEvent(const char* event, const Json& data);  // "event: e\ndata: ...\n\n"

}  // namespace dsv4
