#include "server/http.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "chat/completion_parser.h"
#include "chat/completion_stream.h"
#include "chat/encoding.h"
#include "runtime/stop.h"

namespace dsv4 {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

// The one place errors become HTTP: OpenAI-shaped body, status from the error kind.
struct ApiError {
  int status;
  std::string type, message;
};

void SendError(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(json{{"error", {{"message", e.message}, {"type", e.type}, {"param", nullptr},
                                   {"code", nullptr}}}}.dump(),
                  "application/json");
}

ApiError FromStatus(const Status& s) {
  switch (s.code()) {
    case StatusCode::kResourceExhausted: return {429, "rate_limit_error", s.message()};
    case StatusCode::kNotFound: return {404, "not_found_error", s.message()};
    case StatusCode::kInternal: return {500, "server_error", s.message()};
    default: return {400, "invalid_request_error", s.message()};
  }
}

std::string NewId(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  return std::string(prefix) + std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000000) +
         "-" + std::to_string(++counter);
}

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Sampling fields shared by both endpoints; wrong types are errors, not defaults.
Status ParseCommon(const json& body, GenRequest* req, std::vector<std::string>* stops, int eos) {
  try {
    req->max_tokens = 256;
    if (body.contains("max_completion_tokens")) req->max_tokens = body["max_completion_tokens"].get<int>();
    else if (body.contains("max_tokens") && !body["max_tokens"].is_null()) req->max_tokens = body["max_tokens"].get<int>();
    if (req->max_tokens < 1) return InvalidArgument("max_tokens must be at least 1");
    req->sampling.temperature = body.value("temperature", 1.0f);
    req->sampling.top_p = body.value("top_p", 1.0f);
    req->sampling.top_k = body.value("top_k", 0);
    req->sampling.presence_penalty = body.value("presence_penalty", 0.0f);
    req->sampling.frequency_penalty = body.value("frequency_penalty", 0.0f);
    if (body.contains("seed") && !body["seed"].is_null()) req->sampling.seed = body["seed"].get<uint64_t>();
    if (body.contains("stop") && !body["stop"].is_null()) {
      if (body["stop"].is_string()) stops->push_back(body["stop"].get<std::string>());
      else for (const auto& s : body["stop"]) stops->push_back(s.get<std::string>());
    }
    if (body.value("n", 1) != 1) return Unimplemented("n > 1 is not supported yet");
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("bad field type: ") + e.what());
  }
  for (const auto& s : *stops) {
    if (s.empty()) return InvalidArgument("stop strings must not be empty");
  }
  req->stop_ids = {eos};
  return req->sampling.Validate();
}

// Turns engine token events into text: UTF-8-safe detokenization, stop strings, and (chat) the
// official completion parser. on_delta(kind, text) receives text pieces ("content"/"reasoning").
class TextPipe {
 public:
  TextPipe(const Tokenizer& tok, std::vector<std::string> stops, bool chat, ThinkingMode mode)
      : decoder_(tok), parser_(mode), chat_(chat),
        stop_(std::move(StopChecker::Create(StopParams{.stop_strings = std::move(stops)})).value()) {}

  // Returns false when a stop string ended the text (the caller cancels the request).
  bool Feed(int32_t token, const std::function<void(const std::string&, const std::string&)>& out) {
    const StopUpdate u = stop_.Append(token, decoder_.Feed(token));
    Emit(u.text, out);
    return !u.stopped();
  }
  void Finish(const std::function<void(const std::string&, const std::string&)>& out) {
    Emit(decoder_.Flush() + stop_.Flush(), out);
    if (chat_) {
      std::vector<CompletionDelta> d;
      auto m = parser_.Finish(&d);
      Deliver(d, out);
      if (m.ok()) message_ = *m;
    }
  }
  const std::string& text() const { return text_; }
  const ParsedMessage& message() const { return message_; }

