#include "chat/py_json.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <unordered_map>

namespace dsv4 {
namespace {

// Python's repr switches to exponent notation outside 1e-4 <= |x| < 1e16.
constexpr int kReprMinDecimalPoint = -4;
constexpr int kReprMaxDecimalPoint = 16;
// Python 3.11 refuses to convert integers with more digits (sys.get_int_max_str_digits()).
constexpr size_t kMaxIntDigits = 4300;
// Roughly Python's recursion limit; deeper input fails json.loads there too.
constexpr int kMaxDepth = 1000;

void AppendUtf8(uint32_t cp, std::string* out) {
  // Lone surrogates are written like any other code point (WTF-8), as Python keeps them in str.
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

class Loader {
 public:
  explicit Loader(std::string_view text) : s_(text) {}

  Result<PyJsonValue> Run() {
    if (s_.substr(0, 3) == "\xEF\xBB\xBF") return Fail("Unexpected UTF-8 BOM");
    SkipWs();
    PyJsonValue value;
    DSV4_RETURN_IF_ERROR(ParseValue(0, &value));
    SkipWs();
    if (pos_ != s_.size()) return Fail("Extra data");
    return value;
  }

 private:
  Status Fail(const std::string& what) const {
    return InvalidArgument("json: " + what + " at byte " + std::to_string(pos_));
  }
  void SkipWs() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Consume(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  bool IsDigit(size_t i) const { return i < s_.size() && s_[i] >= '0' && s_[i] <= '9'; }

  Status ParseValue(int depth, PyJsonValue* out) {
    if (depth > kMaxDepth) return Fail("nesting too deep");
    if (pos_ >= s_.size()) return Fail("Expecting value");
    char c = s_[pos_];
    if (c == '"') {
      out->kind = PyJsonValue::Kind::kString;
      return ParseString(&out->text);
    }
    if (c == '{') return ParseObject(depth, out);
    if (c == '[') return ParseArray(depth, out);
    if (Consume("null")) return Status::Ok();
    if (Consume("true") || Consume("false")) {
      out->kind = PyJsonValue::Kind::kBool;
      out->boolean = s_[pos_ - 2] == 'u';  // "true" vs "false"
      return Status::Ok();
    }
    if (Consume("NaN")) return SetFloat(std::nan(""), out);
    if (Consume("Infinity")) return SetFloat(HUGE_VAL, out);
    if (Consume("-Infinity")) return SetFloat(-HUGE_VAL, out);
    if (c == '-' || IsDigit(pos_)) return ParseNumber(out);
    return Fail("Expecting value");
  }

  static Status SetFloat(double v, PyJsonValue* out) {
    out->kind = PyJsonValue::Kind::kFloat;
    out->number = v;
    return Status::Ok();
  }

  Status ParseNumber(PyJsonValue* out) {
    size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    if (!IsDigit(pos_)) return Fail("Expecting value");
    if (s_[pos_] == '0') {
      ++pos_;
    } else {
      while (IsDigit(pos_)) ++pos_;
    }
    bool is_float = false;
    if (pos_ < s_.size() && s_[pos_] == '.' && IsDigit(pos_ + 1)) {
      is_float = true;
      ++pos_;
      while (IsDigit(pos_)) ++pos_;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      size_t e = pos_ + 1;
      if (e < s_.size() && (s_[e] == '+' || s_[e] == '-')) ++e;
      if (IsDigit(e)) {
        is_float = true;
        pos_ = e;
        while (IsDigit(pos_)) ++pos_;
      }
    }
    std::string literal(s_.substr(start, pos_ - start));
    if (is_float) return SetFloat(std::strtod(literal.c_str(), nullptr), out);
    bool negative = literal[0] == '-';
    std::string digits = negative ? literal.substr(1) : literal;
    if (digits.size() > kMaxIntDigits) return Fail("integer has too many digits");
    out->kind = PyJsonValue::Kind::kInt;
    out->text = (negative && digits != "0") ? "-" + digits : digits;  // int("-0") == 0
    return Status::Ok();
  }

  Status ParseHex4(uint32_t* cp) {
    if (pos_ + 4 > s_.size()) return Fail("Invalid \\uXXXX escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char h = s_[pos_ + i];
      int d = (h >= '0' && h <= '9')   ? h - '0'
              : (h >= 'a' && h <= 'f') ? h - 'a' + 10
              : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                       : -1;
      if (d < 0) return Fail("Invalid \\uXXXX escape");
      v = v * 16 + static_cast<uint32_t>(d);
    }
    pos_ += 4;
    *cp = v;
    return Status::Ok();
  }

  Status ParseEscape(std::string* out) {
    if (pos_ >= s_.size()) return Fail("Unterminated string");
    char e = s_[pos_++];
    switch (e) {
      case '"':
        out->push_back('"');
        return Status::Ok();
      case '\\':
        out->push_back('\\');
        return Status::Ok();
      case '/':
        out->push_back('/');
        return Status::Ok();
      case 'b':
        out->push_back('\b');
        return Status::Ok();
      case 'f':
        out->push_back('\f');
        return Status::Ok();
      case 'n':
        out->push_back('\n');
        return Status::Ok();
      case 'r':
        out->push_back('\r');
        return Status::Ok();
      case 't':
        out->push_back('\t');
        return Status::Ok();
      case 'u':
        break;
      default:
        return Fail("Invalid \\escape");
    }
    uint32_t cp = 0;
    DSV4_RETURN_IF_ERROR(ParseHex4(&cp));
    if (cp >= 0xD800 && cp <= 0xDBFF && s_.substr(pos_, 2) == "\\u") {
      size_t save = pos_;
      pos_ += 2;
      uint32_t low = 0;
      if (ParseHex4(&low).ok() && low >= 0xDC00 && low <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      } else {
        pos_ = save;  // a lone high surrogate; the next escape is read on its own
      }
    }
    AppendUtf8(cp, out);
    return Status::Ok();
  }

  Status ParseString(std::string* out) {
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= s_.size()) return Fail("Unterminated string");
      char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return Status::Ok();
      }
      if (static_cast<unsigned char>(c) < 0x20) return Fail("Invalid control character");
      if (c == '\\') {
        ++pos_;
        DSV4_RETURN_IF_ERROR(ParseEscape(out));
      } else {
        out->push_back(c);
        ++pos_;
      }
    }
  }

