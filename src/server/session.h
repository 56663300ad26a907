// One generation request in flight on the HTTP side: the engine handle, a TextPipe per choice, the
// accumulated results, and the writer of the request's dialect. The HTTP thread pumps engine events
// through it; streaming responses send what each pump returns.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/api_request.h"
#include "server/engine.h"
#include "server/metrics.h"
#include "server/text_pipe.h"
#include "tokenizer/tokenizer.h"

namespace dsv4 {

class Session {
 public:
  Session(const Tokenizer& tokenizer, const ApiRequest& request,
          std::unique_ptr<ResponseWriter> writer, std::shared_ptr<RequestHandle> handle,
          int64_t prompt_tokens, std::string id);
  ~Session();  // cancels the engine request unless it finished

  // Waits up to `timeout` for engine events and handles all that are ready; streaming output for
  // them is appended to `sse`. False when nothing arrived.
  bool Pump(std::chrono::milliseconds timeout, std::string* sse);
  bool finished() { return handle_->finished(); }
  // Malformed model output or an engine failure; the request is cancelled when it is set.
  const std::optional<ApiError>& error() const { return error_; }

  std::string End() { return writer_->End(results_, usage_); }
  std::string StreamError(const ApiError& e) { return writer_->StreamError(e); }
  Json Whole() { return writer_->Whole(results_, usage_); }
  void Cancel() { handle_->Cancel(); }
  // The one log line of the request; its timings into `counters`.
  void Log(HttpCounters* counters, const char* endpoint) const;

 private:
  void OnEvent(const TokenEvent& ev, std::string* sse);

  const bool stream_, logprobs_;
  std::unique_ptr<ResponseWriter> writer_;
  std::shared_ptr<RequestHandle> handle_;
  std::string id_;
  std::vector<TextPipe> pipes_;
  std::vector<ChoiceResult> results_;
  Usage usage_;
  bool begun_ = false;
  std::optional<ApiError> error_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> first_token_;
};

}  // namespace dsv4