 private:
  void Emit(const std::string& text, const std::function<void(const std::string&, const std::string&)>& out) {
    if (text.empty()) return;
    text_ += text;
    if (!chat_) return out("content", text);
    std::vector<CompletionDelta> d;
    if (!parser_.Feed(text, &d).ok()) {  // malformed DSML: surface the raw text as content
      chat_ = false;
      return out("content", text);
    }
    Deliver(d, out);
  }
  void Deliver(const std::vector<CompletionDelta>& d,
               const std::function<void(const std::string&, const std::string&)>& out) {
    for (const auto& x : d) {
      if (x.kind == CompletionDeltaKind::kReasoning) out("reasoning", x.text);
      else if (x.kind == CompletionDeltaKind::kContent) out("content", x.text);
    }
  }

  StreamDecoder decoder_;
  CompletionStreamParser parser_;
  bool chat_;
  StopChecker stop_;
  std::string text_;
  ParsedMessage message_;
};

struct Handler {
  const Model& model;
  const Tokenizer& tok;
  const ServerOptions& opt;
  Engine& engine;

  bool Authorized(const httplib::Request& req, httplib::Response& res) {
    if (opt.api_key.empty()) return true;
    if (req.get_header_value("Authorization") == "Bearer " + opt.api_key) return true;
    SendError(res, {401, "authentication_error", "invalid or missing API key"});
    return false;
  }

  bool ParseBody(const httplib::Request& req, httplib::Response& res, json* body) {
    try {
      *body = json::parse(req.body);
    } catch (const json::exception& e) {
      SendError(res, {400, "invalid_request_error", std::string("malformed JSON: ") + e.what()});
      return false;
    }
    if (!body->is_object()) {
      SendError(res, {400, "invalid_request_error", "the request body must be a JSON object"});
      return false;
    }
    if (body->contains("model") && (!(*body)["model"].is_string() || (*body)["model"] != opt.model_name)) {
      SendError(res, {404, "not_found_error", "unknown model " + (*body)["model"].dump() + "; this server serves \"" + opt.model_name + "\""});
      return false;
    }
    return true;
  }

