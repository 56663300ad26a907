// Tool calls, both directions.
//
// Request side, end to end over HTTP: assistant tool_calls → tool message → answer. The prompt the
// server builds must be the official encoding: the test encodes the same conversation itself
// (EncodeChat + the real tokenizer), sends those ids to /v1/completions, and expects the greedy
// chat answer to be the same text.
//
// Output side: a random-weight model never writes DSML, so the server's output path is driven
// below HTTP with token ids from the real tokenizer: a Session (TextPipe + response writer) is fed
// the engine events a model writing that DSML would produce, and the OpenAI / Anthropic responses,
// whole and streamed, are checked.
#include <chrono>
#include <memory>

#include "chat/encoding.h"
#include "harness.h"
#include "server/anthropic_api.h"
#include "server/openai_api.h"
#include "server/session.h"
#include "tokenizer/tokenizer.h"

namespace {

using namespace dsv4_test;
using dsv4::ApiErrorKind;

class ToolRequests : public ServerSuite<ToolRequests> {
 public:
  static std::vector<std::string> Flags() { return {"--parallel", "2", "--ctx", "1024"}; }
};

const json kWeatherTool = {
    {"type", "function"},
    {"function",
     {{"name", "get_weather"},
      {"description", "Current weather of a city"},
      {"parameters",
       {{"type", "object"},
        {"properties", {{"city", {{"type", "string"}}}, {"days", {{"type", "integer"}}}}},
        {"required", {"city"}}}}}}};

json ToolRoundTrip() {
  return {{"model", "dsv4"},
          {"max_tokens", 6},
          {"temperature", 0},
          {"tools", {kWeatherTool}},
          {"messages",
           {{{"role", "system"}, {"content", "You are a weather bot."}},
            {{"role", "user"}, {"content", "Weather in Paris for 3 days?"}},
            {{"role", "assistant"},
             {"content", nullptr},
             {"tool_calls",
              {{{"id", "call_1"},
                {"type", "function"},
                {"function",
                 {{"name", "get_weather"}, {"arguments", R"({"city": "Paris", "days": 3})"}}}}}}},
            {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "sunny, 18 C"}}}}};
}

TEST_F(ToolRequests, RoundTripPromptIsTheOfficialEncoding) {
  int status = 0;
  const json chat = Post("/v1/chat/completions", ToolRoundTrip(), &status);
  ASSERT_EQ(status, 200) << chat;
  EXPECT_EQ(chat["choices"][0]["finish_reason"], "length");
  // The official request: tools ride on the system message.
  json messages = ToolRoundTrip()["messages"];
  messages[0]["tools"] = {kWeatherTool};
  messages[2]["content"] = "";
  const nlohmann::ordered_json request = {
      {"messages", messages},  {"thinking_mode", "chat"},       {"context", nullptr},
      {"drop_thinking", true}, {"add_default_bos_token", true}, {"reasoning_effort", nullptr}};
  auto prompt = dsv4::EncodeChat(request);
  ASSERT_TRUE(prompt.ok()) << prompt.status().ToString();
  EXPECT_NE(prompt->find("<｜DSML｜invoke name=\"get_weather\">"), std::string::npos);
  EXPECT_NE(prompt->find("sunny, 18 C"), std::string::npos);
  auto tok = dsv4::Tokenizer::Load(TokenizerDir());
  ASSERT_TRUE(tok.ok());
  auto ids = (*tok)->Encode(*prompt);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(chat["usage"]["prompt_tokens"], ids->size());
  const json raw =
      Post("/v1/completions", {{"prompt", *ids}, {"max_tokens", 6}, {"temperature", 0}});
  EXPECT_EQ(raw["choices"][0]["text"], chat["choices"][0]["message"]["content"]);
  // Streamed, the same answer.
  json body = ToolRoundTrip();
  body["stream"] = true;
  std::string streamed;
  for (const SseEvent& e : ParseSse(PostStream(server(), "/v1/chat/completions", body))) {
    if (e.done) continue;
    const json& d = e.data["choices"][0]["delta"];
    if (d.contains("content")) streamed += d["content"].get<std::string>();
  }
  EXPECT_EQ(streamed, chat["choices"][0]["message"]["content"]);
}

