#include "server/engine.h"

#include <algorithm>

#include "runtime/sequence.h"

namespace dsv4 {

RequestHandle::RequestHandle(int choices)
    : open_choices_(choices), stopped_(new std::atomic<bool>[choices]) {
  for (int i = 0; i < choices; ++i) stopped_[i] = false;
}

bool RequestHandle::Next(TokenEvent* ev, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !events_.empty() || open_choices_ == 0; });
  if (events_.empty()) return false;
  *ev = std::move(events_.front());
  events_.pop_front();
  return true;
}

bool RequestHandle::finished() {
  std::lock_guard<std::mutex> lock(mu_);
  return events_.empty() && open_choices_ == 0;
}

void RequestHandle::Push(TokenEvent ev) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ev.done()) --open_choices_;
    events_.push_back(std::move(ev));
  }
  cv_.notify_one();
}

struct Engine::Active {
  GenRequest req;
  std::shared_ptr<RequestHandle> handle;
  int choice = 0;
  std::unique_ptr<Sequence> seq;
  Sampler sampler;
  size_t fed = 0;               // prompt tokens already in seq (reused or prefilled)
  int64_t cached = 0;           // of them, reused from the prefix pool
  int32_t next = -1;            // sampled, fed at the next step
  std::vector<int32_t> output;  // generated ids: the window the penalties count (OpenAI semantics)
  std::vector<float> logits;    // of seq's last token
  bool ready = false;           // logits give the distribution of the next token to sample
  FinishKind finish = FinishKind::kNone;
  std::string error;

  Active(GenRequest r, std::shared_ptr<RequestHandle> h, int c, Sampler s)
      : req(std::move(r)), handle(std::move(h)), choice(c), sampler(std::move(s)) {}
};

Engine::Engine(const Model& model, EngineOptions options)
    : model_(model),
      options_(options),
      context_(options.context > 0 ? options.context : model.config().max_position_embeddings),
      pool_(options.pool_size),
      thread_([this] { Loop(); }) {}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Status Engine::Validate(const GenRequest& request) const {
  if (request.prompt.empty()) return InvalidArgument("the prompt is empty");
  if (request.max_tokens < 1) return InvalidArgument("max_tokens must be at least 1");
  if (static_cast<int64_t>(request.prompt.size()) + request.max_tokens > context_) {
    return InvalidArgument("prompt of " + std::to_string(request.prompt.size()) + " tokens plus " +
                           std::to_string(request.max_tokens) +
                           " new tokens exceeds the context of " + std::to_string(context_) +
                           " tokens");
  }
  for (int32_t t : request.prompt) {
    if (t < 0 || t >= model_.config().vocab_size) {
      return InvalidArgument("token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                             std::to_string(model_.config().vocab_size) + ")");
    }
  }
  return request.sampling.Validate();
}

Result<std::shared_ptr<RequestHandle>> Engine::Submit(std::vector<GenRequest> choices) {
  const int n = static_cast<int>(choices.size());
  if (n < 1) return InvalidArgument("a request needs at least one choice");
  if (n > options_.parallel) {
    return InvalidArgument("n = " + std::to_string(n) + " exceeds this server's " +
                           std::to_string(options_.parallel) + " parallel sequences");
  }
  for (const GenRequest& c : choices) DSV4_RETURN_IF_ERROR(Validate(c));
  auto handle = std::make_shared<RequestHandle>(n);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (reserved_ + n > options_.parallel + options_.queue_limit) {
      ++metrics_.rejected;
      return ResourceExhausted("server busy: " + std::to_string(reserved_) +
                               " sequences running or waiting");
    }
    reserved_ += n;
    queue_.push_back({std::move(choices), handle});
    ++metrics_.requests;
    metrics_.queued = static_cast<int>(queue_.size());
  }
  cv_.notify_one();
  return handle;
}

EngineMetrics Engine::metrics() {
  std::lock_guard<std::mutex> lock(mu_);
  return metrics_;
}

void Engine::Loop() {
  std::vector<std::unique_ptr<Active>> active;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty() || !active.empty(); });
      if (stop_) break;
      Admit(active);
    }
    Step(active);
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& a : active) a->handle->Push({.choice = a->choice, .finish = FinishKind::kCancelled});
  for (Pending& p : queue_) {
    for (int c = 0; c < static_cast<int>(p.choices.size()); ++c) {
      p.handle->Push({.choice = c, .finish = FinishKind::kCancelled});
    }
  }
}

void Engine::Admit(std::vector<std::unique_ptr<Active>>& active) {
  // FIFO: a request whose choices do not all fit waits, and so does everything behind it.
  while (!queue_.empty() &&
         static_cast<int>(active.size() + queue_.front().choices.size()) <= options_.parallel) {
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    for (int c = 0; c < static_cast<int>(p.choices.size()); ++c) {
      GenRequest& req = p.choices[c];
      auto sampler = Sampler::Create(req.sampling);  // validated at Submit
      auto a = std::make_unique<Active>(std::move(req), p.handle, c, std::move(sampler).value());
      if (auto hit = pool_.Take(a->req.prompt)) {
        a->seq = std::move(hit->seq);
        a->logits = std::move(hit->logits);
        a->fed = a->seq->tokens().size();
        a->cached = static_cast<int64_t>(a->fed);
        a->ready = a->fed == a->req.prompt.size();
      } else {
        a->seq = std::make_unique<Sequence>(model_, SequenceOptions{.max_tokens = context_});
      }
      metrics_.prompt_tokens += static_cast<int64_t>(a->req.prompt.size());
      metrics_.cached_tokens += a->cached;
      active.push_back(std::move(a));
    }
  }
  metrics_.queued = static_cast<int>(queue_.size());
  metrics_.active = static_cast<int>(active.size());
}

