// Errors of the chat encoder and completion parser.
//
// The reference (encoding_dsv4.py) reports failures as Python exceptions; the fixtures in
// ../shared/encoding name the exception type ("AssertionError", "ValueError"). A chat error is an
// InvalidArgument Status whose message is "<Kind>: <reference message>", so callers (and tests) can
// tell the kinds apart without a second error channel.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace dsv4 {

enum class ChatErrorKind {
  kAssertion,       // AssertionError: a check of the reference failed (bad task, missing EOS, ...)
  kValue,           // ValueError: malformed DSML in a completion
  kNotImplemented,  // NotImplementedError: unknown message role
  kKey,             // KeyError: a required field is missing (tool_calls[].function.name, ...)
  kType,            // TypeError: a field has the wrong JSON type
  kAttribute,       // AttributeError: a value is not an object where one is needed
};

// "AssertionError", "ValueError", ... (the Python exception name).
const char* ChatErrorKindName(ChatErrorKind kind);

// InvalidArgument("<KindName>: <message>").
Status ChatError(ChatErrorKind kind, std::string message);

// The kind name of a Status made by ChatError ("AssertionError", ...), or "" for other statuses.
std::string ChatErrorKindOf(const Status& status);

// The message of a Status made by ChatError without its "<Kind>: " prefix.
std::string_view ChatErrorMessage(const Status& status);

}  // namespace dsv4
