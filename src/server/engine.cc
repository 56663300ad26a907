#include "server/engine.h"

#include <algorithm>

#include "runtime/sequence.h"

namespace dsv4 {

bool RequestHandle::Next(TokenEvent* ev) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !events_.empty() || finished_; });
  if (events_.empty()) return false;
  *ev = std::move(events_.front());
  events_.pop_front();
  if (ev->done) finished_ = true;
  return true;
}

void RequestHandle::Push(TokenEvent ev) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(ev));
  }
  cv_.notify_one();
}

struct Engine::Active {
  GenRequest req;
  std::shared_ptr<RequestHandle> handle;
  Sequence seq;
  Sampler sampler;
  size_t prefilled = 0;
  int generated = 0;
  int32_t next = -1;  // sampled, to be fed at the next step
  std::vector<int32_t> history;
  Active(const Model& m, GenRequest r, std::shared_ptr<RequestHandle> h, Sampler s)
      : req(std::move(r)), handle(std::move(h)), seq(m), sampler(std::move(s)), history(req.prompt) {}
};

Engine::Engine(const Model& model, EngineOptions options)
    : model_(model),
      options_(options),
      context_(options.context > 0 ? options.context : model.config().max_position_embeddings),
      thread_([this] { Loop(); }) {}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Result<std::shared_ptr<RequestHandle>> Engine::Submit(GenRequest request) {
  if (request.prompt.empty()) return InvalidArgument("the prompt is empty");
  if (static_cast<int64_t>(request.prompt.size()) + request.max_tokens > context_) {
    return InvalidArgument("prompt of " + std::to_string(request.prompt.size()) + " tokens plus " +
                           std::to_string(request.max_tokens) + " new tokens exceeds the context of " +
                           std::to_string(context_) + " tokens");
  }
  for (int32_t t : request.prompt) {
    if (t < 0 || t >= model_.config().vocab_size) {
      return InvalidArgument("token id " + std::to_string(t) + " is outside the vocabulary");
    }
  }
  DSV4_RETURN_IF_ERROR(request.sampling.Validate());
  auto handle = std::make_shared<RequestHandle>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Room for `parallel` running plus `queue_limit` waiting requests.
    if (static_cast<int>(queue_.size()) + metrics_.active >= options_.parallel + options_.queue_limit) {
      return ResourceExhausted("server busy: " + std::to_string(queue_.size()) + " requests waiting");
    }
    queue_.emplace_back(std::move(request), handle);
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
      while (!queue_.empty() && static_cast<int>(active.size()) < options_.parallel) {
        auto [req, handle] = std::move(queue_.front());
        queue_.pop_front();
        auto sampler = Sampler::Create(req.sampling);  // validated at Submit
        metrics_.prompt_tokens += static_cast<int64_t>(req.prompt.size());
        active.push_back(std::make_unique<Active>(model_, std::move(req), handle, std::move(sampler).value()));
      }
      metrics_.queued = static_cast<int>(queue_.size());
      metrics_.active = static_cast<int>(active.size());
    }
    Step(active);
  }
  for (auto& a : active) a->handle->Push(TokenEvent{-1, true, "cancelled", ""});
}

void Engine::Step(std::vector<std::unique_ptr<Active>>& active) {
  // Cancelled requests leave before the step: their sequences are freed now.
  std::erase_if(active, [](const std::unique_ptr<Active>& a) {
    if (!a->handle->cancelled()) return false;
    a->handle->Push(TokenEvent{-1, true, "cancelled", ""});
    return true;
  });
  if (active.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    metrics_.active = 0;
    return;
  }
  std::vector<Sequence*> seqs;
  std::vector<std::span<const int32_t>> tokens;
  for (auto& a : active) {
    seqs.push_back(&a->seq);
    if (a->prefilled < a->req.prompt.size()) {
      const size_t n = std::min<size_t>(options_.prefill_chunk, a->req.prompt.size() - a->prefilled);
      tokens.push_back(std::span<const int32_t>(a->req.prompt).subspan(a->prefilled, n));
    } else {
      tokens.push_back(std::span<const int32_t>(&a->next, 1));
    }
  }
  std::vector<std::vector<float>> logits;
  const Status st = Sequence::AppendBatch(seqs, tokens, &logits);
  std::vector<bool> finished(active.size(), false);
  int64_t produced = 0;
  for (size_t i = 0; i < active.size(); ++i) {
    Active& a = *active[i];
    if (!st.ok()) {
      a.handle->Push(TokenEvent{-1, true, "error", st.message()});
      finished[i] = true;
      continue;
    }
    if (a.prefilled < a.req.prompt.size()) {
      a.prefilled += tokens[i].size();
      if (a.prefilled < a.req.prompt.size()) continue;  // more prompt to read
    }
    auto sample = a.sampler.Sample(logits[i], a.history);
    if (!sample.ok()) {
      a.handle->Push(TokenEvent{-1, true, "error", sample.status().message()});
      finished[i] = true;
      continue;
    }
    ++a.generated;
    ++produced;
    a.next = sample->token;
    a.history.push_back(a.next);
    a.handle->Push(TokenEvent{a.next, false, "", ""});
    const bool stop = std::find(a.req.stop_ids.begin(), a.req.stop_ids.end(), a.next) != a.req.stop_ids.end();
    if (stop || a.generated >= a.req.max_tokens) {
      a.handle->Push(TokenEvent{-1, true, stop ? "stop" : "length", ""});
      finished[i] = true;
    }
  }
  size_t k = 0;
  std::erase_if(active, [&](const std::unique_ptr<Active>&) { return finished[k++]; });
  std::lock_guard<std::mutex> lock(mu_);
  metrics_.generated_tokens += produced;
  ++metrics_.steps;
  metrics_.last_batch = static_cast<int>(seqs.size());
  metrics_.active = static_cast<int>(active.size());
}

}  // namespace dsv4
