// Status / Result<T>: how failures caused by the outside world travel (STYLE.md §4).
// Programming invariants use DSV4_CHECK (check.h) instead.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace dsv4 {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad user input: flags, requests, prompts
  kNotFound,         // missing file or tensor
  kDataLoss,         // corrupt or truncated file
  kUnimplemented,    // valid input the engine cannot honour (yet)
  kResourceExhausted,
  kInternal,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return {}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;
  // Prefixes the message with context ("loading model/: " + message).
  Status Annotate(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

Status InvalidArgument(std::string message);
Status NotFound(std::string message);
Status DataLoss(std::string message);
Status Unimplemented(std::string message);
Status ResourceExhausted(std::string message);
Status Internal(std::string message);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace dsv4

#define DSV4_CONCAT_INNER(a, b) a##b
#define DSV4_CONCAT(a, b) DSV4_CONCAT_INNER(a, b)

// Returns the status from the enclosing function when `expr` is not ok.
#define DSV4_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::dsv4::Status dsv4_status_ = (expr);        \
    if (!dsv4_status_.ok()) return dsv4_status_; \
  } while (0)

#define DSV4_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()

// DSV4_ASSIGN_OR_RETURN(auto x, MakeX()); — unwraps a Result<T> or returns its status.
#define DSV4_ASSIGN_OR_RETURN(lhs, expr) \
  DSV4_ASSIGN_OR_RETURN_IMPL(DSV4_CONCAT(dsv4_result_, __LINE__), lhs, expr)
