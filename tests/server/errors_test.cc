// Every error the API promises, in OpenAI's shape on /v1/chat/completions and Anthropic's on
// /v1/messages: status, type, code/param, Retry-After on 429. After all of them the server still
// answers normally (nothing crashes, nothing shared is disturbed).
#include <cstdio>
#include <future>

#include "harness.h"

namespace {

using namespace dsv4_test;

// One slot, no queue: a single open stream makes the next request a deterministic 429.
class Errors : public ServerSuite<Errors> {
 public:
  static std::vector<std::string> Flags() {
    return {"--parallel", "1", "--queue", "0", "--ctx", "256"};
  }
};

struct Expected {
  int status;
  std::string openai_type;
  json openai_code;  // null or a string
  std::string anthropic_type;
};

// One reply of each API: status and body.
struct Replies {
  int openai_status = 0, anthropic_status = 0;
  json openai, anthropic;
};

Replies PostBoth(const ServerProcess& s, const std::string& openai_body,
                 const std::string& anthropic_body) {
  Replies r;
  r.openai = s.PostRaw("/v1/chat/completions", openai_body, &r.openai_status);
  r.anthropic = s.PostRaw("/v1/messages", anthropic_body, &r.anthropic_status);
  return r;
}

// Both error shapes. `openai_param`: expected "param".
void ExpectErrors(const Replies& r, const Expected& e, const json& openai_param = nullptr) {
  const json& o = r.openai;
  EXPECT_EQ(r.openai_status, e.status) << o;
  ASSERT_TRUE(o.is_object()) << "not JSON";
  ASSERT_TRUE(o.contains("error") && o["error"].is_object()) << o;
  EXPECT_EQ(o["error"]["type"], e.openai_type);
  EXPECT_EQ(o["error"]["code"], e.openai_code);
  EXPECT_FALSE(o["error"]["message"].get<std::string>().empty());
  if (!openai_param.is_null()) {
    EXPECT_EQ(o["error"]["param"], openai_param);
  }
  const json& a = r.anthropic;
  EXPECT_EQ(r.anthropic_status, e.status) << a;
  ASSERT_TRUE(a.is_object()) << "not JSON";
  ASSERT_TRUE(a.contains("error") && a["error"].is_object()) << a;
  EXPECT_EQ(a["type"], "error") << a;
  EXPECT_EQ(a["error"]["type"], e.anthropic_type);
  EXPECT_FALSE(a["error"]["message"].get<std::string>().empty());
}

// Sends `body` to both endpoints and checks both error shapes.
void ExpectBoth(const ServerProcess& s, const std::string& what, const std::string& openai_body,
                const std::string& anthropic_body, const Expected& e,
                const json& openai_param = nullptr) {
  SCOPED_TRACE(what);
  ExpectErrors(PostBoth(s, openai_body, anthropic_body), e, openai_param);
}

// A valid body for each API, with `patch` merged in.
std::string OpenAIBody(const json& patch = json::object()) {
  json b = UserChat("Hi", 2);
  b.update(patch);
  return b.dump();
}
std::string AnthropicBody(const json& patch = json::object()) {
  json b = {
      {"model", "dsv4"}, {"max_tokens", 2}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}};
  b.update(patch);
  return b.dump();
}

std::string RetryAfter(const httplib::Headers& headers) {
  auto it = headers.find("Retry-After");
  return it == headers.end() ? "" : it->second;
}

const Expected kInvalid = {400, "invalid_request_error", nullptr, "invalid_request_error"};

