// The chat encoder and the one-shot completion parser against every public fixture of
// ../shared/encoding (official/, cases.json, generated/cases.jsonl), errors included.
#include "chat/encoding.h"

#include <gtest/gtest.h>

#include "chat/chat_error.h"
#include "chat/completion_parser.h"
#include "chat_fixtures.h"

namespace dsv4 {
namespace {

using nlohmann::ordered_json;
using testing::GeneratedCases;
using testing::OfficialCases;

ThinkingMode ModeOf(const ordered_json& name) {
  return name == "thinking" ? ThinkingMode::kThinking : ThinkingMode::kChat;
}

// The expected error of a case matches the status: same kind, same message (or prefix).
void ExpectError(const Status& status, const ordered_json& expected, const std::string& id) {
  ASSERT_FALSE(status.ok()) << id;
  EXPECT_EQ(ChatErrorKindOf(status), expected["type"].get<std::string>())
      << id << ": " << status.message();
  std::string message = expected["message"];
  std::string actual(ChatErrorMessage(status));
  if (expected["message_match"] == "prefix") {
    EXPECT_EQ(actual.substr(0, message.size()), message) << id;
  } else {
    EXPECT_EQ(actual, message) << id;
  }
}

TEST(ChatEncoding, OfficialFixtures) {
  int encoded = 0;
  int parsed = 0;
  for (const ordered_json& c : OfficialCases()) {
    std::string name = c["name"];
    std::string expected = testing::ReadText(testing::EncodingDir() + "/official/" +
                                             c["expected_output_file"].get<std::string>());
    Result<std::string> prompt = EncodeChat(testing::OfficialRequest(c));
    ASSERT_TRUE(prompt.ok()) << name << ": " << prompt.status().message();
    EXPECT_EQ(*prompt, expected) << name;
    ++encoded;
    for (const ordered_json& check : c.value("parse_checks", ordered_json::array())) {
      std::string text = check["text"];
      Result<ParsedMessage> message = ParseCompletion(text, ModeOf(check["thinking_mode"]));
      ASSERT_TRUE(message.ok()) << name << ": " << message.status().message();
      EXPECT_EQ(ParsedMessageToJson(*message), check["expected"]) << name;
      // The check's text is cut out of the expected prompt.
      EXPECT_NE(expected.find(text.substr(0, text.size() / 2)), std::string::npos) << name;
      ++parsed;
    }
  }
  EXPECT_EQ(encoded, 4);
  EXPECT_EQ(parsed, 3);
  std::printf("official fixtures: %d/4 prompts byte-identical, %d/3 parse checks equal\n", encoded,
              parsed);
}

TEST(ChatEncoding, GeneratedCases) {
  int counts[4] = {0, 0, 0, 0};  // encode, encode error, parse, parse error
  std::vector<ordered_json> cases = GeneratedCases();
  ASSERT_EQ(cases.size(), 59u);
  for (const ordered_json& c : cases) {
    std::string id = c["id"];
    bool is_error = c.contains("expected_error");
    if (c["kind"] == "encode") {
      Result<std::string> prompt = EncodeChat(c["args"]);
      if (is_error) {
        ExpectError(prompt.status(), c["expected_error"], id);
      } else {
        ASSERT_TRUE(prompt.ok()) << id << ": " << prompt.status().message();
        EXPECT_EQ(*prompt, c["expected"].get<std::string>()) << id;
      }
      ++counts[is_error ? 1 : 0];
    } else {
      ASSERT_EQ(c["kind"], "parse") << id;
      Result<ParsedMessage> message =
          ParseCompletion(c["args"]["text"].get<std::string>(), ModeOf(c["args"]["thinking_mode"]));
      if (is_error) {
        ExpectError(message.status(), c["expected_error"], id);
      } else {
        ASSERT_TRUE(message.ok()) << id << ": " << message.status().message();
        EXPECT_EQ(ParsedMessageToJson(*message), c["expected"]) << id;
      }
      ++counts[is_error ? 3 : 2];
    }
  }
  EXPECT_EQ(counts[0], 43);
  EXPECT_EQ(counts[1], 1);
  EXPECT_EQ(counts[2], 9);
  EXPECT_EQ(counts[3], 6);
  std::printf("generated: %d encode, %d encode-error, %d parse, %d parse-error cases checked\n",
              counts[0], counts[1], counts[2], counts[3]);
}

ordered_json Request(ordered_json messages, const char* mode = "chat") {
  return {{"messages", std::move(messages)}, {"thinking_mode", mode}};
}

TEST(ChatEncoding, UnknownRoleIsNotImplementedError) {
  Result<std::string> prompt = EncodeChat(Request({{{"role", "robot"}, {"content", "hi"}}}));
  ASSERT_FALSE(prompt.ok());
  EXPECT_EQ(ChatErrorKindOf(prompt.status()), "NotImplementedError");
  EXPECT_EQ(ChatErrorMessage(prompt.status()), "Unknown role: robot");
}

TEST(ChatEncoding, MalformedRequestsAreErrors) {
  struct Bad {
    ordered_json request;
    const char* kind;
  };
  const std::vector<Bad> bad = {
      {{{"thinking_mode", "chat"}}, "TypeError"},  // no messages
      {Request("not a list"), "TypeError"},        // messages not an array
      {Request({"just text"}), "AttributeError"},  // message not an object
      {Request({{{"role", "user"}, {"content", {{"x", 1}}}}}), "TypeError"},
      {Request({{{"role", "user"}, {"content", nullptr}}}), "TypeError"},
      {Request({{{"role", "user"}, {"content", "q"}}}, "fast"), "AssertionError"},
      {Request({{{"role", "developer"}, {"content", ""}}}), "AssertionError"},
      {Request({{{"role", "system"}, {"content", "s"}, {"tools", "not a list"}}}), "TypeError"},
      {Request({{{"role", "system"}, {"content", "s"}, {"tools", {{{"type", "function"}}}}}}),
       "KeyError"},
      {Request({{{"role", "user"}, {"content", "q"}},  // tools are converted on any role
                {{"role", "assistant"}, {"content", "a"}, {"tools", {{{"type", "function"}}}}}}),
       "KeyError"},
      {Request({{{"role", "assistant"},
                 {"tool_calls", {{{"function", {{"name", "f"}}}}}}}}),  // no arguments
       "KeyError"},
      {Request({{{"role", "assistant"},
                 {"tool_calls",
                  {{{"function", {{"name", "f"}, {"arguments", "[1, 2]"}}}}}}}}),  // not an object
       "AttributeError"},
  };
  for (const Bad& b : bad) {
    Result<std::string> prompt = EncodeChat(b.request);
    ASSERT_FALSE(prompt.ok()) << b.request.dump();
    EXPECT_EQ(ChatErrorKindOf(prompt.status()), b.kind)
        << b.request.dump() << " -> " << prompt.status().message();
  }
  Result<std::string> effort = EncodeChat({{"messages", {{{"role", "user"}, {"content", "q"}}}},
                                           {"thinking_mode", "thinking"},
                                           {"reasoning_effort", "extreme"}});
  EXPECT_EQ(ChatErrorMessage(effort.status()), "Invalid reasoning effort: extreme");
  EXPECT_FALSE(EncodeChatJson("{not json").ok());
}

TEST(ChatEncoding, ToolResultContentNoneAndArgumentsObject) {
  // Python formats a None tool result as "None"; non-string arguments fall back to one parameter.
  ordered_json messages = {
      {{"role", "user"}, {"content", "q"}},
      {{"role", "assistant"},
       {"tool_calls", {{{"id", "a"}, {"function", {{"name", "f"}, {"arguments", {{"x", 1.5}}}}}}}}},
      {{"role", "tool"}, {"tool_call_id", "a"}, {"content", nullptr}}};
  Result<std::string> prompt = EncodeChat(Request(messages));
  ASSERT_TRUE(prompt.ok()) << prompt.status().message();
  EXPECT_NE(prompt->find("<｜DSML｜parameter name=\"arguments\" string=\"false\">{\"x\": 1.5}"),
            std::string::npos);
  EXPECT_NE(prompt->find("<tool_result>None</tool_result><｜Assistant｜></think>"),
            std::string::npos);
}

TEST(ChatParse, MalformedDsmlIsValueError) {
  const std::vector<std::string> texts = {
      "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke "
      "nam=\"f\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>",
      "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\">1"
      "</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>",
      "\n\n<｜DSML｜tool_calls>x<｜DSML｜invoke "
      "name=\"f\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>",
      "\n\n<｜DSML｜tool_calls>\n",
  };
  for (const std::string& text : texts) {
    Result<ParsedMessage> message = ParseCompletion(text, ThinkingMode::kChat);
    ASSERT_FALSE(message.ok()) << text;
    EXPECT_EQ(ChatErrorKindOf(message.status()), "ValueError") << message.status().message();
  }
}

TEST(ChatParse, ReferenceEdgeCases) {
  // `$` also matches before a final newline, so "name=\"f\">\n\n" is a valid header.
  Result<ParsedMessage> m = ParseCompletion(
      "\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke  name=\"f\">\n\n</｜DSML｜invoke>\n"
      "</｜DSML｜tool_calls><｜end▁of▁sentence｜>",
      ThinkingMode::kChat);
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_EQ(m->tool_calls.size(), 1u);
  EXPECT_EQ(m->tool_calls[0].name, "f");
  EXPECT_EQ(m->tool_calls[0].arguments, "{}");
  // Special tokens in content and a DSML look-alike without the block opener are errors.
  EXPECT_FALSE(ParseCompletion("a<｜DSML｜invoke<｜end▁of▁sentence｜>", ThinkingMode::kChat).ok());
  EXPECT_FALSE(ParseCompletion("a</think>b<｜end▁of▁sentence｜>", ThinkingMode::kChat).ok());
}

}  // namespace
}  // namespace dsv4
