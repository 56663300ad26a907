// Load, bounded and loopback only: 32 concurrent streaming chat clients against one server, three
// rounds.
// Per round: 20 stream to the end, 8 hang up mid-stream, 4 send a burst of malformed requests.
// Asserts: every valid stream is answered with exactly the text a lone request gets (greedy; the
// batch does not change results), every malformed request gets its 400, the cancelled sequences
// are freed, the server survives, and its RSS settles: round 3 adds less than a
// round's worth of sequences (round 1 is where the allocator and thread stacks grow). Prints the
// aggregate tokens/s against a single stream (numbers in docs/server.md).
#include <algorithm>
#include <cstdio>
#include <future>

#include "harness.h"

namespace {

using namespace dsv4_test;
using Clock = std::chrono::steady_clock;

constexpr int kClients = 32;
constexpr int kMaxTokens = 24;
constexpr int kCancelAfterChunks = 3;
// Allowed RSS growth over round 3: allocator noise. Round 1 grows by ~60 MiB for 28 live sequences
// (~2 MiB each), so a round that leaked its sequences would exceed this.
constexpr long kRoundGrowthKiB = 32 << 10;

class Load : public ServerSuite<Load> {
 public:
  static std::vector<std::string> Flags() {
    return {"--parallel", "32", "--queue", "8", "--ctx", "256", "--pool", "4"};
  }
};

enum class Role { kComplete, kCancel, kMalformed };

Role RoleOf(int client) {
  if (client % 8 == 3 || client % 8 == 7) return Role::kCancel;
  if (client % 8 == 5) return Role::kMalformed;
  return Role::kComplete;
}

// Prompts of different lengths, so prefill chunks interleave with other clients' decode steps.
std::string Prompt(int i) {
  std::string p = "Client prompt " + std::to_string(i % 4) + ":";
  for (int k = 0; k < (i % 4) * 40; ++k) p += " filler";
  return p;
}

struct Outcome {
  int status = -1;
  bool done = false;  // saw [DONE]
  std::string text;
  int64_t completion_tokens = 0;
  int chunks = 0;
  std::string error;  // the client's transport error, if any
};

// One streaming chat request; hangs up after `cancel_after` content chunks when >= 0.
Outcome StreamChat(int port, const std::string& prompt, int cancel_after) {
  httplib::Client c("127.0.0.1", port);
  c.set_bearer_token_auth(kApiKey);
  c.set_read_timeout(120, 0);
  json body = UserChat(prompt, kMaxTokens);
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  Outcome out;
  std::string raw;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.set_header("Content-Type", "application/json");
  req.body = body.dump();
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    raw.append(data, n);
    return cancel_after < 0 || ++out.chunks < cancel_after;
  };
  const auto t0 = Clock::now();
  auto r = c.send(req);
  if (r) out.status = r->status;
  if (!r) {
    out.error = httplib::to_string(r.error()) + " after " +
                std::to_string(std::chrono::duration<double>(Clock::now() - t0).count()) + " s, " +
                std::to_string(raw.size()) + " bytes";
  }
  for (const SseEvent& e : ParseSse(raw)) {
    if (e.done) out.done = true;
    if (e.done || !e.data.is_object()) continue;
    if (e.data.contains("usage") && e.data["usage"].is_object()) {
      out.completion_tokens = e.data["usage"]["completion_tokens"];
    }
    for (const json& ch : e.data["choices"]) {
      if (ch["delta"].contains("content")) out.text += ch["delta"]["content"].get<std::string>();
    }
  }
  return out;
}

// A burst of malformed requests; the number answered with a proper 400 error body.
int Malformed(const ServerProcess& s) {
  const std::string bodies[] = {
      "{broken", "[]", R"({"messages": 5})",
      R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": "many"})",
      R"({"messages": [{"role": "robot", "content": "x"}]})"};
  int ok = 0;
  for (const std::string& b : bodies) {
    int status = 0;
    const json r = s.PostRaw("/v1/chat/completions", b, &status);
    if (status == 400 && r.is_object() && r["error"]["type"] == "invalid_request_error") ++ok;
  }
  return ok;
}