TEST_F(Errors, MalformedBodiesAndWrongTypes) {
  ExpectBoth(server(), "malformed JSON", "{not json", "{\"model\": ", kInvalid);
  ExpectBoth(server(), "not an object", "[1, 2]", "\"text\"", kInvalid);
  ExpectBoth(server(), "temperature as a string", OpenAIBody({{"temperature", "hot"}}),
             AnthropicBody({{"temperature", "hot"}}), kInvalid, "temperature");
  ExpectBoth(server(), "fractional max_tokens", OpenAIBody({{"max_tokens", 1.5}}),
             AnthropicBody({{"max_tokens", 1.5}}), kInvalid, "max_tokens");
  ExpectBoth(server(), "temperature out of range", OpenAIBody({{"temperature", 9}}),
             AnthropicBody({{"temperature", 9}}), kInvalid, "temperature");
  ExpectBoth(server(), "messages as a string", OpenAIBody({{"messages", "hi"}}),
             AnthropicBody({{"messages", "hi"}}), kInvalid, "messages");
  ExpectBoth(server(), "message without role", OpenAIBody({{"messages", {{{"content", "x"}}}}}),
             AnthropicBody({{"messages", {{{"content", "x"}}}}}), kInvalid, "messages");
  ExpectBoth(server(), "stream as a number", OpenAIBody({{"stream", 1}}),
             AnthropicBody({{"stream", 1}}), kInvalid, "stream");
  ExpectBoth(server(), "model as a number", OpenAIBody({{"model", 4}}),
             AnthropicBody({{"model", 4}}), kInvalid, "model");
  // Anthropic: a user turn without content blocks is an error, not silently dropped.
  int status = 0;
  const json empty =
      server().PostRaw("/v1/messages",
                       AnthropicBody({{"messages",
                                       {{{"role", "user"}, {"content", "Hi"}},
                                        {{"role", "assistant"}, {"content", "Yo"}},
                                        {{"role", "user"}, {"content", json::array()}}}}}),
                       &status);
  EXPECT_EQ(status, 400) << empty;
  EXPECT_EQ(empty["error"]["message"], "a user message needs content");
  json no_messages = json::parse(OpenAIBody());
  no_messages.erase("messages");
  json no_max = json::parse(AnthropicBody());
  no_max.erase("max_tokens");  // required by Anthropic's API
  ExpectBoth(server(), "missing required field", no_messages.dump(), no_max.dump(), kInvalid);
}

