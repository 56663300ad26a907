// OpenAI's API: /v1/chat/completions and /v1/completions requests → ApiRequest, and the writer that
// renders results as chat.completion(.chunk) / text_completion JSON and SSE.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "server/api_request.h"
#include "tokenizer/tokenizer.h"

namespace dsv4 {

// Fills `out` from a chat request body; the messages become the EncodeChat request (tools and
// response_format attached to the system message, as the official encoding expects them).
std::optional<ApiError> ParseOpenAIChat(const Json& body, ApiRequest* out);
std::optional<ApiError> ParseOpenAICompletion(const Json& body, ApiRequest* out);

// Sampling fields shared by both endpoints (and by /v1/messages for the common names).
std::optional<ApiError> ParseSampling(FieldReader& f, ApiRequest* out);

// Chat messages (OpenAI shape) → messages of the official encoding, with `tools` and
// `response_format` attached to the first system message (one is added when there is none).
std::optional<ApiError> ToEncodingMessages(const Json& messages, const Json* tools,
                                           const Json* response_format, Json* out);

class OpenAIWriter : public ResponseWriter {
 public:
  OpenAIWriter(const Tokenizer& tokenizer, std::string id, std::string model, bool chat,
               bool include_usage, bool logprobs)
      : tokenizer_(tokenizer),
        id_(std::move(id)),
        model_(std::move(model)),
        chat_(chat),
        include_usage_(include_usage),
        logprobs_(logprobs),
        created_(UnixSeconds()) {}

  std::string Begin(const Usage& usage) override;
  std::string Delta(int choice, const std::vector<OutputDelta>& deltas,
                    const std::vector<TokenLogprob>& logprobs) override;
  std::string End(const std::vector<ChoiceResult>& results, const Usage& usage) override;
  std::string StreamError(const ApiError& error) override;
  Json Whole(const std::vector<ChoiceResult>& results, const Usage& usage) override;

  void set_choices(int n) { choices_ = n; }

 private:
  Json Chunk(int choice, Json delta_or_text, const Json& finish, const Json& logprobs) const;
  Json Logprobs(const std::vector<TokenLogprob>& lps, size_t* text_offset) const;
  Json TokenEntry(int32_t token, float logprob) const;
  std::string ToolCallId(int choice, int index);
  static Json UsageJson(const Usage& usage);
  static const char* FinishReason(const ChoiceResult& r);

  const Tokenizer& tokenizer_;
  std::string id_, model_;
  bool chat_, include_usage_, logprobs_;
  int64_t created_;
  int choices_ = 1;
  std::map<std::pair<int, int>, std::string> tool_ids_;
  std::map<int, std::vector<TokenLogprob>> pending_logprobs_;  // not yet attached to a chunk
  std::map<int, size_t> text_offsets_;                         // completions logprobs
};

}  // namespace dsv4
