// The pieces of DSML tool-call markup that the completion parsers match, with the exact semantics
// of the reference's regular expressions (lazy groups, `$` also matching before a final "\n").
#pragma once

#include <string>
#include <string_view>

namespace dsv4::dsml {

// `^\s*name="(.*?)">\n$` on the text between "<｜DSML｜invoke" and the next parameter / invoke
// end. \s is Python's Unicode whitespace.
bool MatchInvokeHeader(std::string_view header, std::string* name);

// Whether `header` (a prefix of an invoke header still being received) can no longer match.
bool InvokeHeaderPrefixFails(std::string_view header);

struct Parameter {
  std::string name;
  std::string value;
  bool is_string = false;  // string="true": the value is text, else JSON written as is
};

// `^ name="(.*?)" string="(true|false)">(.*?)<$` on the text between "<｜DSML｜parameter" and
// "/｜DSML｜parameter".
bool MatchParameter(std::string_view content, Parameter* param);

// Whether `content` (a prefix of a parameter still being received) can no longer match.
bool ParameterPrefixFails(std::string_view content);

// One `"key": value` member of the arguments JSON: string values are JSON-quoted, others kept raw.
std::string ArgumentMember(const Parameter& param);

}  // namespace dsv4::dsml
