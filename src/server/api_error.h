// Every error the server returns, and the one place that maps it to an HTTP status and a JSON body
// in OpenAI's shape ({"error": {"message", "type", "param", "code"}}) or Anthropic's
// ({"type": "error", "error": {"type", "message"}}). Handlers produce an ApiError (often from a
// Status); only the transport writes it.
#pragma once

#include <string>

#include "base/status.h"

namespace dsv4 {

enum class ApiErrorKind {
  kInvalidRequest,   // malformed JSON, wrong types, bad values: 400
  kContextOverflow,  // prompt + max_tokens beyond the context: 400 context_length_exceeded
  kAuthentication,   // missing or wrong API key: 401
  kNotFound,         // unknown model: 404 model_not_found
  kNoEndpoint,       // unknown path or method: 404
  kTooLarge,         // body over the limit: 413
  kRateLimit,        // over capacity: 429 + Retry-After
  kUnsupported,      // valid request the engine cannot honour: 400
  kInternal,         // a bug or a failed forward: 500
  kModelOutput,      // the model produced malformed tool-call markup: 500
};

enum class ApiDialect { kOpenAI, kAnthropic };

struct ApiError {
  ApiErrorKind kind = ApiErrorKind::kInvalidRequest;
  std::string message;
  std::string param;  // the offending field, when known (OpenAI "param")
};

inline constexpr int kRetryAfterSeconds = 1;  // sent with every 429

// InvalidArgument → invalid request, ResourceExhausted → rate limit, Unimplemented → unsupported,
// NotFound → not found, the rest → internal.
ApiError ApiErrorFromStatus(const Status& status);

int HttpStatus(ApiErrorKind kind);
// The JSON body (compact) of an error in the given dialect.
std::string ErrorBody(const ApiError& error, ApiDialect dialect);

}  // namespace dsv4
