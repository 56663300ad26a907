// /v1/chat/completions and /v1/completions over loopback against the real `dsv4 serve`: reasoning
// split, stop strings, seeds, n choices, logprobs, stream usage, prefix reuse, models/health/
// metrics and the per-request log. The model has random weights, so expectations are relations
// (streamed == whole, seeded == seeded, warm == cold), never fixed texts.
#include <algorithm>
#include <map>
#include <regex>

#include "harness.h"

namespace {

using namespace dsv4_test;

class ChatApi : public ServerSuite<ChatApi> {
 public:
  static std::vector<std::string> Flags() {
    return {"--parallel", "4", "--queue", "4", "--ctx", "512"};
  }
};

// Every chunk's delta fields concatenated, per choice index.
struct Streamed {
  std::map<int, std::string> content, reasoning;
  std::map<int, std::string> finish;
  std::map<int, json> logprobs;  // chat: the concatenated logprobs.content entries
  json usage;                    // the include_usage chunk
  bool done = false;
  int roles = 0;
};

Streamed ReadChatStream(const std::string& body) {
  Streamed s;
  for (const SseEvent& e : ParseSse(body)) {
    if (e.done) {
      s.done = true;
      continue;
    }
    EXPECT_FALSE(e.data.is_discarded()) << e.raw;
    EXPECT_EQ(e.data["object"], "chat.completion.chunk");
    if (e.data.contains("usage") && !e.data["usage"].is_null()) s.usage = e.data["usage"];
    for (const json& c : e.data["choices"]) {
      const int i = c["index"];
      const json& d = c["delta"];
      if (d.contains("role")) ++s.roles;
      if (d.contains("content")) s.content[i] += d["content"].get<std::string>();
      if (d.contains("reasoning_content"))
        s.reasoning[i] += d["reasoning_content"].get<std::string>();
      if (!c["finish_reason"].is_null()) s.finish[i] = c["finish_reason"];
      if (c["logprobs"].is_object()) {
        for (const json& lp : c["logprobs"]["content"]) s.logprobs[i].push_back(lp);
      }
    }
  }
  return s;
}

TEST_F(ChatApi, ChatModeHasNoReasoning) {
  const json r = Post("/v1/chat/completions", UserChat("Hi", 5));
  const json& msg = r["choices"][0]["message"];
  EXPECT_EQ(msg["role"], "assistant");
  EXPECT_FALSE(msg["content"].get<std::string>().empty());
  EXPECT_FALSE(msg.contains("reasoning_content")) << msg;
}

// thinking: {type: enabled} opens <think>: the random model never closes it within 5 tokens, so
// everything is reasoning, and the streamed reasoning deltas add up to the same text.
TEST_F(ChatApi, ThinkingEnabledSplitsReasoningInWholeAndStream) {
  json body = UserChat("Hi", 5);
  body["thinking"] = {{"type", "enabled"}};
  const json r = Post("/v1/chat/completions", body);
  const json& msg = r["choices"][0]["message"];
  ASSERT_TRUE(msg.contains("reasoning_content")) << r;
  EXPECT_FALSE(msg["reasoning_content"].get<std::string>().empty());
  EXPECT_EQ(msg["content"], "");
  body["stream"] = true;
  const Streamed s = ReadChatStream(PostStream(server(), "/v1/chat/completions", body));
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.reasoning.at(0), msg["reasoning_content"]);
  EXPECT_EQ(s.content.count(0) ? s.content.at(0) : "", "");
  EXPECT_EQ(s.finish.at(0), "length");
  body["thinking"] = {{"type", "disabled"}};
  body["stream"] = false;
  EXPECT_FALSE(
      Post("/v1/chat/completions", body)["choices"][0]["message"].contains("reasoning_content"));
}