// A tool schema nested a million levels deep once overflowed a worker's stack in the encoder and
// killed the server; bodies deeper than 128 levels are refused before parsing.
TEST_F(Errors, DeeplyNestedBodyIs400NotACrash) {
  const int levels = 1000000;
  const std::string deep = std::string(levels, '[') + std::string(levels, ']');
  const std::string tools =
      R"([{"type": "function", "function": {"name": "f", "parameters": {"x": )" + deep + "}}}]";
  std::string oa = OpenAIBody();
  oa.insert(oa.size() - 1, ", \"tools\": " + tools);
  std::string an = AnthropicBody();
  an.insert(an.size() - 1, ", \"system\": " + deep);
  ExpectBoth(server(), "nested a million deep", oa, an, kInvalid);
  // 120 levels of a legitimate (if odd) schema pass; brackets inside strings do not count.
  json ok =
      json::parse(OpenAIBody({{"messages", {{{"role", "user"}, {"content", "[[[[\\\" {{"}}}}}));
  json schema = json::array();
  for (int i = 0; i < 115; ++i) schema = json::array({schema});
  ok["tools"] = {
      {{"type", "function"}, {"function", {{"name", "f"}, {"parameters", {{"x", schema}}}}}}};
  // The tools section outgrows this server's 256-token context: the overflow error shows the
  // body was parsed, encoded and tokenized.
  int status = 0;
  const json r = server().Post("/v1/chat/completions", ok, &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(r["error"]["code"], "context_length_exceeded") << r;
}

TEST_F(Errors, UnsupportedButValidIs400) {
  const json image_oa = {
      {{"role", "user"},
       {"content", {{{"type", "image_url"}, {"image_url", {{"url", "http://x/y.png"}}}}}}}};
  const json image_an = {
      {{"role", "user"},
       {"content",
        {{{"type", "image"}, {"source", {{"type", "url"}, {"url", "http://x/y.png"}}}}}}}};
  ExpectBoth(server(), "image content", OpenAIBody({{"messages", image_oa}}),
             AnthropicBody({{"messages", image_an}}),
             {400, "invalid_request_error", "unsupported_parameter", "invalid_request_error"});
  ExpectBoth(server(), "forced tool choice", OpenAIBody({{"tool_choice", "required"}}),
             AnthropicBody({{"tool_choice", {{"type", "any"}}}}),
             {400, "invalid_request_error", "unsupported_parameter", "invalid_request_error"});
  int status = 0;
  const json r = server().Post("/v1/completions", {{"prompt", "x"}, {"echo", true}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_EQ(r["error"]["param"], "echo");
}

TEST_F(Errors, UnknownModelIs404) {
  ExpectBoth(server(), "unknown model", OpenAIBody({{"model", "gpt-4o"}}),
             AnthropicBody({{"model", "claude-x"}}),
             {404, "not_found_error", "model_not_found", "not_found_error"}, "model");
}

TEST_F(Errors, ContextOverflow) {
  const Expected overflow = {400, "invalid_request_error", "context_length_exceeded",
                             "invalid_request_error"};
  ExpectBoth(server(), "max_tokens beyond the context", OpenAIBody({{"max_tokens", 1000}}),
             AnthropicBody({{"max_tokens", 1000}}), overflow);
  std::string long_text;
  for (int i = 0; i < 400; ++i) long_text += " word" + std::to_string(i);
  const json msgs = {{{"role", "user"}, {"content", long_text}}};
  ExpectBoth(server(), "prompt alone beyond the context", OpenAIBody({{"messages", msgs}}),
             AnthropicBody({{"messages", msgs}}), overflow);
}

TEST_F(Errors, OversizedBodyIs413) {
  const std::string big(9 << 20, ' ');  // over the 8 MiB limit
  ExpectBoth(server(), "9 MiB body", big, big,
             {413, "invalid_request_error", "request_too_large", "request_too_large"});
}

TEST_F(Errors, MissingOrWrongKeyIs401) {
  for (const char* path : {"/v1/chat/completions", "/v1/messages", "/v1/completions"}) {
    SCOPED_TRACE(path);
    const bool anthropic = std::string(path) == "/v1/messages";
    httplib::Client anon("127.0.0.1", server().port());
    for (const httplib::Headers& h :
         {httplib::Headers{}, httplib::Headers{{"Authorization", "Bearer wrong"}},
          httplib::Headers{{"x-api-key", "wrong"}}}) {
      auto r = anon.Post(path, h, OpenAIBody(), "application/json");
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 401);
      const json j = json::parse(r->body);
      EXPECT_EQ(j["error"]["type"], "authentication_error");
      if (anthropic) {
        EXPECT_EQ(j["type"], "error");
      } else {
        EXPECT_EQ(j["error"]["code"], "invalid_api_key");
      }
    }
  }
  // Anthropic clients send x-api-key: accepted.
  httplib::Client c("127.0.0.1", server().port());
  auto r = c.Post("/v1/messages", {{"x-api-key", kApiKey}}, AnthropicBody(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(Errors, UnknownEndpointIs404) {
  auto c = server().Client();
  auto r = c.Post("/v1/embeddings", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  const json j = json::parse(r->body);
  EXPECT_EQ(j["error"]["type"], "not_found_error");
  EXPECT_TRUE(j["error"]["code"].is_null()) << j;
}

// Holds the server's only slot with a stream until Release() (or destruction, so a failing
// assertion cannot leave the holder blocked), then hangs up.
class SlotHolder {
 public:
  explicit SlotHolder(const ServerProcess& s) {
    holder_ = std::async(std::launch::async, [this, &s] {
      auto c = s.Client();
      httplib::Request req;
      req.method = "POST";
      req.path = "/v1/completions";
      req.set_header("Content-Type", "application/json");
      req.set_header("Authorization", std::string("Bearer ") + kApiKey);
      req.body = json{{"prompt", "hold the slot"}, {"max_tokens", 200}, {"stream", true}}.dump();
      bool first = true;
      req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) {
        if (first) streaming_.set_value();
        first = false;
        release_.wait();
        return false;  // hang up
      };
      c.send(req);
      if (first) streaming_.set_value();  // never streamed: do not leave the test waiting
    });
    held_ = streaming_.get_future().wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  }
  ~SlotHolder() { Release(); }
  bool held() const { return held_; }
  void Release() {
    if (!released_) release_promise_.set_value();
    released_ = true;
    if (holder_.valid()) holder_.get();
  }

 private:
  std::promise<void> streaming_, release_promise_;
  std::shared_future<void> release_ = release_promise_.get_future().share();
  std::future<void> holder_;
  bool held_ = false, released_ = false;
};

// Frees the slot a SlotHolder held: the cancelled stream frees it at the next engine step.
int WaitUntilServed(const ServerProcess& s) {
  int status = 0;
  for (int i = 0; i < 100 && status != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    s.PostRaw("/v1/chat/completions", OpenAIBody(), &status);
  }
  return status;
}

// While the only slot streams, both APIs answer 429 + Retry-After in their shape; once the stream
// is cancelled the slot is free again.
// CI runs (sessions 3 and 4, under ctest -j2, about one in eight) saw a request served while the
// holder should still have been streaming, both times the third of four (the first two answered
// 429, and the retry below then looked at those two only); local runs do not reproduce it. The
// scenario is therefore tried up to 3 times with a fresh holder whenever any of the four is
// served, each miss printed with the server's /metrics, so a deterministic failure still fails
// and the rare one stays visible (docs/NOTES.md, open items).
TEST_F(Errors, BusyIs429WithRetryAfter) {
  const Expected busy = {429, "rate_limit_error", "rate_limit_exceeded", "rate_limit_error"};
  for (int attempt = 1;; ++attempt) {
    SlotHolder slot(server());
    ASSERT_TRUE(slot.held());
    // Four requests while the slot is held (headers from the first two, bodies from the last
    // two), all sent before anything is checked, so a holder that ended early is seen as such.
    httplib::Headers openai_headers, anthropic_headers;
    int openai_status = 0, anthropic_status = 0;
    server().PostRaw("/v1/chat/completions", OpenAIBody(), &openai_status, &openai_headers);
    server().PostRaw("/v1/messages", AnthropicBody(), &anthropic_status, &anthropic_headers);
    const Replies replies = PostBoth(server(), OpenAIBody(), AnthropicBody());
    const bool held_throughout = openai_status == 429 && anthropic_status == 429 &&
                                 replies.openai_status == 429 && replies.anthropic_status == 429;
    if (!held_throughout && attempt < 3) {
      auto c = server().Client();
      const auto metrics = c.Get("/metrics");
      std::printf("[busy] attempt %d: the held slot served a request (%d, %d, %d, %d); "
                  "/metrics: %s\n",
                  attempt, openai_status, anthropic_status, replies.openai_status,
                  replies.anthropic_status, metrics ? metrics->body.c_str() : "(no reply)");
      slot.Release();
      EXPECT_EQ(WaitUntilServed(server()), 200);
      continue;
    }
    EXPECT_EQ(openai_status, 429);
    EXPECT_EQ(RetryAfter(openai_headers), "1");
    EXPECT_EQ(anthropic_status, 429);
    EXPECT_EQ(RetryAfter(anthropic_headers), "1");
    {
      SCOPED_TRACE("one slot, held");
      ExpectErrors(replies, busy);
    }
    slot.Release();
    EXPECT_EQ(WaitUntilServed(server()), 200);
    return;
  }
}

}  // namespace
