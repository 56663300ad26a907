// Python-semantics helpers of the chat encoder (truthiness, dict.get, str()).
#include "chat/chat_error.h"
#include "chat/encoding_internal.h"
#include "chat/py_json.h"

namespace dsv4::chat_internal {

bool PyTruthy(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return false;
    case Json::value_t::boolean:
      return value.get<bool>();
    case Json::value_t::number_integer:
      return value.get<int64_t>() != 0;
    case Json::value_t::number_unsigned:
      return value.get<uint64_t>() != 0;
    case Json::value_t::number_float:
      return value.get<double>() != 0.0;
    case Json::value_t::string:
      return !value.get_ref<const std::string&>().empty();
    case Json::value_t::array:
    case Json::value_t::object:
      return !value.empty();
    default:
      return false;
  }
}

const Json* Get(const Json& msg, const char* key) {
  if (!msg.is_object()) return nullptr;
  auto it = msg.find(key);
  return it == msg.end() ? nullptr : &*it;
}

bool HasNonNull(const Json& msg, const char* key) {
  const Json* v = Get(msg, key);
  return v != nullptr && !v->is_null();
}

std::string RoleOf(const Json& msg) {
  const Json* role = Get(msg, "role");
  return (role != nullptr && role->is_string()) ? role->get<std::string>() : std::string();
}

const char* PyTypeNameOf(const Json& value) { return PyTypeName(value); }

Result<std::string> PyStr(const Json& value, const char* field) {
  switch (value.type()) {
    case Json::value_t::null:
      return std::string("None");
    case Json::value_t::boolean:
      return std::string(value.get<bool>() ? "True" : "False");
    case Json::value_t::number_integer:
      return std::to_string(value.get<int64_t>());
    case Json::value_t::number_unsigned:
      return std::to_string(value.get<uint64_t>());
    case Json::value_t::number_float: {
      std::string repr = PyJsonFloat(value.get<double>());  // str(float) is repr, but inf/nan
      if (repr == "NaN") return std::string("nan");
      if (repr == "Infinity") return std::string("inf");
      if (repr == "-Infinity") return std::string("-inf");
      return repr;
    }
    case Json::value_t::string:
      return value.get<std::string>();
    default:
      return ChatError(ChatErrorKind::kType,
                       std::string(field) + " must be a string, got " + PyTypeName(value));
  }
}

int FindLastUserIndex(const std::vector<Json>& messages) {
  for (int i = static_cast<int>(messages.size()) - 1; i >= 0; --i) {
    std::string role = RoleOf(messages[static_cast<size_t>(i)]);
    if (role == "user" || role == "developer") return i;
  }
  return -1;
}

}  // namespace dsv4::chat_internal