// reasoning_effort "max" adds V4's max-effort prefix to the prompt, in thinking mode only.
TEST_F(ChatApi, ReasoningEffortMaxAddsItsPrefixInThinkingMode) {
  json body = UserChat("Hi", 1);
  body["thinking"] = {{"type", "enabled"}};
  const int64_t plain = Post("/v1/chat/completions", body)["usage"]["prompt_tokens"];
  body["reasoning_effort"] = "high";
  EXPECT_EQ(Post("/v1/chat/completions", body)["usage"]["prompt_tokens"], plain);
  body["reasoning_effort"] = "max";
  EXPECT_GT(Post("/v1/chat/completions", body)["usage"]["prompt_tokens"].get<int64_t>(), plain);
  body["thinking"] = {{"type", "disabled"}};
  const int64_t chat_max = Post("/v1/chat/completions", body)["usage"]["prompt_tokens"];
  body.erase("reasoning_effort");
  EXPECT_EQ(Post("/v1/chat/completions", body)["usage"]["prompt_tokens"], chat_max);
  int status = 0;
  body["reasoning_effort"] = "extreme";
  const json err = Post("/v1/chat/completions", body, &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(err["error"]["param"], "reasoning_effort");
  body["reasoning_effort"] = "high";
  body["thinking"] = {{"type", "sometimes"}};
  EXPECT_EQ(Post("/v1/chat/completions", body, &status)["error"]["param"], "thinking");
  EXPECT_EQ(status, 400);
}

// A stop string taken from the greedy output itself: the answer ends right before it, finish
// "stop", and the stream never shows it.
TEST_F(ChatApi, StopStringCutsWholeAndStreamedOutput) {
  json body = UserChat("Tell me a story", 10);
  body["logprobs"] = true;
  const json full = Post("/v1/chat/completions", body);
  const std::string text = full["choices"][0]["message"]["content"];
  std::string stop;
  for (size_t i = 2; i < full["choices"][0]["logprobs"]["content"].size() && stop.empty(); ++i) {
    const json& bytes = full["choices"][0]["logprobs"]["content"][i]["bytes"];
    std::string t;
    for (int b : bytes) t += static_cast<char>(b);
    const bool ascii = std::all_of(t.begin(), t.end(), [](char c) { return c > ' ' && c < 127; });
    if (ascii && !t.empty()) stop = t;
  }
  ASSERT_FALSE(stop.empty()) << "no ASCII token in " << text;
  const std::string expected = text.substr(0, text.find(stop));
  body.erase("logprobs");
  body["stop"] = {"never-appears-here", stop};
  const json cut = Post("/v1/chat/completions", body);
  EXPECT_EQ(cut["choices"][0]["message"]["content"], expected) << "stop " << stop;
  EXPECT_EQ(cut["choices"][0]["finish_reason"], "stop");
  body["stream"] = true;
  const Streamed s = ReadChatStream(PostStream(server(), "/v1/chat/completions", body));
  EXPECT_EQ(s.content.at(0), expected);
  EXPECT_EQ(s.finish.at(0), "stop");
  body["stop"] = "";
  int status = 0;
  EXPECT_EQ(Post("/v1/chat/completions", body, &status)["error"]["param"], "stop");
  EXPECT_EQ(status, 400);
}

TEST_F(ChatApi, SeedReproducesSampledChat) {
  json body = UserChat("Pick a word", 8);
  body["temperature"] = 1.0;
  body["seed"] = 1234;
  const json a = Post("/v1/chat/completions", body);
  EXPECT_EQ(Post("/v1/chat/completions", body)["choices"][0]["message"],
            a["choices"][0]["message"]);
  body["seed"] = 1235;
  EXPECT_NE(Post("/v1/chat/completions", body)["choices"][0]["message"],
            a["choices"][0]["message"]);
}

// n choices sample with seeds seed, seed+1, ...: choice i equals a single request with seed+i.
TEST_F(ChatApi, NChoicesWholeAndStreamed) {
  json body = UserChat("Three answers", 6);
  body["temperature"] = 1.0;
  body["seed"] = 77;
  body["n"] = 3;
  const json r = Post("/v1/chat/completions", body);
  ASSERT_EQ(r["choices"].size(), 3u) << r;
  int64_t sum = 0;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r["choices"][i]["index"], i);
    json one = body;
    one["n"] = 1;
    one["seed"] = 77 + i;
    const json single = Post("/v1/chat/completions", one);
    EXPECT_EQ(r["choices"][i]["message"], single["choices"][0]["message"]) << i;
    sum += single["usage"]["completion_tokens"].get<int64_t>();
  }
  EXPECT_EQ(r["usage"]["completion_tokens"], sum);
  body["stream"] = true;
  const Streamed s = ReadChatStream(PostStream(server(), "/v1/chat/completions", body));
  EXPECT_EQ(s.roles, 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(s.content.at(i), r["choices"][i]["message"]["content"]) << i;
    EXPECT_EQ(s.finish.at(i), r["choices"][i]["finish_reason"]) << i;
  }
  int status = 0;
  body["n"] = 5;  // more than --parallel 4
  Post("/v1/chat/completions", body, &status);
  EXPECT_EQ(status, 400);
}

