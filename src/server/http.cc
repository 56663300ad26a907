#include "server/http.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>

#include "chat/encoding.h"
#include "server/anthropic_api.h"
#include "server/api_error.h"
#include "server/metrics.h"
#include "server/openai_api.h"
#include "server/session.h"

namespace dsv4 {
namespace {

enum class Endpoint { kChat, kCompletion, kMessages };

// How often a waiting stream writes an SSE comment: a client that hung up is noticed by the failed
// write and its sequence freed, even while its prompt is still queued or prefilling.
constexpr std::chrono::milliseconds kKeepAlive(250);
constexpr int kExtraHttpThreads = 16;  // beyond parallel + queue: answers 429s and /metrics
// Debian's cpp-httplib is a compiled library with a listen backlog of 5. While the engine keeps
// every core busy the accept thread falls behind, a burst of clients overflows that queue and the
// kernel drops their handshakes (the 32-client load test saw requests fail after ~1.2 s with
// ListenOverflows counted). listen() again on the bound socket raises the backlog (Linux applies
// the new value).
constexpr int kListenBacklog = 1024;

const char* EndpointName(Endpoint e) {
  switch (e) {
    case Endpoint::kChat:
      return "chat";
    case Endpoint::kCompletion:
      return "completion";
    case Endpoint::kMessages:
      return "messages";
  }
  return "?";
}

class Handler {
 public:
  Handler(const Tokenizer& tok, const ServerOptions& opt, Engine& engine)
      : tok_(tok), opt_(opt), engine_(engine) {}

  // The one place an ApiError becomes an HTTP response.
  void SendError(httplib::Response& res, const ApiError& e, ApiDialect dialect) {
    res.status = HttpStatus(e.kind);
    if (e.kind == ApiErrorKind::kRateLimit) {
      res.set_header("Retry-After", std::to_string(kRetryAfterSeconds));
    }
    res.set_content(ErrorBody(e, dialect), "application/json");
    counters_.Response(res.status);
  }

  bool Authorized(const httplib::Request& req, httplib::Response& res, ApiDialect dialect) {
    if (opt_.api_key.empty()) return true;
    if (req.get_header_value("Authorization") == "Bearer " + opt_.api_key) return true;
    if (req.get_header_value("x-api-key") == opt_.api_key) return true;
    SendError(res, {ApiErrorKind::kAuthentication, "invalid or missing API key"}, dialect);
    return false;
  }

  void Generate(const httplib::Request& http, httplib::Response& res, Endpoint ep);
  void Models(const httplib::Request& req, httplib::Response& res);
  void Metrics(httplib::Response& res) {
    res.set_content(RenderMetrics(engine_.metrics(), counters_), "text/plain; version=0.0.4");
  }
  HttpCounters& counters() { return counters_; }

 private:
  std::optional<ApiError> Parse(const std::string& text, Endpoint ep, ApiRequest* out);
  std::optional<ApiError> Tokenize(const ApiRequest& req, std::vector<int32_t>* ids);
  std::optional<ApiError> Choices(const ApiRequest& req, std::vector<int32_t> prompt,
                                  std::vector<GenRequest>* out);
  void Stream(httplib::Response& res, std::shared_ptr<Session> session, Endpoint ep);
  void Respond(httplib::Response& res, Session& session, ApiDialect dialect, Endpoint ep);

