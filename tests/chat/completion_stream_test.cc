// The streaming parser: any chunking of a completion gives the one-shot result, deltas add up to
// it, partial markup never reaches content, malformed DSML fails early.
#include "chat/completion_stream.h"

#include <gtest/gtest.h>

#include <random>

#include "chat/chat_error.h"
#include "chat/encoding.h"
#include "chat_fixtures.h"

namespace dsv4 {
namespace {

using nlohmann::ordered_json;

struct StreamOutcome {
  Status status;              // first error (Feed or Finish)
  ParsedMessage message;      // Finish result when ok
  ParsedMessage from_deltas;  // deltas concatenated
  std::vector<CompletionDelta> deltas;
};

template <typename NextSize>
StreamOutcome Stream(const std::string& text, ThinkingMode mode, NextSize next_size) {
  StreamOutcome out;
  CompletionStreamParser parser(mode);
  for (size_t i = 0; i < text.size() && out.status.ok();) {
    size_t n = std::min(text.size() - i, next_size());
    out.status = parser.Feed(std::string_view(text).substr(i, n), &out.deltas);
    i += n;
  }
  if (out.status.ok()) {
    Result<ParsedMessage> r = parser.Finish(&out.deltas);
    if (r.ok())
      out.message = *r;
    else
      out.status = r.status();
  }
  for (const CompletionDelta& d : out.deltas) {
    switch (d.kind) {
      case CompletionDeltaKind::kReasoning:
        out.from_deltas.reasoning_content += d.text;
        break;
      case CompletionDeltaKind::kContent:
        out.from_deltas.content += d.text;
        break;
      case CompletionDeltaKind::kToolCallName:
        EXPECT_EQ(d.tool_index, static_cast<int>(out.from_deltas.tool_calls.size()));
        out.from_deltas.tool_calls.push_back({d.text, ""});
        break;
      case CompletionDeltaKind::kToolCallArguments:
        EXPECT_EQ(d.tool_index + 1, static_cast<int>(out.from_deltas.tool_calls.size()));
        out.from_deltas.tool_calls.back().arguments += d.text;
        break;
    }
  }
  return out;
}

// Every completion text of the fixtures, with its mode.
std::vector<std::pair<std::string, ThinkingMode>> FixtureCompletions() {
  std::vector<std::pair<std::string, ThinkingMode>> texts;
  auto mode_of = [](const ordered_json& m) {
    return m == "thinking" ? ThinkingMode::kThinking : ThinkingMode::kChat;
  };
  for (const ordered_json& c : testing::OfficialCases()) {
    for (const ordered_json& check : c.value("parse_checks", ordered_json::array())) {
      texts.emplace_back(check["text"], mode_of(check["thinking_mode"]));
    }
  }
  for (const ordered_json& c : testing::GeneratedCases()) {
    if (c["kind"] == "parse")
      texts.emplace_back(c["args"]["text"], mode_of(c["args"]["thinking_mode"]));
  }
  return texts;
}

void ExpectSameAsOneShot(const std::string& text, ThinkingMode mode, const StreamOutcome& s,
                         const std::string& label) {
  Result<ParsedMessage> one_shot = ParseCompletion(text, mode);
  ASSERT_EQ(s.status.ok(), one_shot.ok())
      << label << ": " << s.status.message() << " vs " << one_shot.status().message();
  if (!one_shot.ok()) return;
  EXPECT_EQ(ParsedMessageToJson(s.message), ParsedMessageToJson(*one_shot)) << label;
  EXPECT_EQ(ParsedMessageToJson(s.from_deltas), ParsedMessageToJson(*one_shot)) << label;
}

TEST(CompletionStream, EveryChunkSizeMatchesOneShot) {
  auto texts = FixtureCompletions();
  ASSERT_EQ(texts.size(), 18u);  // 3 official checks + 15 generated parse cases
  int runs = 0;
  for (const auto& [text, mode] : texts) {
    for (size_t chunk = 1; chunk <= 48; ++chunk) {
      StreamOutcome s = Stream(text, mode, [chunk] { return chunk; });
      ExpectSameAsOneShot(text, mode, s, "chunk " + std::to_string(chunk) + ": " + text);
      ++runs;
    }
  }
  std::printf("streaming: %d (completion, chunk size) runs equal to the one-shot parser\n", runs);
}

TEST(CompletionStream, RandomChunksAndTruncations) {
  std::mt19937 rng(1234);
  auto texts = FixtureCompletions();
  for (const auto& [text, mode] : texts) {
    for (int trial = 0; trial < 20; ++trial) {
      std::string cut = text.substr(0, rng() % (text.size() + 1));
      StreamOutcome s = Stream(cut, mode, [&rng] { return size_t{1} + rng() % 9; });
      ExpectSameAsOneShot(cut, mode, s, "prefix of " + text);
    }
  }
}

TEST(CompletionStream, EncodedAssistantTurnsRoundTrip) {
  // Assistant turns cut out of every generated prompt (after "<｜Assistant｜><think>" or
  // "</think>", up to the next "<｜User｜>") parse, streamed byte by byte, like the one-shot
  // parser.
  int checked = 0;
  for (const ordered_json& c : testing::GeneratedCases()) {
    if (c["kind"] != "encode" || !c.contains("expected")) continue;
    std::string prompt = c["expected"];
    ThinkingMode mode =
        c["args"]["thinking_mode"] == "thinking" ? ThinkingMode::kThinking : ThinkingMode::kChat;
    std::string opener =
        mode == ThinkingMode::kThinking ? "<｜Assistant｜><think>" : "<｜Assistant｜></think>";
    for (size_t p = prompt.find(opener); p != std::string::npos; p = prompt.find(opener, p + 1)) {
      size_t start = p + opener.size();
      size_t end = prompt.find("<｜User｜>", start);
      std::string turn = prompt.substr(start, end == std::string::npos ? end : end - start);
      StreamOutcome s = Stream(turn, mode, [] { return size_t{1}; });
      ExpectSameAsOneShot(turn, mode, s, c["id"].get<std::string>());
      ++checked;
    }
  }
  EXPECT_GT(checked, 30);
}

TEST(CompletionStream, HoldsBackPartialMarkup) {
  CompletionStreamParser parser(ThinkingMode::kChat);
  std::vector<CompletionDelta> deltas;
  ASSERT_TRUE(parser.Feed("Sure.\n\n<｜DS", &deltas).ok());
  std::string content;
  for (const auto& d : deltas) content += d.text;
  EXPECT_EQ(content, "Sure.");  // "\n\n<｜DS" might open the tool-call block
  ASSERT_TRUE(parser.Feed("ML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n", &deltas).ok());
  ASSERT_TRUE(
      parser.Feed("<｜DSML｜parameter name=\"x\" string=\"false\">1</｜DSML｜parameter>\n", &deltas)
          .ok());
  bool saw_name = false;
  for (const auto& d : deltas) {
    EXPECT_EQ(d.text.find("DSML"), std::string::npos) << d.text;
    saw_name |= d.kind == CompletionDeltaKind::kToolCallName && d.text == "f";
  }
  EXPECT_TRUE(saw_name);  // the call is announced before the block ends
  ASSERT_TRUE(
      parser.Feed("</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>", &deltas).ok());
  Result<ParsedMessage> m = parser.Finish(&deltas);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->content, "Sure.");
  ASSERT_EQ(m->tool_calls.size(), 1u);
  EXPECT_EQ(m->tool_calls[0].arguments, "{\"x\": 1}");
}

TEST(CompletionStream, DoesNotSplitUtf8) {
  std::string text = "日本語<｜end▁of▁sentence｜>";
  StreamOutcome s = Stream(text, ThinkingMode::kChat, [] { return size_t{1}; });
  ASSERT_TRUE(s.status.ok());
  for (const auto& d : s.deltas) {
    EXPECT_EQ(d.text.size() % 3, 0u) << "delta splits a character: " << d.text.size();
  }
}

TEST(CompletionStream, MalformedDsmlFailsEarly) {
  const std::vector<std::string> bad = {
      "ok\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke nme=",  // header is not name="
      "ok\n\n<｜DSML｜tool_calls>x",                       // junk after the block opener
      "ok\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter key",
      "ok <｜DSML｜invoke name=\"f\">",  // DSML outside a block
  };
  for (const std::string& text : bad) {
    CompletionStreamParser parser(ThinkingMode::kChat);
    std::vector<CompletionDelta> deltas;
    Status status = parser.Feed(text, &deltas);
    ASSERT_FALSE(status.ok()) << text;
    EXPECT_FALSE(ChatErrorKindOf(status).empty()) << status.message();
    for (const auto& d : deltas) EXPECT_EQ(d.text.find("DSML"), std::string::npos);
    EXPECT_FALSE(parser.Feed("more", &deltas).ok());  // errors are sticky
    EXPECT_FALSE(ParseCompletion(text + "<｜end▁of▁sentence｜>", ThinkingMode::kChat).ok());
  }
}

}  // namespace
}  // namespace dsv4