// Greedy: the chosen token is the most likely one, so it heads top_logprobs; the bytes of all
// entries spell the content; streamed entries equal the whole ones.
TEST_F(ChatApi, ChatLogprobs) {
  json body = UserChat("Probabilities", 6);
  body["logprobs"] = true;
  body["top_logprobs"] = 3;
  const json r = Post("/v1/chat/completions", body);
  const json& entries = r["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(entries.size(), 6u) << r;
  std::string bytes;
  for (const json& e : entries) {
    EXPECT_LE(e["logprob"].get<double>(), 0.0);
    ASSERT_EQ(e["top_logprobs"].size(), 3u);
    EXPECT_EQ(e["top_logprobs"][0]["token"], e["token"]);
    EXPECT_EQ(e["top_logprobs"][0]["logprob"], e["logprob"]);
    EXPECT_GE(e["top_logprobs"][0]["logprob"], e["top_logprobs"][1]["logprob"]);
    EXPECT_GE(e["top_logprobs"][1]["logprob"], e["top_logprobs"][2]["logprob"]);
    for (int b : e["bytes"]) bytes += static_cast<char>(b);
  }
  EXPECT_EQ(bytes, r["choices"][0]["message"]["content"]);
  body["stream"] = true;
  const Streamed s = ReadChatStream(PostStream(server(), "/v1/chat/completions", body));
  EXPECT_EQ(s.logprobs.at(0), entries);
  EXPECT_TRUE(Post("/v1/chat/completions", UserChat("Probabilities", 2))["choices"][0]["logprobs"]
                  .is_null());
  body["logprobs"] = false;
  int status = 0;
  EXPECT_EQ(Post("/v1/chat/completions", body, &status)["error"]["param"], "top_logprobs");
  body["logprobs"] = true;
  body["top_logprobs"] = 21;
  Post("/v1/chat/completions", body, &status);
  EXPECT_EQ(status, 400);
}

TEST_F(ChatApi, CompletionLogprobs) {
  const json r = Post(
      "/v1/completions",
      {{"prompt", "Once upon a time"}, {"max_tokens", 5}, {"temperature", 0}, {"logprobs", 2}});
  const json& lp = r["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), 5u) << r;
  ASSERT_EQ(lp["token_logprobs"].size(), 5u);
  ASSERT_EQ(lp["top_logprobs"].size(), 5u);
  std::string text;
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(lp["text_offset"][i], text.size());
    text += lp["tokens"][i].get<std::string>();
    EXPECT_LE(lp["top_logprobs"][i].size(), 2u);
    EXPECT_TRUE(lp["top_logprobs"][i].contains(lp["tokens"][i].get<std::string>()));
  }
  EXPECT_EQ(text, r["choices"][0]["text"]);
  // The prompt as a one-string list is the same prompt.
  const json listed = Post(
      "/v1/completions", {{"prompt", {"Once upon a time"}}, {"max_tokens", 5}, {"temperature", 0}});
  EXPECT_EQ(listed["choices"][0]["text"], r["choices"][0]["text"]);
}

TEST_F(ChatApi, CompletionStreamEqualsWhole) {
  json body = {{"prompt", "Once upon a time"}, {"max_tokens", 6}, {"temperature", 0}};
  const json whole = Post("/v1/completions", body);
  EXPECT_EQ(whole["object"], "text_completion");
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  std::string text, finish;
  json usage;
  bool done = false;
  for (const SseEvent& e : ParseSse(PostStream(server(), "/v1/completions", body))) {
    if (e.done) {
      done = true;
      continue;
    }
    EXPECT_EQ(e.data["object"], "text_completion") << e.raw;
    if (e.data.contains("usage")) usage = e.data["usage"];
    for (const json& c : e.data["choices"]) {
      text += c["text"].get<std::string>();
      if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
    }
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(text, whole["choices"][0]["text"]);
  EXPECT_EQ(finish, "length");
  EXPECT_EQ(usage["completion_tokens"], 6);
}

TEST_F(ChatApi, StreamUsageOnlyWhenAsked) {
  json body = UserChat("usage please", 4);
  body["stream"] = true;
  Streamed s = ReadChatStream(PostStream(server(), "/v1/chat/completions", body));
  EXPECT_TRUE(s.done);
  EXPECT_TRUE(s.usage.is_null()) << s.usage;
  body["stream_options"] = {{"include_usage", true}};
  s = ReadChatStream(PostStream(server(), "/v1/chat/completions", body));
  EXPECT_EQ(s.usage["completion_tokens"], 4);
  EXPECT_EQ(s.usage["total_tokens"], s.usage["prompt_tokens"].get<int>() + 4);
  EXPECT_TRUE(s.usage["prompt_tokens_details"].contains("cached_tokens"));
  body["stream_options"] = {{"include_usage", "yes"}};
  int status = 0;
  Post("/v1/chat/completions", body, &status);
  EXPECT_EQ(status, 400);
}

// response_format reaches the prompt (the official encoding's "## Response Format" section); no
// constrained decoding enforces it (docs/server.md).
TEST_F(ChatApi, ResponseFormatIsPassedToThePromptAndLimitsChecked) {
  json body = UserChat("JSON please", 1);
  const int64_t plain = Post("/v1/chat/completions", body)["usage"]["prompt_tokens"];
  body["response_format"] = {{"type", "json_object"}};
  EXPECT_GT(Post("/v1/chat/completions", body)["usage"]["prompt_tokens"].get<int64_t>(), plain);
  body["response_format"] = {{"type", "text"}};
  EXPECT_EQ(Post("/v1/chat/completions", body)["usage"]["prompt_tokens"], plain);
  int status = 0;
  body["response_format"] = {{"type", "yaml"}};
  EXPECT_EQ(Post("/v1/chat/completions", body, &status)["error"]["param"], "response_format");
  EXPECT_EQ(status, 400);
  body.erase("response_format");
  body.erase("max_tokens");
  body["max_completion_tokens"] = 2;  // the newer name of max_tokens
  EXPECT_EQ(Post("/v1/chat/completions", body)["usage"]["completion_tokens"], 2);
  for (const char* field : {"presence_penalty", "frequency_penalty"}) {
    json bad = body;
    bad[field] = 2.5;  // OpenAI's range is [-2, 2]
    EXPECT_EQ(Post("/v1/chat/completions", bad, &status)["error"]["param"], field);
    EXPECT_EQ(status, 400);
    bad[field] = 1.5;
    Post("/v1/chat/completions", bad, &status);
    EXPECT_EQ(status, 200);
  }
}

TEST_F(ChatApi, ModelsHealthAndMetrics) {
  auto c = server().Client();
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  const json m = json::parse(models->body);
  EXPECT_EQ(m["object"], "list");
  EXPECT_EQ(m["data"][0]["id"], "dsv4");
  EXPECT_EQ(m["data"][0]["context_length"], 512);
  auto anon = server().Client(/*auth=*/false);
  EXPECT_EQ(anon.Get("/v1/models")->status, 401);
  auto health = anon.Get("/health");  // no key needed: load balancers probe it
  ASSERT_TRUE(health);
  EXPECT_EQ(json::parse(health->body)["status"], "ok");
  Post("/v1/chat/completions", UserChat("count me", 3));
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_GE(MetricValue(metrics->body, "dsv4_requests_total"), 1);
  EXPECT_GE(MetricValue(metrics->body, "dsv4_generated_tokens_total"), 3);
  EXPECT_GE(MetricValue(metrics->body, "dsv4_engine_steps_total"), 3);
  EXPECT_GE(MetricValue(metrics->body, "dsv4_prefix_pool_tokens"), 1);
  EXPECT_EQ(MetricValue(metrics->body, "dsv4_queue_depth"), 0);
  EXPECT_NE(metrics->body.find("dsv4_http_responses_total{code=\"200\"}"), std::string::npos);
}

// One log line per request: id, endpoint, tokens in/cached/out, time to first token, tok/s.
TEST_F(ChatApi, LogsOneLinePerRequest) {
  Post("/v1/chat/completions", UserChat("log me", 3));
  const std::string log = server().log();
  const std::regex line(R"(\[dsv4 serve\] req-[0-9a-f]{24} chat tokens in \d+ cached \d+ out 3 )"
                        R"(ttft [0-9.]+ s time [0-9.]+ s [0-9.]+ tok/s)");
  EXPECT_TRUE(std::regex_search(log, line)) << log;
}

// The second turn of a conversation continues the first turn's sequence (cached_tokens > 0), and
// answers exactly what a cold server (no prefix pool) answers.
TEST_F(ChatApi, PrefixReuseMatchesColdServer) {
  const json turn1 = Post("/v1/chat/completions", UserChat("Remember the number 42.", 6));
  const int64_t prompt1 = turn1["usage"]["prompt_tokens"];
  json body = UserChat("Remember the number 42.", 6);
  body["messages"].push_back(
      {{"role", "assistant"}, {"content", turn1["choices"][0]["message"]["content"]}});
  body["messages"].push_back({{"role", "user"}, {"content", "Which number?"}});
  const json warm = Post("/v1/chat/completions", body);
  EXPECT_GE(warm["usage"]["prompt_tokens_details"]["cached_tokens"].get<int64_t>(), prompt1)
      << warm;
  EXPECT_LT(warm["usage"]["prompt_tokens_details"]["cached_tokens"].get<int64_t>(),
            warm["usage"]["prompt_tokens"].get<int64_t>());
  ServerProcess cold({"--parallel", "1", "--ctx", "512", "--pool", "0"});
  ASSERT_TRUE(cold.ok()) << cold.log();
  const json fresh = cold.Post("/v1/chat/completions", body);
  EXPECT_EQ(fresh["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  EXPECT_EQ(fresh["usage"]["prompt_tokens"], warm["usage"]["prompt_tokens"]);
  EXPECT_EQ(fresh["choices"][0]["message"], warm["choices"][0]["message"]);
  // Streaming reports the reuse too.
  body["messages"].push_back(
      {{"role", "assistant"}, {"content", warm["choices"][0]["message"]["content"]}});
  body["messages"].push_back({{"role", "user"}, {"content", "Again?"}});
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  const Streamed s = ReadChatStream(PostStream(server(), "/v1/chat/completions", body));
  EXPECT_GT(s.usage["prompt_tokens_details"]["cached_tokens"].get<int64_t>(),
            warm["usage"]["prompt_tokens"].get<int64_t>());
}

}  // namespace