  // Shared by /v1/completions and /v1/chat/completions.
  void Generate(const httplib::Request& http, httplib::Response& res, bool chat) {
    if (!Authorized(http, res)) return;
    json body;
    if (!ParseBody(http, res, &body)) return;
    GenRequest greq;
    std::vector<std::string> stops;
    ThinkingMode mode = ThinkingMode::kChat;
    Status st = ParseCommon(body, &greq, &stops, tok.eos_id());
    std::string prompt_text;
    if (st.ok() && chat) {
      try {
        const json& th = body.contains("thinking") ? body["thinking"] : json();
        if (th.is_object() && th.value("type", "disabled") == "enabled") mode = ThinkingMode::kThinking;
        if (!body.contains("messages") || !body["messages"].is_array()) {
          st = InvalidArgument("'messages' must be an array");
        } else {
          ojson enc = {{"messages", ojson::parse(body["messages"].dump())},
                       {"thinking_mode", mode == ThinkingMode::kThinking ? "thinking" : "chat"},
                       {"context", nullptr}, {"drop_thinking", true}, {"add_default_bos_token", true},
                       {"reasoning_effort", body.contains("reasoning_effort") ? ojson(body["reasoning_effort"]) : ojson(nullptr)}};
          auto text = EncodeChat(enc);
          if (text.ok()) prompt_text = *text;
          else st = text.status();
        }
      } catch (const json::exception& e) {
        st = InvalidArgument(std::string("bad field type: ") + e.what());
      }
    } else if (st.ok()) {
      const json& p = body.contains("prompt") ? body["prompt"] : json();
      if (p.is_string()) prompt_text = p.get<std::string>();
      else if (p.is_array() && !p.empty() && p[0].is_number_integer()) {
        for (const auto& v : p) {
          if (!v.is_number_integer()) { st = InvalidArgument("'prompt' token arrays hold integers"); break; }
          greq.prompt.push_back(v.get<int32_t>());
        }
      } else {
        st = InvalidArgument("'prompt' must be a string or an array of token ids");
      }
    }
    if (st.ok() && greq.prompt.empty()) {
      auto ids = tok.Encode(prompt_text);
      if (ids.ok()) greq.prompt = std::move(*ids);
      else st = ids.status();
    }
    const int prompt_tokens = static_cast<int>(greq.prompt.size());
    std::shared_ptr<RequestHandle> handle;
    if (st.ok()) {
      auto h = engine.Submit(std::move(greq));
      if (h.ok()) handle = *h;
      else st = h.status();
    }
    if (!st.ok()) {
      const ApiError e = FromStatus(st);
      if (e.status == 429) res.set_header("Retry-After", "1");
      SendError(res, e);
      return;
    }
    const std::string id = NewId(chat ? "chatcmpl-" : "cmpl-");
    const bool stream = body.value("stream", false);
    const bool include_usage = body.contains("stream_options") && body["stream_options"].is_object() &&
                               body["stream_options"].value("include_usage", false);
    auto pipe = std::make_shared<TextPipe>(tok, stops, chat, mode);
    const auto started = std::chrono::steady_clock::now();
    auto usage = [prompt_tokens](int completion) {
      return json{{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion},
                  {"total_tokens", prompt_tokens + completion},
                  {"prompt_tokens_details", {{"cached_tokens", 0}}}};
    };
    if (!stream) {
      TokenEvent ev;
      int completion = 0;
      std::string finish = "length";
      while (handle->Next(&ev)) {
        if (ev.done) {
          finish = ev.finish_reason;
          break;
        }
        ++completion;
        if (!pipe->Feed(ev.token, [](const std::string&, const std::string&) {})) {
          handle->Cancel();
          finish = "stop";
        }
      }
      if (finish == "error") return SendError(res, {500, "server_error", ev.error});
      if (finish == "cancelled") finish = "stop";
      pipe->Finish([](const std::string&, const std::string&) {});
      json choice = {{"index", 0}, {"finish_reason", finish}};
      if (chat) {
        json msg = {{"role", "assistant"}, {"content", pipe->message().content}};
        if (!pipe->message().reasoning_content.empty()) msg["reasoning_content"] = pipe->message().reasoning_content;
        if (pipe->message().content.empty() && pipe->message().reasoning_content.empty()) msg["content"] = pipe->text();
        choice["message"] = msg;
      } else {
        choice["text"] = pipe->text();
      }
      res.set_content(json{{"id", id}, {"object", chat ? "chat.completion" : "text_completion"},
                           {"created", Now()}, {"model", opt.model_name}, {"choices", {choice}},
                           {"usage", usage(completion)}}.dump(-1, ' ', false, json::error_handler_t::replace),
                      "application/json");
      Log(id, prompt_tokens, completion, started);
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, handle, pipe, id, chat, include_usage, usage, started, prompt_tokens](size_t, httplib::DataSink& sink) {
          auto send = [&](const json& j) {
            const std::string s = "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
            return sink.write(s.data(), s.size());
          };
          auto chunk = [&](const json& delta_or_text, const json& finish) {
            json choice = {{"index", 0}, {"finish_reason", finish}};
            if (chat) choice["delta"] = delta_or_text;
            else choice["text"] = delta_or_text;
            return json{{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"},
                        {"created", Now()}, {"model", opt.model_name}, {"choices", {choice}}};
          };
          bool alive = !chat || send(chunk(json{{"role", "assistant"}, {"content", ""}}, nullptr));
          auto out = [&](const std::string& kind, const std::string& text) {
            if (!alive) return;
            if (chat) alive = send(chunk(json{{kind == "reasoning" ? "reasoning_content" : "content", text}}, nullptr));
            else alive = send(chunk(text, nullptr));
          };
          TokenEvent ev;
          int completion = 0;
          std::string finish = "length";
          while (alive && handle->Next(&ev)) {
            if (ev.done) {
              finish = ev.finish_reason == "cancelled" ? "stop" : ev.finish_reason;
              break;
            }
            ++completion;
            if (!pipe->Feed(ev.token, out)) {
              handle->Cancel();
              finish = "stop";
            }
          }
          if (!alive) {  // the client went away: free the sequence now
            handle->Cancel();
            return false;
          }
          pipe->Finish(out);
          send(chunk(chat ? json::object() : json(""), finish));
          if (include_usage) {
            send(json{{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"},
                      {"created", Now()}, {"model", opt.model_name}, {"choices", json::array()},
                      {"usage", usage(completion)}});
          }
          const std::string done = "data: [DONE]\n\n";
          sink.write(done.data(), done.size());
          sink.done();
          Log(id, prompt_tokens, completion, started);
          return true;
        },
        [handle](bool) { handle->Cancel(); });
  }

  void Log(const std::string& id, int in, int out, std::chrono::steady_clock::time_point t0) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "[dsv4 serve] %s tokens in %d out %d cached 0 time %.2f s %.1f tok/s\n",
                 id.c_str(), in, out, s, out / std::max(s, 1e-9));
  }
};

}  // namespace