  Status ParseArray(int depth, PyJsonValue* out) {
    out->kind = PyJsonValue::Kind::kArray;
    ++pos_;
    SkipWs();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return Status::Ok();
    }
    while (true) {
      SkipWs();
      PyJsonValue item;
      DSV4_RETURN_IF_ERROR(ParseValue(depth + 1, &item));
      out->items.push_back(std::move(item));
      SkipWs();
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return Status::Ok();
      }
      if (pos_ >= s_.size() || s_[pos_] != ',') return Fail("Expecting ',' delimiter");
      ++pos_;
    }
  }

  Status ParseObject(int depth, PyJsonValue* out) {
    out->kind = PyJsonValue::Kind::kObject;
    std::unordered_map<std::string, size_t> index;
    ++pos_;
    SkipWs();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return Status::Ok();
    }
    while (true) {
      SkipWs();
      if (pos_ >= s_.size() || s_[pos_] != '"') return Fail("Expecting property name");
      std::string key;
      DSV4_RETURN_IF_ERROR(ParseString(&key));
      SkipWs();
      if (pos_ >= s_.size() || s_[pos_] != ':') return Fail("Expecting ':' delimiter");
      ++pos_;
      SkipWs();
      PyJsonValue value;
      DSV4_RETURN_IF_ERROR(ParseValue(depth + 1, &value));
      auto [it, inserted] = index.emplace(key, out->keys.size());
      if (inserted) {
        out->keys.push_back(std::move(key));
        out->items.push_back(std::move(value));
      } else {
        out->items[it->second] = std::move(value);  // dict: first position, last value
      }
      SkipWs();
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return Status::Ok();
      }
      if (pos_ >= s_.size() || s_[pos_] != ',') return Fail("Expecting ',' delimiter");
      ++pos_;
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

void DumpTo(const PyJsonValue& v, std::string* out) {
  switch (v.kind) {
    case PyJsonValue::Kind::kNull:
      *out += "null";
      return;
    case PyJsonValue::Kind::kBool:
      *out += v.boolean ? "true" : "false";
      return;
    case PyJsonValue::Kind::kInt:
      *out += v.text;
      return;
    case PyJsonValue::Kind::kFloat:
      *out += PyJsonFloat(v.number);
      return;
    case PyJsonValue::Kind::kString:
      *out += PyJsonQuote(v.text);
      return;
    case PyJsonValue::Kind::kArray:
      out->push_back('[');
      for (size_t i = 0; i < v.items.size(); ++i) {
        if (i > 0) *out += ", ";
        DumpTo(v.items[i], out);
      }
      out->push_back(']');
      return;
    case PyJsonValue::Kind::kObject:
      out->push_back('{');
      for (size_t i = 0; i < v.keys.size(); ++i) {
        if (i > 0) *out += ", ";
        *out += PyJsonQuote(v.keys[i]);
        *out += ": ";
        DumpTo(v.items[i], out);
      }
      out->push_back('}');
      return;
  }
}

