#include "chat/chat_error.h"

#include <array>

namespace dsv4 {
namespace {

constexpr std::array<ChatErrorKind, 6> kAllKinds = {
    ChatErrorKind::kAssertion, ChatErrorKind::kValue, ChatErrorKind::kNotImplemented,
    ChatErrorKind::kKey,       ChatErrorKind::kType,  ChatErrorKind::kAttribute};

}  // namespace

const char* ChatErrorKindName(ChatErrorKind kind) {
  switch (kind) {
    case ChatErrorKind::kAssertion:
      return "AssertionError";
    case ChatErrorKind::kValue:
      return "ValueError";
    case ChatErrorKind::kNotImplemented:
      return "NotImplementedError";
    case ChatErrorKind::kKey:
      return "KeyError";
    case ChatErrorKind::kType:
      return "TypeError";
    case ChatErrorKind::kAttribute:
      return "AttributeError";
  }
  return "Error";
}

Status ChatError(ChatErrorKind kind, std::string message) {
  return InvalidArgument(std::string(ChatErrorKindName(kind)) + ": " + message);
}

std::string ChatErrorKindOf(const Status& status) {
  if (status.code() != StatusCode::kInvalidArgument) return "";
  for (ChatErrorKind kind : kAllKinds) {
    std::string prefix = std::string(ChatErrorKindName(kind)) + ": ";
    if (status.message().compare(0, prefix.size(), prefix) == 0) return ChatErrorKindName(kind);
  }
  return "";
}

std::string_view ChatErrorMessage(const Status& status) {
  std::string kind = ChatErrorKindOf(status);
  std::string_view message = status.message();
  if (!kind.empty()) message.remove_prefix(kind.size() + 2);
  return message;
}

}  // namespace dsv4