Status Serve(const Model& model, const Tokenizer& tokenizer, const ServerOptions& opt) {
  Engine engine(model, opt.engine);
  Handler h{model, tokenizer, opt, engine};
  httplib::Server server;
  server.set_payload_max_length(opt.max_body_bytes);
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 413) SendError(res, {413, "invalid_request_error", "request body too large"});
    else if (res.status == 404 && res.body.empty()) SendError(res, {404, "not_found_error", "no such endpoint"});
  });
  server.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  server.Get("/v1/models", [&](const httplib::Request& req, httplib::Response& res) {
    if (!h.Authorized(req, res)) return;
    res.set_content(json{{"object", "list"}, {"data", {{{"id", opt.model_name}, {"object", "model"},
                                                         {"created", Now()}, {"owned_by", "dsv4"}}}}}.dump(),
                    "application/json");
  });
  server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    const EngineMetrics m = engine.metrics();
    std::string s;
    s += "# TYPE dsv4_requests_total counter\ndsv4_requests_total " + std::to_string(m.requests) + "\n";
    s += "# TYPE dsv4_prompt_tokens_total counter\ndsv4_prompt_tokens_total " + std::to_string(m.prompt_tokens) + "\n";
    s += "# TYPE dsv4_generated_tokens_total counter\ndsv4_generated_tokens_total " + std::to_string(m.generated_tokens) + "\n";
    s += "# TYPE dsv4_engine_steps_total counter\ndsv4_engine_steps_total " + std::to_string(m.steps) + "\n";
    s += "# TYPE dsv4_queue_depth gauge\ndsv4_queue_depth " + std::to_string(m.queued) + "\n";
    s += "# TYPE dsv4_active_sequences gauge\ndsv4_active_sequences " + std::to_string(m.active) + "\n";
    s += "# TYPE dsv4_last_batch_size gauge\ndsv4_last_batch_size " + std::to_string(m.last_batch) + "\n";
    res.set_content(s, "text/plain; version=0.0.4");
  });
  server.Post("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) { h.Generate(req, res, false); });
  server.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) { h.Generate(req, res, true); });
  std::fprintf(stderr, "[dsv4 serve] listening on http://%s:%d (model \"%s\")\n", opt.host.c_str(), opt.port,
               opt.model_name.c_str());
  if (!server.listen(opt.host, opt.port)) {
    return InvalidArgument("cannot listen on " + opt.host + ":" + std::to_string(opt.port));
  }
  return Status::Ok();
}

}  // namespace dsv4
