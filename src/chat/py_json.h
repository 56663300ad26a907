// JSON exactly as Python's `json` module reads and writes it — the reference encoder builds prompts
// with json.dumps(value, ensure_ascii=False) and re-dumps tool-call arguments after json.loads, so
// byte-exact prompts need the same text:
//   * separators ", " and ": ", object keys in insertion order;
//   * strings: only '"', '\\' and control characters (< 0x20) escaped; non-ASCII, U+007F and
//     U+2028 written raw; control characters as \n \r \t \b \f or \u00XX (lower-case hex);
//   * floats as Python repr (shortest round trip: 1e+20, 1e-07, 3.0, -0.0, 1e+16), NaN/Infinity
//     as the bare words; integers exact at any size.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace dsv4 {

// A value as json.loads returns it. Integers keep their decimal text so any size stays exact.
struct PyJsonValue {
  enum class Kind { kNull, kBool, kInt, kFloat, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  double number = 0.0;
  std::string text;  // kInt: canonical digits; kString: UTF-8 (lone surrogates as WTF-8)
  std::vector<PyJsonValue> items;  // kArray elements; kObject values, parallel to `keys`
  std::vector<std::string> keys;   // kObject keys in insertion order
  // (Two vectors because std::pair<std::string, PyJsonValue> needs a complete PyJsonValue.)
};

// json.loads: strict strings, NaN/Infinity accepted, a repeated key keeps its first position and
// its last value, integers over 4300 digits rejected (Python 3.11's limit). Errors are
// InvalidArgument.
Result<PyJsonValue> PyJsonLoads(std::string_view text);

// json.dumps(..., ensure_ascii=False).
std::string PyJsonDumps(const PyJsonValue& value);
std::string PyJsonDumps(const nlohmann::ordered_json& value);
// json.dumps of one string.
std::string PyJsonQuote(std::string_view text);
// json.dumps of one float: Python repr, or NaN / Infinity / -Infinity.
std::string PyJsonFloat(double value);

// Python type name of a value ("dict", "list", "str", "int", "float", "bool", "NoneType").
const char* PyTypeName(const PyJsonValue& value);
const char* PyTypeName(const nlohmann::ordered_json& value);

}  // namespace dsv4
