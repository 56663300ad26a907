#include "server/api_error.h"

#include <nlohmann/json.hpp>

namespace dsv4 {
namespace {

struct KindInfo {
  int http_status;
  const char* openai_type;
  const char* anthropic_type;
  const char* code;  // OpenAI "code" (null when empty)
};

KindInfo Info(ApiErrorKind kind) {
  switch (kind) {
    case ApiErrorKind::kInvalidRequest:
      return {400, "invalid_request_error", "invalid_request_error", ""};
    case ApiErrorKind::kContextOverflow:
      return {400, "invalid_request_error", "invalid_request_error", "context_length_exceeded"};
    case ApiErrorKind::kAuthentication:
      return {401, "authentication_error", "authentication_error", "invalid_api_key"};
    case ApiErrorKind::kNotFound:
      return {404, "not_found_error", "not_found_error", "model_not_found"};
    case ApiErrorKind::kNoEndpoint:
      return {404, "not_found_error", "not_found_error", ""};
    case ApiErrorKind::kTooLarge:
      return {413, "invalid_request_error", "request_too_large", "request_too_large"};
    case ApiErrorKind::kRateLimit:
      return {429, "rate_limit_error", "rate_limit_error", "rate_limit_exceeded"};
    case ApiErrorKind::kUnsupported:
      return {400, "invalid_request_error", "invalid_request_error", "unsupported_parameter"};
    case ApiErrorKind::kInternal:
      return {500, "server_error", "api_error", ""};
    case ApiErrorKind::kModelOutput:
      return {500, "server_error", "api_error", "invalid_model_output"};
  }
  return {500, "server_error", "api_error", ""};
}

}  // namespace

ApiError ApiErrorFromStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return {ApiErrorKind::kInvalidRequest, status.message()};
    case StatusCode::kResourceExhausted:
      return {ApiErrorKind::kRateLimit, status.message()};
    case StatusCode::kUnimplemented:
      return {ApiErrorKind::kUnsupported, status.message()};
    case StatusCode::kNotFound:
      return {ApiErrorKind::kNotFound, status.message()};
    default:
      return {ApiErrorKind::kInternal, status.message()};
  }
}

int HttpStatus(ApiErrorKind kind) { return Info(kind).http_status; }

std::string ErrorBody(const ApiError& error, ApiDialect dialect) {
  const KindInfo info = Info(error.kind);
  nlohmann::ordered_json body;  // ordered: "type" first, as Anthropic writes it
  if (dialect == ApiDialect::kAnthropic) {
    body = {{"type", "error"},
            {"error", {{"type", info.anthropic_type}, {"message", error.message}}}};
  } else {
    body = {
        {"error",
         {{"message", error.message},
          {"type", info.openai_type},
          {"param",
           error.param.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(error.param)},
          {"code", *info.code ? nlohmann::ordered_json(info.code) : nlohmann::ordered_json()}}}};
  }
  return body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace dsv4
