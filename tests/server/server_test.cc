// The real `dsv4 serve` binary on a made default model, over loopback HTTP (127.0.0.1 only):
// basic chat and completions, batch invariance, cancellation, admission control.
#include <future>

#include "harness.h"

namespace {

using namespace dsv4_test;

class Server : public ServerSuite<Server> {
 public:
  static std::vector<std::string> Flags() {
    return {"--parallel", "3", "--queue", "2", "--ctx", "512"};
  }

 protected:
  static httplib::Client Client() { return server().Client(); }
  static int port() { return server().port(); }
};

json Chat(const std::string& text, int max_tokens, bool stream = false) {
  return {{"model", "dsv4"},
          {"messages", {{{"role", "user"}, {"content", text}}}},
          {"max_tokens", max_tokens},
          {"temperature", 0},
          {"stream", stream}};
}

TEST_F(Server, ChatCompletionNonStreaming) {
  int status = 0;
  const json r = Post("/v1/chat/completions", Chat("Hello there", 6), &status);
  ASSERT_EQ(status, 200) << r.dump();
  EXPECT_EQ(r["object"], "chat.completion");
  EXPECT_EQ(r["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(r["usage"]["completion_tokens"], 6);
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  auto c = Client();
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(json::parse(models->body)["data"][0]["id"], "dsv4");
}

TEST_F(Server, StreamingEqualsNonStreamingAndEndsWithDone) {
  const json full = Post("/v1/chat/completions", Chat("Stream me", 5));
  auto c = Client();
  json body = Chat("Stream me", 5, true);
  body["stream_options"] = {{"include_usage", true}};
  auto r = c.Post("/v1/chat/completions", body.dump(), "application/json");
  ASSERT_TRUE(r);
  std::string text, line;
  std::istringstream in(r->body);
  bool done = false, usage = false;
  while (std::getline(in, line)) {
    if (line.rfind("data: ", 0) != 0) continue;
    if (line == "data: [DONE]") {
      done = true;
      continue;
    }
    const json j = json::parse(line.substr(6));
    if (j.contains("usage")) usage = true;
    for (const auto& ch : j["choices"]) {
      if (ch["delta"].contains("content")) text += ch["delta"]["content"].get<std::string>();
    }
  }
  EXPECT_TRUE(done);
  EXPECT_TRUE(usage);
  EXPECT_EQ(text, full["choices"][0]["message"]["content"].get<std::string>());
}

TEST_F(Server, SeedReproducibleAndBatchInvariant) {
  json b = {{"prompt", "Once upon a time"}, {"max_tokens", 6}, {"temperature", 1.0}, {"seed", 42}};
  const std::string alone = Post("/v1/completions", b)["choices"][0]["text"];
  EXPECT_EQ(Post("/v1/completions", b)["choices"][0]["text"], alone);
  // The same request inside a busy batch (other prompts decoding and prefilling alongside).
  std::vector<std::future<json>> others;
  for (int i = 0; i < 2; ++i) {
    others.push_back(std::async(std::launch::async, [i] {
      return Post("/v1/completions", {{"prompt", std::string(200, 'a' + i)}, {"max_tokens", 12}});
    }));
  }
  auto mine = std::async(std::launch::async, [&] { return Post("/v1/completions", b); });
  EXPECT_EQ(mine.get()["choices"][0]["text"], alone);
  for (auto& f : others) EXPECT_EQ(f.get()["usage"]["completion_tokens"], 12);
  const json ids = Post("/v1/completions", {{"prompt", {1, 2, 3}}, {"max_tokens", 2}});
  EXPECT_EQ(ids["usage"]["prompt_tokens"], 3);
}

TEST_F(Server, CancelledStreamFreesItsSequence) {
  {
    httplib::Client c("127.0.0.1", port());
    c.set_bearer_token_auth(kApiKey);
    int chunks = 0;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/completions";
    req.set_header("Content-Type", "application/json");
    req.body = json{{"prompt", "cancel me"}, {"max_tokens", 400}, {"stream", true}}.dump();
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };
    c.send(req);  // hangs up after 3 chunks
  }
  auto c = Client();
  for (int i = 0; i < 100; ++i) {
    auto m = c.Get("/metrics");
    ASSERT_TRUE(m);
    if (m->body.find("dsv4_active_sequences 0") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto m = c.Get("/metrics");
  EXPECT_NE(m->body.find("dsv4_active_sequences 0"), std::string::npos) << m->body;
  EXPECT_EQ(Post("/v1/completions",
                 {{"prompt", "still alive"}, {"max_tokens", 2}})["usage"]["completion_tokens"],
            2);
}

TEST_F(Server, ErrorsAreOpenAIShaped) {
  int status = 0;
  json r = Post("/v1/chat/completions", {{"model", "other"}, {"messages", json::array()}}, &status);
  EXPECT_EQ(status, 404);
  EXPECT_EQ(r["error"]["type"], "not_found_error");
  r = Post("/v1/completions", {{"prompt", "x"}, {"max_tokens", "ten"}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_TRUE(r["error"]["message"].is_string());
  r = Post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 100000}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(r["error"]["message"].get<std::string>().find("context is 512 tokens"),
            std::string::npos);
  r = Post("/v1/chat/completions", {{"messages", {{{"role", "wizard"}, {"content", "x"}}}}},
           &status);
  EXPECT_EQ(status, 400) << r.dump();
  r = Post("/v1/completions", {{"prompt", {1, 99999999}}}, &status);
  EXPECT_EQ(status, 400);
  auto c = Client();
  auto bad = c.Post("/v1/completions", "{not json", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  auto big = c.Post("/v1/completions", std::string(9 << 20, ' '), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  httplib::Client anon("127.0.0.1", port());
  auto unauth = anon.Post("/v1/completions", R"({"prompt":"x"})", "application/json");
  ASSERT_TRUE(unauth);
  EXPECT_EQ(unauth->status, 401);
  EXPECT_EQ(json::parse(unauth->body)["error"]["type"], "authentication_error");
}

// 3 running + 2 waiting fit; more concurrent requests get 429 with Retry-After, and every request
// that was accepted is answered.
TEST_F(Server, OverloadGets429AndEverythingAcceptedIsAnswered) {
  std::vector<std::future<std::pair<int, std::string>>> fs;
  for (int i = 0; i < 10; ++i) {
    fs.push_back(std::async(std::launch::async, [i] {
      auto c = Client();
      auto r = c.Post("/v1/completions",
                      json{{"prompt", "load " + std::to_string(i)}, {"max_tokens", 24}}.dump(),
                      "application/json");
      return r ? std::make_pair(r->status, r->get_header_value("Retry-After"))
               : std::make_pair(-1, std::string());
    }));
  }
  int ok = 0, busy = 0;
  for (auto& f : fs) {
    const auto [status, retry] = f.get();
    if (status == 200) ++ok;
    if (status == 429) {
      ++busy;
      EXPECT_EQ(retry, "1");
    }
  }
  EXPECT_EQ(ok + busy, 10);
  EXPECT_GE(ok, 5);
  EXPECT_GE(busy, 1);
}

}  // namespace