void Engine::Step(std::vector<std::unique_ptr<Active>>& active) {
  Retire(active);  // requests cancelled or stopped since the last step leave first
  if (active.empty()) return;
  // Prefill chunks (within one budget per step, oldest first) next to single decode tokens.
  // With a future Model::ForwardBatch over mixed shapes nothing here changes: the step already
  // hands every sequence's tokens to one batched call.
  int budget = std::max(1, options_.prefill_chunk);
  std::vector<Active*> fed;
  std::vector<std::span<const int32_t>> tokens;
  for (auto& a : active) {
    if (a->ready) continue;
    if (a->fed < a->req.prompt.size()) {
      const size_t n = std::min<size_t>(budget, a->req.prompt.size() - a->fed);
      if (n == 0) continue;
      budget -= static_cast<int>(n);
      tokens.push_back(std::span<const int32_t>(a->req.prompt).subspan(a->fed, n));
    } else {
      tokens.push_back(std::span<const int32_t>(&a->next, 1));
    }
    fed.push_back(a.get());
  }
  if (!fed.empty()) Forward(fed, tokens);
  int64_t produced = 0;
  for (auto& a : active) {
    if (!a->ready || a->finish != FinishKind::kNone) continue;
    Sample(*a);
    ++produced;
  }
  const int batch = static_cast<int>(fed.size());
  Retire(active);
  std::lock_guard<std::mutex> lock(mu_);
  metrics_.generated_tokens += produced;
  ++metrics_.steps;
  metrics_.last_batch = batch;
}

void Engine::Forward(std::vector<Active*>& fed, std::vector<std::span<const int32_t>>& tokens) {
  auto apply = [](Active& a, size_t n, std::vector<float>& logits) {
    a.logits = std::move(logits);
    if (a.fed < a.req.prompt.size()) a.fed += n;
    a.ready = a.fed == a.req.prompt.size();
  };
  std::vector<Sequence*> seqs;
  for (Active* a : fed) seqs.push_back(a->seq.get());
  std::vector<std::vector<float>> logits;
  if (Sequence::AppendBatch(seqs, tokens, &logits).ok()) {
    for (size_t i = 0; i < fed.size(); ++i) apply(*fed[i], tokens[i].size(), logits[i]);
    return;
  }
  // AppendBatch changes nothing on error: find the culprit by running each sequence alone.
  for (size_t i = 0; i < fed.size(); ++i) {
    const Status s = Sequence::AppendBatch({&seqs[i], 1}, {&tokens[i], 1}, &logits);
    if (s.ok()) {
      apply(*fed[i], tokens[i].size(), logits[0]);
    } else {
      fed[i]->finish = FinishKind::kError;
      fed[i]->error = s.message();
    }
  }
}

void Engine::Sample(Active& a) {
  auto r = a.sampler.Sample(a.logits, a.output);
  if (!r.ok()) {
    a.finish = FinishKind::kError;
    a.error = r.status().message();
    return;
  }
  a.ready = false;
  a.next = r->token;
  a.output.push_back(a.next);
  a.handle->Push({.choice = a.choice,
                  .token = a.next,
                  .logprob = r->logprob,
                  .top_logprobs = std::move(r->top_logprobs),
                  .cached_tokens = a.cached});
  const auto& stops = a.req.stop_ids;
  if (std::find(stops.begin(), stops.end(), a.next) != stops.end()) {
    a.finish = FinishKind::kStopToken;
  } else if (static_cast<int>(a.output.size()) >= a.req.max_tokens) {
    a.finish = FinishKind::kLength;
  }
}

void Engine::Retire(std::vector<std::unique_ptr<Active>>& active) {
  int left = 0, cancelled = 0;
  for (auto& a : active) {
    if (a->handle->cancelled()) {
      a->finish = FinishKind::kCancelled;
      ++cancelled;
    } else if (a->finish == FinishKind::kNone && a->handle->stop_requested(a->choice)) {
      a->finish = FinishKind::kStopped;
    }
    if (a->finish == FinishKind::kNone) continue;
    a->handle->Push(
        {.choice = a->choice, .finish = a->finish, .cached_tokens = a->cached, .error = a->error});
    // A cancelled sequence is freed now; a finished one waits in the pool for a continuation.
    if (a->finish != FinishKind::kCancelled && a->finish != FinishKind::kError) {
      pool_.Put({std::move(a->seq), std::move(a->logits)});
    }
    a.reset();
    ++left;
  }
  if (left == 0) return;
  std::erase_if(active, [](const std::unique_ptr<Active>& a) { return a == nullptr; });
  std::lock_guard<std::mutex> lock(mu_);
  reserved_ -= left;
  metrics_.cancelled += cancelled;
  metrics_.active = static_cast<int>(active.size());
  metrics_.pooled = pool_.size();
  metrics_.pooled_tokens = pool_.tokens();
}

}  // namespace dsv4