  const Tokenizer& tok_;
  const ServerOptions& opt_;
  Engine& engine_;
  HttpCounters counters_;
};

std::optional<ApiError> Handler::Parse(const std::string& text, Endpoint ep, ApiRequest* out) {
  if (JsonNestingDepth(text) > kMaxJsonDepth) {
    return ApiError{ApiErrorKind::kInvalidRequest, "the JSON body is nested deeper than " +
                                                       std::to_string(kMaxJsonDepth) + " levels"};
  }
  Json body = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return ApiError{ApiErrorKind::kInvalidRequest, "malformed JSON body"};
  if (!body.is_object()) {
    return ApiError{ApiErrorKind::kInvalidRequest, "the request body must be a JSON object"};
  }
  if (body.contains("model") && !body["model"].is_null()) {
    if (!body["model"].is_string()) {
      return ApiError{ApiErrorKind::kInvalidRequest, "'model' must be a string", "model"};
    }
    if (body["model"] != opt_.model_name) {
      return ApiError{ApiErrorKind::kNotFound,
                      "the model " + Dump(body["model"]) +
                          " does not exist; this server serves \"" + opt_.model_name + "\"",
                      "model"};
    }
  }
  switch (ep) {
    case Endpoint::kChat:
      return ParseOpenAIChat(body, out);
    case Endpoint::kCompletion:
      return ParseOpenAICompletion(body, out);
    case Endpoint::kMessages:
      return ParseAnthropicMessages(body, out);
  }
  return std::nullopt;
}

std::optional<ApiError> Handler::Tokenize(const ApiRequest& req, std::vector<int32_t>* ids) {
  std::string text = req.prompt_text;
  if (req.chat) {
    auto prompt = EncodeChat(req.encode);
    if (!prompt.ok()) {
      return ApiError{ApiErrorKind::kInvalidRequest,
                      "the messages cannot be encoded: " + prompt.status().message(), "messages"};
    }
    text = std::move(prompt).value();
  } else if (!req.prompt_ids.empty()) {
    *ids = req.prompt_ids;
    return std::nullopt;
  }
  auto encoded = tok_.Encode(text);
  if (!encoded.ok()) return ApiErrorFromStatus(encoded.status());
  *ids = std::move(encoded).value();
  if (ids->empty()) return ApiError{ApiErrorKind::kInvalidRequest, "the prompt is empty", "prompt"};
  return std::nullopt;
}

// One engine request per choice: the same prompt, seeds seed, seed + 1, ...
std::optional<ApiError> Handler::Choices(const ApiRequest& req, std::vector<int32_t> prompt,
                                         std::vector<GenRequest>* out) {
  const int64_t ctx = engine_.context();
  const int64_t room = ctx - static_cast<int64_t>(prompt.size());
  if (room < 1 || (req.max_tokens && *req.max_tokens > room)) {
    return ApiError{ApiErrorKind::kContextOverflow,
                    "this model's context is " + std::to_string(ctx) + " tokens; the prompt has " +
                        std::to_string(prompt.size()) + " and " +
                        std::to_string(req.max_tokens.value_or(1)) + " more were requested",
                    "messages"};
  }
  GenRequest g;
  g.prompt = std::move(prompt);
  g.sampling = req.sampling;
  if (!req.seeded) g.sampling.seed = std::random_device{}() * uint64_t{0x100000001} ^ 0x5eed;
  g.max_tokens =
      static_cast<int>(req.max_tokens.value_or(std::min<int64_t>(room, kDefaultMaxTokens)));
  g.stop_ids = {tok_.eos_id()};
  for (int i = 0; i < req.n; ++i) {
    out->push_back(g);
    out->back().sampling.seed = g.sampling.seed + static_cast<uint64_t>(i);
  }
  return std::nullopt;
}

void Handler::Generate(const httplib::Request& http, httplib::Response& res, Endpoint ep) {
  const ApiDialect dialect =
      ep == Endpoint::kMessages ? ApiDialect::kAnthropic : ApiDialect::kOpenAI;
  if (!Authorized(http, res, dialect)) return;
  ApiRequest req;
  std::vector<int32_t> prompt;
  std::vector<GenRequest> choices;
  std::optional<ApiError> err = Parse(http.body, ep, &req);
  if (!err && ep == Endpoint::kMessages && req.n != 1) {
    err = ApiError{ApiErrorKind::kInvalidRequest, "/v1/messages has no 'n'", "n"};
  }
  if (!err) err = Tokenize(req, &prompt);
  const int64_t prompt_tokens = static_cast<int64_t>(prompt.size());
  if (!err) err = Choices(req, std::move(prompt), &choices);
  std::shared_ptr<RequestHandle> handle;
  if (!err) {
    auto submitted = engine_.Submit(std::move(choices));
    if (submitted.ok())
      handle = *submitted;
    else
      err = ApiErrorFromStatus(submitted.status());
  }
  if (err) return SendError(res, *err, dialect);
  std::unique_ptr<ResponseWriter> writer;
  if (ep == Endpoint::kMessages) {
    writer = std::make_unique<AnthropicWriter>(ShortId("msg_"), opt_.model_name);
  } else {
    auto w =
        std::make_unique<OpenAIWriter>(tok_, ShortId(req.chat ? "chatcmpl-" : "cmpl-"),
                                       opt_.model_name, req.chat, req.include_usage, req.logprobs);
    w->set_choices(req.n);
    writer = std::move(w);
  }
  auto session = std::make_shared<Session>(tok_, req, std::move(writer), handle, prompt_tokens,
                                           ShortId("req-"));
  if (req.stream) return Stream(res, std::move(session), ep);
  Respond(res, *session, dialect, ep);
}

// Non-streaming: wait for every choice, then one JSON body (or the error).
void Handler::Respond(httplib::Response& res, Session& session, ApiDialect dialect, Endpoint ep) {
  std::string ignored;
  while (!session.finished()) session.Pump(kKeepAlive, &ignored);
  session.Log(&counters_, EndpointName(ep));
  if (session.error()) return SendError(res, *session.error(), dialect);
  res.set_content(Dump(session.Whole()), "application/json");
  counters_.Response(res.status = 200);
}

// Server-sent events, written as the engine produces tokens. A failed write means the client is
// gone: the request is cancelled and the engine frees its sequence at its next step.
void Handler::Stream(httplib::Response& res, std::shared_ptr<Session> session, Endpoint ep) {
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  counters_.Response(200);
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, session, ep](size_t, httplib::DataSink& sink) {
        auto write = [&](const std::string& s) {
          return s.empty() || sink.write(s.data(), s.size());
        };
        while (!session->finished()) {
          std::string sse;
          if (!session->Pump(kKeepAlive, &sse)) sse = ": keep-alive\n\n";
          if (session->error()) sse += session->StreamError(*session->error());
          if (!write(sse)) {
            session->Cancel();
            session->Log(&counters_, EndpointName(ep));
            return false;
          }
          if (session->error()) break;
        }
        if (!session->error()) write(session->End());
        session->Log(&counters_, EndpointName(ep));
        sink.done();
        return true;
      },
      [session](bool success) {
        if (!success) session->Cancel();
      });
}