void DumpTo(const nlohmann::ordered_json& v, std::string* out) {
  using V = nlohmann::ordered_json::value_t;
  switch (v.type()) {
    case V::boolean:
      *out += v.get<bool>() ? "true" : "false";
      return;
    case V::number_integer:
      *out += std::to_string(v.get<int64_t>());
      return;
    case V::number_unsigned:
      *out += std::to_string(v.get<uint64_t>());
      return;
    case V::number_float:
      *out += PyJsonFloat(v.get<double>());
      return;
    case V::string:
      *out += PyJsonQuote(v.get_ref<const std::string&>());
      return;
    case V::array: {
      out->push_back('[');
      bool first = true;
      for (const auto& item : v) {
        if (!first) *out += ", ";
        first = false;
        DumpTo(item, out);
      }
      out->push_back(']');
      return;
    }
    case V::object: {
      out->push_back('{');
      bool first = true;
      for (const auto& [key, item] : v.items()) {
        if (!first) *out += ", ";
        first = false;
        *out += PyJsonQuote(key);
        *out += ": ";
        DumpTo(item, out);
      }
      out->push_back('}');
      return;
    }
    default:
      *out += "null";
      return;  // null, discarded, binary (never in parsed requests)
  }
}

}  // namespace

Result<PyJsonValue> PyJsonLoads(std::string_view text) { return Loader(text).Run(); }

std::string PyJsonDumps(const PyJsonValue& value) {
  std::string out;
  DumpTo(value, &out);
  return out;
}

std::string PyJsonDumps(const nlohmann::ordered_json& value) {
  std::string out;
  DumpTo(value, &out);
  return out;
}

std::string PyJsonQuote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string PyJsonFloat(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0.0) return std::signbit(value) ? "-0.0" : "0.0";
  // Shortest round-trip digits (what repr uses), read back out of "d.ddde±x".
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
  std::string out;
  if (sci[0] == '-') {
    out.push_back('-');
    sci.remove_prefix(1);
  }
  size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  int exponent = std::atoi(std::string(sci.substr(e + 1)).c_str());
  int decpt = exponent + 1;  // value = 0.DIGITS * 10^decpt
  int n = static_cast<int>(digits.size());
  if (decpt <= kReprMinDecimalPoint || decpt > kReprMaxDecimalPoint) {
    out.push_back(digits[0]);
    if (n > 1) out += "." + digits.substr(1);
    int x = decpt - 1;
    out += x < 0 ? "e-" : "e+";
    std::string xs = std::to_string(x < 0 ? -x : x);
    if (xs.size() < 2) xs = "0" + xs;
    out += xs;
  } else if (decpt <= 0) {
    out += "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
  } else if (decpt < n) {
    out += digits.substr(0, static_cast<size_t>(decpt)) + "." + digits.substr(decpt);
  } else {
    out += digits + std::string(static_cast<size_t>(decpt - n), '0') + ".0";
  }
  return out;
}

const char* PyTypeName(const PyJsonValue& value) {
  switch (value.kind) {
    case PyJsonValue::Kind::kNull:
      return "NoneType";
    case PyJsonValue::Kind::kBool:
      return "bool";
    case PyJsonValue::Kind::kInt:
      return "int";
    case PyJsonValue::Kind::kFloat:
      return "float";
    case PyJsonValue::Kind::kString:
      return "str";
    case PyJsonValue::Kind::kArray:
      return "list";
    case PyJsonValue::Kind::kObject:
      return "dict";
  }
  return "object";
}

const char* PyTypeName(const nlohmann::ordered_json& value) {
  if (value.is_null()) return "NoneType";
  if (value.is_boolean()) return "bool";
  if (value.is_number_integer()) return "int";
  if (value.is_number_float()) return "float";
  if (value.is_string()) return "str";
  if (value.is_array()) return "list";
  if (value.is_object()) return "dict";
  return "object";
}

}  // namespace dsv4