TEST_F(ToolRequests, ToolChoice) {
  json body = ToolRoundTrip();
  const int64_t with_tools = Post("/v1/chat/completions", body)["usage"]["prompt_tokens"];
  body["tool_choice"] = "auto";
  EXPECT_EQ(Post("/v1/chat/completions", body)["usage"]["prompt_tokens"], with_tools);
  body["messages"] = {{{"role", "user"}, {"content", "Weather in Paris?"}}};
  const int64_t plain_tools = Post("/v1/chat/completions", body)["usage"]["prompt_tokens"];
  body["tool_choice"] = "none";  // the model does not see the tools
  EXPECT_LT(Post("/v1/chat/completions", body)["usage"]["prompt_tokens"].get<int64_t>(),
            plain_tools);
  int status = 0;
  for (const json& choice :
       {json("required"), json{{"type", "function"}, {"function", {{"name", "get_weather"}}}}}) {
    body["tool_choice"] = choice;
    const json r = Post("/v1/chat/completions", body, &status);
    EXPECT_EQ(status, 400) << choice;
    EXPECT_EQ(r["error"]["code"], "unsupported_parameter");
  }
  body["tool_choice"] = "auto";
  body["messages"] = ToolRoundTrip()["messages"];
  body["messages"][3].erase("tool_call_id");
  EXPECT_EQ(Post("/v1/chat/completions", body, &status)["error"]["type"], "invalid_request_error");
  EXPECT_EQ(status, 400);
  body["messages"] = ToolRoundTrip()["messages"];
  body["messages"][2]["tool_calls"][0]["function"]["arguments"] = "[1, 2]";  // not an object
  Post("/v1/chat/completions", body, &status);
  EXPECT_EQ(status, 400);
}

// ---- output side, below HTTP ----

const std::string kEos = "<｜end▁of▁sentence｜>";
const std::string kCall =
    "\n\n<｜DSML｜tool_calls>\n"
    "<｜DSML｜invoke name=\"get_weather\">\n"
    "<｜DSML｜parameter name=\"city\" string=\"true\">Paris</｜DSML｜parameter>\n"
    "<｜DSML｜parameter name=\"days\" string=\"false\">3</｜DSML｜parameter>\n"
    "</｜DSML｜invoke>\n"
    "<｜DSML｜invoke name=\"get_time\">\n"
    "<｜DSML｜parameter name=\"zone\" string=\"true\">CET</｜DSML｜parameter>\n"
    "</｜DSML｜invoke>\n"
    "</｜DSML｜tool_calls>";

class ToolOutput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto t = dsv4::Tokenizer::Load(TokenizerDir());
    if (t.ok()) tok_ = std::move(t).value().release();
  }
  static void TearDownTestSuite() { delete tok_; }
  void SetUp() override { ASSERT_NE(tok_, nullptr); }

  struct Run {
    std::string sse;  // streamed: everything sent; else empty
    json whole;       // not streamed: the response body
    std::optional<dsv4::ApiError> error;
  };

  // What the server sends when the model writes `text` (tokenized with the real tokenizer) and
  // then the engine reports `finish`.
  static Run Drive(const std::string& text, bool anthropic, bool stream, bool thinking = false,
                   dsv4::FinishKind finish = dsv4::FinishKind::kStopToken) {
    dsv4::ApiRequest req;
    req.chat = true;
    req.stream = stream;
    req.mode = thinking ? dsv4::ThinkingMode::kThinking : dsv4::ThinkingMode::kChat;
    std::unique_ptr<dsv4::ResponseWriter> writer;
    if (anthropic) {
      writer = std::make_unique<dsv4::AnthropicWriter>("msg_test", "dsv4");
    } else {
      writer =
          std::make_unique<dsv4::OpenAIWriter>(*tok_, "chatcmpl-test", "dsv4", true, false, false);
    }
    auto handle = std::make_shared<dsv4::RequestHandle>(1);
    dsv4::Session session(*tok_, req, std::move(writer), handle, /*prompt_tokens=*/10, "req-test");
    auto ids = tok_->Encode(text);
    EXPECT_TRUE(ids.ok()) << ids.status().ToString();
    if (!ids.ok()) return {};
    for (int32_t id : *ids) handle->Push({.choice = 0, .token = id});
    handle->Push({.choice = 0, .finish = finish});
    Run run;
    while (!session.finished()) session.Pump(std::chrono::milliseconds(10), &run.sse);
    if (session.error()) {
      run.error = session.error();
      if (stream) run.sse += session.StreamError(*run.error);
    } else if (stream) {
      run.sse += session.End();
    } else {
      run.whole = session.Whole();
    }
    return run;
  }

  static dsv4::Tokenizer* tok_;
};
dsv4::Tokenizer* ToolOutput::tok_ = nullptr;

const json kArgs0 = {{"city", "Paris"}, {"days", 3}};
const json kArgs1 = {{"zone", "CET"}};

