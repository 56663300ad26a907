// Anthropic's Messages API (/v1/messages) against the real `dsv4 serve`: text, thinking blocks,
// tool_use / tool_result input, stop sequences, cache usage, and the SSE event sequence.
// Both APIs share one encoding, so an Anthropic request must see exactly the prompt (and, greedy,
// give exactly the answer) of its OpenAI twin.
#include <map>

#include "harness.h"

namespace {

using namespace dsv4_test;

class Messages : public ServerSuite<Messages> {
 public:
  static std::vector<std::string> Flags() {
    return {"--parallel", "2", "--queue", "4", "--ctx", "1024"};
  }
};

json UserMessage(const std::string& text, int max_tokens) {
  return {{"model", "dsv4"},
          {"max_tokens", max_tokens},
          {"temperature", 0},
          {"messages", {{{"role", "user"}, {"content", text}}}}};
}

// The event sequence of one streamed message, checked for Anthropic's shape as it is read.
struct Events {
  std::vector<std::string> names;
  std::map<int, json> blocks;  // content_block_start blocks, deltas applied
  json start, delta;           // message_start.message, message_delta
};

Events ReadEvents(const std::string& body) {
  Events ev;
  int open = -1;
  for (const SseEvent& e : ParseSse(body)) {
    EXPECT_FALSE(e.done) << "Anthropic streams have no [DONE]";
    EXPECT_EQ(e.data["type"], e.event) << e.raw;  // the event name repeats the data's type
    ev.names.push_back(e.event);
    if (e.event == "message_start") ev.start = e.data["message"];
    if (e.event == "message_delta") ev.delta = e.data;
    if (e.event == "content_block_start") {
      EXPECT_EQ(open, -1) << "a block opened before the previous one closed";
      open = e.data["index"];
      EXPECT_EQ(open, static_cast<int>(ev.blocks.size()));
      ev.blocks[open] = e.data["content_block"];
    }
    if (e.event == "content_block_delta") {
      EXPECT_EQ(e.data["index"], open);
      json& b = ev.blocks[open];
      const json& d = e.data["delta"];
      if (d["type"] == "text_delta")
        b["text"] = b["text"].get<std::string>() + d["text"].get<std::string>();
      if (d["type"] == "thinking_delta") {
        b["thinking"] = b["thinking"].get<std::string>() + d["thinking"].get<std::string>();
      }
    }
    if (e.event == "content_block_stop") {
      EXPECT_EQ(e.data["index"], open);
      open = -1;
    }
  }
  EXPECT_EQ(open, -1);
  return ev;
}

TEST_F(Messages, TextMatchesTheOpenAIAnswer) {
  const json r = Post("/v1/messages", UserMessage("Hello Claude-style", 6));
  EXPECT_EQ(r["type"], "message");
  EXPECT_EQ(r["role"], "assistant");
  EXPECT_EQ(r["id"].get<std::string>().rfind("msg_", 0), 0u);
  ASSERT_EQ(r["content"].size(), 1u) << r;
  EXPECT_EQ(r["content"][0]["type"], "text");
  EXPECT_EQ(r["stop_reason"], "max_tokens");
  EXPECT_EQ(r["usage"]["output_tokens"], 6);
  const json oa = Post("/v1/chat/completions", UserChat("Hello Claude-style", 6));
  EXPECT_EQ(r["content"][0]["text"], oa["choices"][0]["message"]["content"]);
  EXPECT_EQ(r["usage"]["input_tokens"].get<int64_t>() +
                r["usage"]["cache_read_input_tokens"].get<int64_t>(),
            oa["usage"]["prompt_tokens"]);
}

TEST_F(Messages, SystemAsTextOrBlocks) {
  json body = UserMessage("Hi", 1);
  body["system"] = "You are terse.";
  const json a = Post("/v1/messages", body);
  body["system"] = {{{"type", "text"}, {"text", "You are "}},
                    {{"type", "text"}, {"text", "terse."}}};
  const json b = Post("/v1/messages", body);
  json oa = UserChat("Hi", 1);
  oa["messages"].insert(oa["messages"].begin(),
                        json::object({{"role", "system"}, {"content", "You are terse."}}));
  const int64_t expected = Post("/v1/chat/completions", oa)["usage"]["prompt_tokens"];
  auto prompt = [](const json& r) {
    return r["usage"]["input_tokens"].get<int64_t>() +
           r["usage"]["cache_read_input_tokens"].get<int64_t>();
  };
  EXPECT_EQ(prompt(a), expected) << a;
  EXPECT_EQ(prompt(b), expected) << b;
}

TEST_F(Messages, StreamedTextEventSequence) {
  json body = UserMessage("Stream it", 5);
  const json whole = Post("/v1/messages", body);
  body["stream"] = true;
  const Events ev = ReadEvents(PostStream(server(), "/v1/messages", body));
  ASSERT_GE(ev.names.size(), 5u);
  EXPECT_EQ(ev.names.front(), "message_start");
  EXPECT_EQ(ev.names[ev.names.size() - 2], "message_delta");
  EXPECT_EQ(ev.names.back(), "message_stop");
  EXPECT_EQ(ev.start["role"], "assistant");
  EXPECT_TRUE(ev.start["content"].empty());
  EXPECT_TRUE(ev.start["stop_reason"].is_null());
  ASSERT_EQ(ev.blocks.size(), 1u);
  EXPECT_EQ(ev.blocks.at(0)["type"], "text");
  EXPECT_EQ(ev.blocks.at(0)["text"], whole["content"][0]["text"]);
  EXPECT_EQ(ev.delta["delta"]["stop_reason"], "max_tokens");
  EXPECT_EQ(ev.delta["usage"]["output_tokens"], 5);
}

// Thinking blocks out: whole and streamed (a thinking block, then nothing else within 5 tokens of
// a random model), equal to OpenAI's reasoning_content.
TEST_F(Messages, ThinkingBlocks) {
  json body = UserMessage("Think first", 5);
  body["thinking"] = {{"type", "enabled"}, {"budget_tokens", 1024}};
  const json whole = Post("/v1/messages", body);
  ASSERT_EQ(whole["content"].size(), 1u) << whole;
  EXPECT_EQ(whole["content"][0]["type"], "thinking");
  json oa = UserChat("Think first", 5);
  oa["thinking"] = {{"type", "enabled"}};
  EXPECT_EQ(whole["content"][0]["thinking"],
            Post("/v1/chat/completions", oa)["choices"][0]["message"]["reasoning_content"]);
  body["stream"] = true;
  const Events ev = ReadEvents(PostStream(server(), "/v1/messages", body));
  ASSERT_EQ(ev.blocks.size(), 1u);
  EXPECT_EQ(ev.blocks.at(0)["type"], "thinking");
  EXPECT_EQ(ev.blocks.at(0)["thinking"], whole["content"][0]["thinking"]);
  EXPECT_EQ(ev.blocks.at(0)["signature"], whole["content"][0]["signature"]);
}

// tool_use / tool_result (and a thinking block) in the history encode exactly like OpenAI's
// assistant tool_calls + tool message + reasoning_content, and the model answers the same.
TEST_F(Messages, ToolUseAndResultInputEqualOpenAIRoundTrip) {
  const json schema = {
      {"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}, {"required", {"city"}}};
  json anthropic = {
      {"model", "dsv4"},
      {"max_tokens", 6},
      {"temperature", 0},
      {"thinking", {{"type", "enabled"}}},
      {"tools",
       {{{"name", "get_weather"}, {"description", "Weather by city"}, {"input_schema", schema}}}},
      {"messages",
       {{{"role", "user"}, {"content", "Weather in Paris?"}},
        {{"role", "assistant"},
         {"content",
          {{{"type", "thinking"}, {"thinking", "I should call the tool."}, {"signature", ""}},
           {{"type", "tool_use"},
            {"id", "toolu_1"},
            {"name", "get_weather"},
            {"input", {{"city", "Paris"}}}}}}},
        {{"role", "user"},
         {"content",
          {{{"type", "tool_result"}, {"tool_use_id", "toolu_1"}, {"content", "18 C, sunny"}}}}}}}};
  int status = 0;
  const json a = Post("/v1/messages", anthropic, &status);
  ASSERT_EQ(status, 200) << a;
  json openai = {
      {"model", "dsv4"},
      {"max_tokens", 6},
      {"temperature", 0},
      {"thinking", {{"type", "enabled"}}},
      {"tools",
       {{{"type", "function"},
         {"function",
          {{"name", "get_weather"}, {"description", "Weather by city"}, {"parameters", schema}}}}}},
      {"messages",
       {{{"role", "user"}, {"content", "Weather in Paris?"}},
        {{"role", "assistant"},
         {"content", ""},
         {"reasoning_content", "I should call the tool."},
         {"tool_calls",
          {{{"id", "toolu_1"},
            {"type", "function"},
            {"function", {{"name", "get_weather"}, {"arguments", R"({"city": "Paris"})"}}}}}}},
        {{"role", "tool"}, {"tool_call_id", "toolu_1"}, {"content", "18 C, sunny"}}}}};
  const json o = Post("/v1/chat/completions", openai, &status);
  ASSERT_EQ(status, 200) << o;
  EXPECT_EQ(a["usage"]["input_tokens"].get<int64_t>() +
                a["usage"]["cache_read_input_tokens"].get<int64_t>(),
            o["usage"]["prompt_tokens"]);
  EXPECT_EQ(a["content"][0]["thinking"], o["choices"][0]["message"]["reasoning_content"]);
  // A tool_result in an assistant turn is misplaced: a clear 400 in Anthropic's shape.
  anthropic["messages"][1]["content"].push_back(anthropic["messages"][2]["content"][0]);
  const json bad = Post("/v1/messages", anthropic, &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(bad["type"], "error");
  EXPECT_EQ(bad["error"]["type"], "invalid_request_error");
}

TEST_F(Messages, StopSequence) {
  json body = UserMessage("Say something long", 10);
  const std::string text = Post("/v1/messages", body)["content"][0]["text"];
  ASSERT_GE(text.size(), 4u);
  // The first ASCII non-space character after the first one: some prefix of text stays.
  size_t at = 1;
  while (at < text.size() && !(text[at] > ' ' && text[at] < 127)) ++at;
  ASSERT_LT(at, text.size()) << text;
  const std::string stop(1, text[at]);
  body["stop_sequences"] = {stop};
  const json r = Post("/v1/messages", body);
  EXPECT_EQ(r["stop_reason"], "stop_sequence") << r;
  EXPECT_EQ(r["stop_sequence"], stop);
  EXPECT_EQ(r["content"][0]["text"], text.substr(0, text.find(stop)));
}

// A second turn reuses the first turn's sequence: reported as cache_read_input_tokens, already in
// the stream's message_start.
TEST_F(Messages, CacheReadTokensInWholeAndStream) {
  json body = UserMessage("First turn here", 4);
  const json t1 = Post("/v1/messages", body);
  body["messages"].push_back({{"role", "assistant"}, {"content", t1["content"][0]["text"]}});
  body["messages"].push_back({{"role", "user"}, {"content", "Second turn"}});
  const json t2 = Post("/v1/messages", body);
  EXPECT_GE(t2["usage"]["cache_read_input_tokens"].get<int64_t>(),
            t1["usage"]["input_tokens"].get<int64_t>())
      << t2;
  body["messages"].push_back({{"role", "assistant"}, {"content", t2["content"][0]["text"]}});
  body["messages"].push_back({{"role", "user"}, {"content", "Third turn"}});
  body["stream"] = true;
  const Events ev = ReadEvents(PostStream(server(), "/v1/messages", body));
  EXPECT_GT(ev.start["usage"]["cache_read_input_tokens"].get<int64_t>(),
            t2["usage"]["cache_read_input_tokens"].get<int64_t>())
      << ev.start;
}

}  // namespace
