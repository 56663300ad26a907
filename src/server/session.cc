#include "server/session.h"

#include <cstdio>

namespace dsv4 {

Session::Session(const Tokenizer& tokenizer, const ApiRequest& request,
                 std::unique_ptr<ResponseWriter> writer, std::shared_ptr<RequestHandle> handle,
                 int64_t prompt_tokens, std::string id)
    : stream_(request.stream),
      logprobs_(request.logprobs),
      writer_(std::move(writer)),
      handle_(std::move(handle)),
      id_(std::move(id)),
      results_(request.n) {
  const std::vector<int32_t> stop_ids = {tokenizer.eos_id()};
  pipes_.reserve(request.n);
  for (int i = 0; i < request.n; ++i) {
    pipes_.emplace_back(tokenizer, stop_ids, request.stops, request.chat, request.mode);
  }
  usage_.prompt_tokens = prompt_tokens;
}

Session::~Session() {
  if (!handle_->finished()) handle_->Cancel();
}

bool Session::Pump(std::chrono::milliseconds timeout, std::string* sse) {
  TokenEvent ev;
  if (!handle_->Next(&ev, timeout)) return false;
  do {
    if (!begun_) {
      usage_.cached_tokens = ev.cached_tokens;
      if (stream_) *sse += writer_->Begin(usage_);
      begun_ = true;
    }
    OnEvent(ev, sse);
  } while (handle_->Next(&ev, std::chrono::milliseconds(0)));
  return true;
}

void Session::OnEvent(const TokenEvent& ev, std::string* sse) {
  ChoiceResult& r = results_.at(ev.choice);
  TextPipe& pipe = pipes_.at(ev.choice);
  std::vector<OutputDelta> deltas;
  if (!ev.done()) {
    if (!first_token_) first_token_ = std::chrono::steady_clock::now();
    ++r.completion_tokens;
    ++usage_.completion_tokens;
    std::vector<TokenLogprob> lp;
    if (logprobs_) {
      lp.push_back({ev.token, ev.logprob, ev.top_logprobs});
      r.logprobs.push_back(lp.back());
    }
    // A stop string or malformed output ends this choice; the engine keeps the sequence for reuse.
    if (!pipe.Feed(ev.token, &deltas)) handle_->Stop(ev.choice);
    if (stream_ && !error_) *sse += writer_->Delta(ev.choice, deltas, lp);
  } else {
    r.finish = ev.finish;
    r.cached_tokens = ev.cached_tokens;
    if (ev.choice == 0) usage_.cached_tokens = ev.cached_tokens;
    pipe.Finish(ev.finish == FinishKind::kStopToken && !pipe.stopped_by_string(), &deltas);
    if (stream_ && !error_) *sse += writer_->Delta(ev.choice, deltas, {});
    r.output = pipe.output();
    r.stop_string = pipe.stop_string();
    if (ev.finish == FinishKind::kError && !error_) {
      error_ = ApiError{ApiErrorKind::kInternal, "generation failed: " + ev.error};
    }
  }
  if (!pipe.error().ok() && !error_) {
    error_ = ApiError{
        ApiErrorKind::kModelOutput,
        "the model produced malformed output (e.g. a broken tool call): " + pipe.error().message()};
  }
  if (error_) handle_->Cancel();
}

void Session::Log(HttpCounters* counters, const char* endpoint) const {
  using Seconds = std::chrono::duration<double>;
  const auto now = std::chrono::steady_clock::now();
  const double total = Seconds(now - started_).count();
  const double ttft = first_token_ ? Seconds(*first_token_ - started_).count() : total;
  const double decode = total - ttft;
  const double rate = usage_.completion_tokens > 1 && decode > 0
                          ? static_cast<double>(usage_.completion_tokens - 1) / decode
                          : 0.0;
  std::fprintf(stderr,
               "[dsv4 serve] %s %s tokens in %lld cached %lld out %lld ttft %.3f s time %.3f s "
               "%.1f tok/s%s\n",
               id_.c_str(), endpoint, static_cast<long long>(usage_.prompt_tokens),
               static_cast<long long>(usage_.cached_tokens),
               static_cast<long long>(usage_.completion_tokens), ttft, total, rate,
               error_ ? " error" : "");
  if (counters != nullptr) counters->Latency(ttft, total);
}

}  // namespace dsv4
