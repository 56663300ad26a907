// The serving engine: one thread owns the Model and every active Sequence.
//
// Requests queue up; each engine step is one batched forward (Sequence::AppendBatch, i.e.
// Model::ForwardBatch) over all active sequences — a prefill chunk for sequences still reading
// their prompt (at most `prefill_chunk` prompt tokens per step in total), one token for decoding
// ones — so a long prompt never stalls streaming clients. Requests join and leave between steps. A
// cancelled request's sequence is freed at the next step; a finished one goes to the PrefixPool, so
// a later prompt that extends it only prefills the new suffix. Each choice samples with its own
// seeded Sampler and the batched forward is bit-identical per sequence, so output is the same alone
// or in a busy batch.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/status.h"
#include "model/model.h"
#include "runtime/sampler.h"
#include "server/prefix_pool.h"

namespace dsv4 {

// One choice of a request: a prompt and how to continue it.
struct GenRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  int max_tokens = 256;
  std::vector<int32_t> stop_ids;  // generation ends after one of these (it is reported)
};

enum class FinishKind {
  kNone,       // not finished (a token event)
  kStopToken,  // a stop id was generated
  kLength,     // max_tokens generated
  kStopped,    // the HTTP side ended it normally (a stop string matched)
  kCancelled,  // the client went away or the server shuts down
  kError,
};

struct TokenEvent {
  int choice = 0;
  int32_t token = -1;  // -1 on the final event of a choice
  float logprob = 0.0f;
  std::vector<std::pair<int32_t, float>> top_logprobs;
  FinishKind finish = FinishKind::kNone;
  int64_t cached_tokens = 0;  // prompt tokens reused from the prefix pool (on every event: a
                              // stream's first event already reports them)
  std::string error;          // on kError

  bool done() const { return finish != FinishKind::kNone; }
};

// Shared between the engine thread and the HTTP thread of one request (all its choices).
class RequestHandle {
 public:
  explicit RequestHandle(int choices);

  // Blocks up to `timeout` for the next event; false on timeout or once every choice finished.
  bool Next(TokenEvent* ev, std::chrono::milliseconds timeout);
  bool finished();
  // Client gone: every choice stops and its sequence is freed (not pooled).
  void Cancel() { cancelled_ = true; }
  // One choice ends normally (e.g. a stop string): its sequence is kept for prefix reuse.
  void Stop(int choice) { stopped_[choice] = true; }

  bool cancelled() const { return cancelled_; }
  bool stop_requested(int choice) const { return stopped_[choice]; }
  void Push(TokenEvent ev);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<TokenEvent> events_;
  int open_choices_;
  std::atomic<bool> cancelled_{false};
  std::unique_ptr<std::atomic<bool>[]> stopped_;
};

struct EngineOptions {
  int parallel = 4;         // active sequences at most (a request with n choices counts n)
  int queue_limit = 0;      // requests that may wait beyond `parallel` (more: ResourceExhausted)
  int prefill_chunk = 256;  // prompt tokens per step, over all prefilling sequences
  int64_t context = 0;      // tokens per sequence (0: the model's max_position_embeddings)
  int pool_size = 4;        // finished sequences kept for prefix reuse
};

struct EngineMetrics {
  int64_t requests = 0, rejected = 0, cancelled = 0, prompt_tokens = 0, cached_tokens = 0,
          generated_tokens = 0, steps = 0;
  int queued = 0, active = 0, last_batch = 0, pooled = 0;
  int64_t pooled_tokens = 0;
};

class Engine {
 public:
  Engine(const Model& model, EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // All choices of one request, admitted together. ResourceExhausted when over capacity;
  // InvalidArgument for an empty prompt, ids outside the vocabulary, a prompt plus max_tokens
  // beyond the context, or bad sampling parameters.
  Result<std::shared_ptr<RequestHandle>> Submit(std::vector<GenRequest> choices);
  EngineMetrics metrics();
  int64_t context() const { return context_; }
  const EngineOptions& options() const { return options_; }

 private:
  struct Active;
  struct Pending {
    std::vector<GenRequest> choices;
    std::shared_ptr<RequestHandle> handle;
  };
  Status Validate(const GenRequest& request) const;
  void Loop();
  void Admit(std::vector<std::unique_ptr<Active>>& active);  // with mu_ held
  void Step(std::vector<std::unique_ptr<Active>>& active);
  void Retire(std::vector<std::unique_ptr<Active>>& active);
  // Feeds every sequence its tokens of this step; a failing sequence is isolated (and reported)
  // without disturbing the others.
  void Forward(std::vector<Active*>& fed, std::vector<std::span<const int32_t>>& tokens);
  void Sample(Active& a);

  const Model& model_;
  EngineOptions options_;
  int64_t context_;
  PrefixPool pool_;  // engine thread only
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  int reserved_ = 0;  // choices queued or active (admission control)
  bool stop_ = false;
  EngineMetrics metrics_;
  std::thread thread_;
};

}  // namespace dsv4