struct RoundStats {
  double seconds = 0;
  int64_t tokens = 0;  // generated for complete streams
};

RoundStats Round(ServerProcess& s, const std::vector<std::string>& expected) {
  std::vector<std::future<Outcome>> streams(kClients);
  std::vector<std::future<int>> malformed(kClients);
  const auto start = Clock::now();
  for (int i = 0; i < kClients; ++i) {
    if (RoleOf(i) == Role::kMalformed) {
      malformed[i] = std::async(std::launch::async, [&s] { return Malformed(s); });
    } else {
      const int cancel = RoleOf(i) == Role::kCancel ? kCancelAfterChunks : -1;
      streams[i] = std::async(std::launch::async,
                              [&s, i, cancel] { return StreamChat(s.port(), Prompt(i), cancel); });
    }
  }
  RoundStats stats;
  for (int i = 0; i < kClients; ++i) {
    SCOPED_TRACE("client " + std::to_string(i));
    if (RoleOf(i) == Role::kMalformed) {
      EXPECT_EQ(malformed[i].get(), 5);
      continue;
    }
    const Outcome o = streams[i].get();
    if (RoleOf(i) == Role::kCancel) {  // the client aborts the read, so it has no status
      EXPECT_EQ(o.chunks, kCancelAfterChunks);
      EXPECT_FALSE(o.done);
      continue;
    }
    EXPECT_EQ(o.status, 200) << o.error;
    EXPECT_TRUE(o.done);
    EXPECT_EQ(o.completion_tokens, kMaxTokens);
    EXPECT_EQ(o.text, expected[i % 4]);
    stats.tokens += o.completion_tokens;
  }
  stats.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  // Cancelled sequences are dropped at the next engine step; nothing stays active.
  auto c = s.Client();
  double active = -1;
  for (int i = 0; i < 100 && active != 0; ++i) {
    if (auto m = c.Get("/metrics")) active = MetricValue(m->body, "dsv4_active_sequences");
    if (active != 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(active, 0);
  return stats;
}

TEST_F(Load, ThirtyTwoStreamingClientsThreeRounds) {
  // Lone requests: the expected texts, and the single-stream rate.
  std::vector<std::string> expected;
  double single_seconds = 0;
  for (int p = 0; p < 4; ++p) {
    const auto t0 = Clock::now();
    const Outcome o = StreamChat(server().port(), Prompt(p), -1);
    single_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    ASSERT_EQ(o.completion_tokens, kMaxTokens);
    expected.push_back(o.text);
  }
  const double single_rate = 4 * kMaxTokens / single_seconds;
  const long rss0 = RssKiB(server().pid());
  const RoundStats r1 = Round(server(), expected);
  const long rss1 = RssKiB(server().pid());
  const RoundStats r2 = Round(server(), expected);
  const long rss2 = RssKiB(server().pid());
  const RoundStats r3 = Round(server(), expected);
  const long rss3 = RssKiB(server().pid());
  ASSERT_TRUE(server().alive());
  auto metrics = server().Client().Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_GE(MetricValue(metrics->body, "dsv4_sequences_cancelled_total"), 3 * 8);
  std::printf(
      "[load] single stream: %.1f tok/s | 32 clients (20 complete, 8 cancel, 4 malformed x5): "
      "rounds %.1f / %.1f / %.1f tok/s (%lld tokens in %.2f / %.2f / %.2f s) = %.2fx single | "
      "RSS %ld -> %ld -> %ld -> %ld MiB\n",
      single_rate, r1.tokens / r1.seconds, r2.tokens / r2.seconds, r3.tokens / r3.seconds,
      static_cast<long long>(r1.tokens), r1.seconds, r2.seconds, r3.seconds,
      r3.tokens / r3.seconds / single_rate, rss0 >> 10, rss1 >> 10, rss2 >> 10, rss3 >> 10);
  EXPECT_GT(rss1, 0);
  EXPECT_LT(rss3 - rss2, kRoundGrowthKiB) << "RSS still grows in round 3";
}

}  // namespace
