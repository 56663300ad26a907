#include "server/api_request.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

namespace dsv4 {

int JsonNestingDepth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // the escaped character cannot end the string
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

const Json* FieldReader::Get(const char* key, bool (Json::*is)() const noexcept, const char* type) {
  if (!ok()) return nullptr;
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  if (!((*it).*is)()) {
    Fail(key, std::string("'") + key + "' must be " + type + ", got " + it->type_name());
    return nullptr;
  }
  return &*it;
}

void FieldReader::Fail(const char* key, const std::string& message) {
  if (ok()) error_ = ApiError{ApiErrorKind::kInvalidRequest, message, key};
}

std::optional<double> FieldReader::Number(const char* key, double lo, double hi) {
  const Json* v = Get(key, &Json::is_number, "a number");
  if (v == nullptr) return std::nullopt;
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) {
    Fail(key, std::string("'") + key + "' = " + v->dump() + " is outside [" + Dump(lo) + ", " +
                  Dump(hi) + "]");
    return std::nullopt;
  }
  return x;
}

std::optional<int64_t> FieldReader::Integer(const char* key, int64_t lo, int64_t hi) {
  const Json* v = Get(key, &Json::is_number_integer, "an integer");
  if (v == nullptr) return std::nullopt;
  // Unsigned values above INT64_MAX wrap negative through get<int64_t>; compare as unsigned first.
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi)) {
    Fail(key, std::string("'") + key + "' = " + v->dump() + " is above " + std::to_string(hi));
    return std::nullopt;
  }
  const int64_t x = v->get<int64_t>();
  if (x < lo || x > hi) {
    Fail(key, std::string("'") + key + "' = " + v->dump() + " is outside [" + std::to_string(lo) +
                  ", " + std::to_string(hi) + "]");
    return std::nullopt;
  }
  return x;
}

std::optional<bool> FieldReader::Bool(const char* key) {
  const Json* v = Get(key, &Json::is_boolean, "a boolean");
  return v == nullptr ? std::nullopt : std::optional<bool>(v->get<bool>());
}

std::optional<std::string> FieldReader::String(const char* key) {
  const Json* v = Get(key, &Json::is_string, "a string");
  return v == nullptr ? std::nullopt : std::optional<std::string>(v->get<std::string>());
}

const Json* FieldReader::Object(const char* key) { return Get(key, &Json::is_object, "an object"); }

const Json* FieldReader::Array(const char* key) { return Get(key, &Json::is_array, "an array"); }

std::optional<std::vector<std::string>> FieldReader::Strings(const char* key, size_t max_count) {
  if (!ok()) return std::nullopt;
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return std::nullopt;
  std::vector<std::string> out;
  if (it->is_string()) {
    out.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    for (const Json& s : *it) {
      if (!s.is_string()) {
        Fail(key, std::string("'") + key + "' must hold strings");
        return std::nullopt;
      }
      out.push_back(s.get<std::string>());
    }
  } else {
    Fail(key, std::string("'") + key + "' must be a string or an array of strings");
    return std::nullopt;
  }
  if (out.size() > max_count) {
    Fail(key,
         std::string("'") + key + "' holds more than " + std::to_string(max_count) + " strings");
    return std::nullopt;
  }
  for (const std::string& s : out) {
    if (s.empty()) {
      Fail(key, std::string("'") + key + "' strings must not be empty");
      return std::nullopt;
    }
  }
  return out;
}

std::string ShortId(const char* prefix) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char kHex[] = "0123456789abcdef";
  constexpr int kIdDigits = 24;
  std::string id = prefix;
  for (int i = 0; i < kIdDigits; ++i) id += kHex[rng() & 15];
  return id;
}

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string Sse(const Json& data) { return "data: " + Dump(data) + "\n\n"; }

std::string SseEvent(const char* event, const Json& data) {
  return std::string("event: ") + event + "\ndata: " + Dump(data) + "\n\n";
}

}  // namespace dsv4