TEST_F(ToolOutput, DsmlTokensAreSplitOnTheRealTokenizer) {
  auto ids = tok_->Encode("Let me check." + kCall + kEos);
  ASSERT_TRUE(ids.ok());
  EXPECT_GT(ids->size(), 30u);  // many small pieces: the parser sees the markup arrive in bits
  EXPECT_EQ(ids->back(), tok_->eos_id());
}

TEST_F(ToolOutput, OpenAIWholeHasToolCallsAndNoMarkup) {
  const Run r = Drive("Let me check." + kCall + kEos, false, false);
  ASSERT_FALSE(r.error) << r.error->message;
  const json& msg = r.whole["choices"][0]["message"];
  EXPECT_EQ(msg["content"], "Let me check.");
  ASSERT_EQ(msg["tool_calls"].size(), 2u) << msg;
  EXPECT_EQ(msg["tool_calls"][0]["type"], "function");
  EXPECT_EQ(msg["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(msg["tool_calls"][0]["function"]["arguments"].get<std::string>()), kArgs0);
  EXPECT_EQ(msg["tool_calls"][1]["function"]["name"], "get_time");
  EXPECT_EQ(json::parse(msg["tool_calls"][1]["function"]["arguments"].get<std::string>()), kArgs1);
  EXPECT_NE(msg["tool_calls"][0]["id"], msg["tool_calls"][1]["id"]);
  EXPECT_EQ(msg["tool_calls"][0]["id"].get<std::string>().rfind("call_", 0), 0u);
  EXPECT_EQ(r.whole["choices"][0]["finish_reason"], "tool_calls");
  // Only calls: content is null, as OpenAI sends it.
  EXPECT_TRUE(Drive(kCall.substr(2) + kEos, false, false)
                  .whole["choices"][0]["message"]["content"]
                  .is_null());
}

// Streamed: the first delta of a call carries index, id, type and name; later ones only argument
// fragments; the fragments concatenate to the arguments JSON. No content delta holds markup.
TEST_F(ToolOutput, OpenAIStreamHasIncrementalToolCallDeltas) {
  const Run r = Drive("Let me check." + kCall + kEos, false, true);
  ASSERT_FALSE(r.error) << r.error->message;
  std::string content, finish;
  std::map<int, std::string> names, ids, args;
  std::map<int, int> fragments;
  bool done = false;
  for (const SseEvent& e : ParseSse(r.sse)) {
    if (e.done) {
      done = true;
      continue;
    }
    const json& c = e.data["choices"][0];
    if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
    const json& d = c["delta"];
    if (d.contains("content")) content += d["content"].get<std::string>();
    if (!d.contains("tool_calls")) continue;
    ASSERT_EQ(d["tool_calls"].size(), 1u);
    const json& call = d["tool_calls"][0];
    const int i = call["index"];
    if (call.contains("id")) {
      EXPECT_FALSE(ids.count(i)) << "id sent twice for call " << i;
      ids[i] = call["id"];
      EXPECT_EQ(call["type"], "function");
      names[i] = call["function"]["name"];
    } else {
      ASSERT_TRUE(ids.count(i)) << "arguments before the call's first delta";
      EXPECT_FALSE(call["function"].contains("name"));
    }
    args[i] += call["function"]["arguments"].get<std::string>();
    ++fragments[i];
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(content, "Let me check.");
  EXPECT_EQ(content.find("DSML"), std::string::npos);
  EXPECT_EQ(finish, "tool_calls");
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0], "get_weather");
  EXPECT_EQ(names[1], "get_time");
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_EQ(json::parse(args[0]), kArgs0) << args[0];
  EXPECT_EQ(json::parse(args[1]), kArgs1) << args[1];
  EXPECT_GE(fragments[0], 3);  // arrived in pieces, not in one final chunk
}

TEST_F(ToolOutput, AnthropicWholeAndStreamHaveToolUse) {
  const Run whole = Drive("Let me check." + kCall + kEos, true, false);
  ASSERT_FALSE(whole.error);
  const json& content = whole.whole["content"];
  ASSERT_EQ(content.size(), 3u) << whole.whole;
  EXPECT_EQ(content[0], json({{"type", "text"}, {"text", "Let me check."}}));
  EXPECT_EQ(content[1]["type"], "tool_use");
  EXPECT_EQ(content[1]["name"], "get_weather");
  EXPECT_EQ(content[1]["input"], kArgs0);
  EXPECT_EQ(content[1]["id"].get<std::string>().rfind("toolu_", 0), 0u);
  EXPECT_EQ(content[2]["input"], kArgs1);
  EXPECT_EQ(whole.whole["stop_reason"], "tool_use");

  const Run streamed = Drive("Let me check." + kCall + kEos, true, true);
  ASSERT_FALSE(streamed.error);
  std::vector<json> blocks;
  std::string stop_reason;
  for (const SseEvent& e : ParseSse(streamed.sse)) {
    if (e.event == "content_block_start") blocks.push_back(e.data["content_block"]);
    if (e.event == "content_block_delta") {
      const json& d = e.data["delta"];
      json& b = blocks.at(e.data["index"].get<size_t>());
      if (d["type"] == "text_delta")
        b["text"] = b["text"].get<std::string>() + d["text"].get<std::string>();
      if (d["type"] == "input_json_delta") {
        b["partial"] = b.value("partial", std::string()) + d["partial_json"].get<std::string>();
      }
    }
    if (e.event == "message_delta") stop_reason = e.data["delta"]["stop_reason"];
  }
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(blocks[0]["text"], "Let me check.");
  EXPECT_EQ(blocks[1]["type"], "tool_use");
  EXPECT_EQ(blocks[1]["name"], "get_weather");
  EXPECT_EQ(json::parse(blocks[1]["partial"].get<std::string>()), kArgs0);
  EXPECT_EQ(json::parse(blocks[2]["partial"].get<std::string>()), kArgs1);
  EXPECT_EQ(stop_reason, "tool_use");
}

TEST_F(ToolOutput, ThinkingThenToolCall) {
  const Run r =
      Drive("I need the weather.</think>" + kCall + kEos, false, false, /*thinking=*/true);
  ASSERT_FALSE(r.error);
  const json& msg = r.whole["choices"][0]["message"];
  EXPECT_EQ(msg["reasoning_content"], "I need the weather.");
  EXPECT_EQ(msg["tool_calls"].size(), 2u);
  EXPECT_TRUE(msg["content"].is_null());
}

// Broken markup is an error of kind model-output (HTTP 500 invalid_model_output), reported in the
// stream; no raw markup ever reaches content.
TEST_F(ToolOutput, MalformedCallIsReportedNeverLeaked) {
  const std::string broken =
      "Let me check.\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke nam=\"get_weather\">\n"
      "</｜DSML｜invoke>\n</｜DSML｜tool_calls>" +
      kEos;
  for (bool anthropic : {false, true}) {
    SCOPED_TRACE(anthropic ? "anthropic" : "openai");
    const Run r = Drive(broken, anthropic, true);
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->kind, ApiErrorKind::kModelOutput);
    EXPECT_EQ(dsv4::HttpStatus(r.error->kind), 500);
    EXPECT_EQ(r.sse.find("DSML"), std::string::npos) << r.sse;
    const std::vector<SseEvent> events = ParseSse(r.sse);
    ASSERT_FALSE(events.empty());
    const SseEvent& err = anthropic ? events.back() : events[events.size() - 2];
    EXPECT_EQ(err.data["error"]["type"], anthropic ? "api_error" : "server_error") << err.raw;
    if (anthropic) {
      EXPECT_EQ(err.event, "error");
      EXPECT_EQ(err.data["type"], "error");
    } else {
      EXPECT_EQ(err.data["error"]["code"], "invalid_model_output");
      EXPECT_TRUE(events.back().done);
    }
  }
  // A special token the official parser rejects inside content (here <think> in chat mode).
  const Run r = Drive("Hello <think> there" + kEos, false, false);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->kind, ApiErrorKind::kModelOutput);
}

// Cut short by max_tokens inside a call: what is certain is sent, nothing of the markup.
TEST_F(ToolOutput, CallCutByLengthLeaksNoMarkup) {
  const std::string text = "Let me check." + kCall.substr(0, kCall.find("Paris") + 3);
  const Run r = Drive(text, false, false, false, dsv4::FinishKind::kLength);
  ASSERT_FALSE(r.error) << r.error->message;
  const json& msg = r.whole["choices"][0]["message"];
  EXPECT_EQ(r.whole["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(msg["content"], "Let me check.") << msg;
  // The call started and is reported as far as it is certain (arguments "{"), like OpenAI's
  // truncated calls; finish_reason "length" says it is incomplete.
  EXPECT_EQ(msg["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(msg["tool_calls"][0]["function"]["arguments"], "{");
  EXPECT_EQ(msg.dump().find("DSML"), std::string::npos) << msg;
}

}  // namespace