void Handler::Models(const httplib::Request& req, httplib::Response& res) {
  if (!Authorized(req, res, ApiDialect::kOpenAI)) return;
  const Json model = {{"id", opt_.model_name},
                      {"object", "model"},
                      {"created", UnixSeconds()},
                      {"owned_by", "dsv4"},
                      {"context_length", engine_.context()}};
  res.set_content(Dump(Json{{"object", "list"}, {"data", Json::array({model})}}),
                  "application/json");
  counters_.Response(200);
}

}  // namespace

Status Serve(const Model& model, const Tokenizer& tokenizer, const ServerOptions& opt) {
  (void)model;  // owned by the engine thread through the Engine
  Engine engine(model, opt.engine);
  Handler h(tokenizer, opt, engine);
  httplib::Server server;
  // Enough workers that every admitted stream plus the requests being refused are served at once.
  const size_t threads = opt.engine.parallel + opt.engine.queue_limit + kExtraHttpThreads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_payload_max_length(opt.max_body_bytes);
  server.set_error_handler([&h](const httplib::Request& req, httplib::Response& res) {
    const ApiDialect dialect =
        req.path == "/v1/messages" ? ApiDialect::kAnthropic : ApiDialect::kOpenAI;
    if (res.status == 413) {
      h.SendError(res, {ApiErrorKind::kTooLarge, "request body too large"}, dialect);
    } else if (res.status == 404 && res.body.empty()) {
      h.SendError(res, {ApiErrorKind::kNoEndpoint, "no endpoint " + req.method + " " + req.path},
                  dialect);
    }
  });
  server.set_exception_handler(
      [&h](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        h.SendError(res, {ApiErrorKind::kInternal, "internal error"}, ApiDialect::kOpenAI);
      });
  server.Get("/health", [&engine](const httplib::Request&, httplib::Response& res) {
    const EngineMetrics m = engine.metrics();
    res.set_content(Dump(Json{{"status", "ok"}, {"active", m.active}, {"queued", m.queued}}),
                    "application/json");
  });
  server.Get("/v1/models",
             [&h](const httplib::Request& req, httplib::Response& res) { h.Models(req, res); });
  server.Get("/metrics", [&h](const httplib::Request&, httplib::Response& res) { h.Metrics(res); });
  server.Post("/v1/chat/completions", [&h](const httplib::Request& req, httplib::Response& res) {
    h.Generate(req, res, Endpoint::kChat);
  });
  server.Post("/v1/completions", [&h](const httplib::Request& req, httplib::Response& res) {
    h.Generate(req, res, Endpoint::kCompletion);
  });
  server.Post("/v1/messages", [&h](const httplib::Request& req, httplib::Response& res) {
    h.Generate(req, res, Endpoint::kMessages);
  });
  int listen_fd = -1;
  server.set_socket_options([&listen_fd](socket_t sock) {
    httplib::default_socket_options(sock);
    listen_fd = sock;
  });
  if (!server.bind_to_port(opt.host, opt.port)) {
    return InvalidArgument("cannot listen on " + opt.host + ":" + std::to_string(opt.port) +
                           " (in use? try another --port)");
  }
  if (listen_fd >= 0) ::listen(listen_fd, kListenBacklog);
  std::fprintf(stderr, "[dsv4 serve] listening on http://%s:%d (model \"%s\", %d parallel)\n",
               opt.host.c_str(), opt.port, opt.model_name.c_str(), opt.engine.parallel);
  server.listen_after_bind();
  return Status::Ok();
}

}  // namespace dsv4
