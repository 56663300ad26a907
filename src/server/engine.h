// The serving engine: one thread owns the Model and every active Sequence. Requests queue up; each
// engine step is one batched forward (Sequence::AppendBatch) over all active sequences — a prefill
// chunk for sequences still reading their prompt, one token for decoding ones — so a long prompt
// never stalls streaming clients. Requests join and leave between steps; a cancelled request's
// sequence is dropped at the next step. Each request samples with its own seeded Sampler, so output
// is identical alone or in a busy batch (the batched forward is bit-identical per sequence).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "model/model.h"
#include "runtime/sampler.h"

namespace dsv4 {

struct GenRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  int max_tokens = 256;
  std::vector<int32_t> stop_ids;
};

struct TokenEvent {
  int32_t token = -1;           // -1 on the final event
  bool done = false;
  std::string finish_reason;    // "stop" | "length" | "cancelled" | "error"
  std::string error;
};

// Shared between the engine thread and the HTTP thread of one request.
class RequestHandle {
 public:
  bool Next(TokenEvent* ev);  // blocks; false once the final event was consumed
  void Cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }
  void Push(TokenEvent ev);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<TokenEvent> events_;
  bool finished_ = false;
  std::atomic<bool> cancelled_{false};
};

struct EngineOptions {
  int parallel = 4;       // active sequences per step
  int queue_limit = 16;   // waiting requests beyond which Submit refuses (HTTP 429)
  int prefill_chunk = 256;
  int64_t context = 0;    // tokens per sequence (0: the model's max)
};

struct EngineMetrics {
  int64_t requests = 0, prompt_tokens = 0, generated_tokens = 0, steps = 0;
  int queued = 0, active = 0, last_batch = 0;
};

class Engine {
 public:
  Engine(const Model& model, EngineOptions options);
  ~Engine();
  // ResourceExhausted when the queue is full; InvalidArgument for a prompt beyond the context.
  Result<std::shared_ptr<RequestHandle>> Submit(GenRequest request);
  EngineMetrics metrics();
  int64_t context() const { return context_; }

 private:
  struct Active;
  void Loop();
  void Step(std::vector<std::unique_ptr<Active>>& active);

  const Model& model_;
  EngineOptions options_;
  int64_t context_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<GenRequest, std::shared_ptr<RequestHandle>>> queue_;
  bool stop_ = false;
  EngineMetrics metrics_;
  std::thread thread_;
};

}  // namespace dsv4
