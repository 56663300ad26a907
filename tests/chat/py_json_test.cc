// Python-compatible JSON: the number and string formats the prompts depend on.
#include "chat/py_json.h"

#include <gtest/gtest.h>

namespace dsv4 {
namespace {

std::string Redump(const std::string& text) {
  Result<PyJsonValue> v = PyJsonLoads(text);
  return v.ok() ? PyJsonDumps(*v) : "<error>";
}

TEST(PyJson, FloatReprMatchesPython) {
  EXPECT_EQ(PyJsonFloat(1.5), "1.5");
  EXPECT_EQ(PyJsonFloat(1e20), "1e+20");
  EXPECT_EQ(PyJsonFloat(1e-7), "1e-07");
  EXPECT_EQ(PyJsonFloat(3.0), "3.0");
  EXPECT_EQ(PyJsonFloat(-0.0), "-0.0");
  EXPECT_EQ(PyJsonFloat(1e16), "1e+16");
  EXPECT_EQ(PyJsonFloat(1e15), "1000000000000000.0");
  EXPECT_EQ(PyJsonFloat(0.0001), "0.0001");
  EXPECT_EQ(PyJsonFloat(0.00001), "1e-05");
  EXPECT_EQ(PyJsonFloat(123456789.123456789), "123456789.12345679");
  EXPECT_EQ(PyJsonFloat(0.1), "0.1");
  EXPECT_EQ(PyJsonFloat(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(PyJsonFloat(5e-324), "5e-324");
}

TEST(PyJson, LoadsThenDumpsLikePython) {
  EXPECT_EQ(Redump("{\"a\":1.50,\"b\" : [1E-7, -0, 12345678901234567890123]}"),
            "{\"a\": 1.5, \"b\": [1e-07, 0, 12345678901234567890123]}");
  EXPECT_EQ(Redump("{\"k\": 1, \"j\": 2, \"k\": 3}"), "{\"k\": 3, \"j\": 2}");
  EXPECT_EQ(Redump("[NaN, Infinity, -Infinity, 1e400]"), "[NaN, Infinity, -Infinity, Infinity]");
  EXPECT_EQ(Redump("\"\\u00e9\\ud83d\\ude00\\u2028\\u0001\\u007f\""), "\"é😀\u2028\\u0001\x7f\"");
  EXPECT_EQ(Redump(" [] "), "[]");
  for (const char* bad : {"", "[1,]", "{\"a\" 1}", "01", "1.", "\"a\tb\"", "[1] x", "{'a': 1}",
                          "\xEF\xBB\xBF{}", "tru"}) {
    EXPECT_EQ(Redump(bad), "<error>") << bad;
  }
  EXPECT_EQ(Redump(std::string(4301, '7')), "<error>");  // Python's int digit limit
  EXPECT_EQ(Redump(std::string(4300, '7')), std::string(4300, '7'));
}

TEST(PyJson, DumpsOrderedJson) {
  auto j = nlohmann::ordered_json::parse(R"({"z": 1, "a": [true, null, 2.0, "x\ny"], "m": {}})");
  EXPECT_EQ(PyJsonDumps(j), "{\"z\": 1, \"a\": [true, null, 2.0, \"x\\ny\"], \"m\": {}}");
}

}  // namespace
}  // namespace dsv4
