// /metrics: Prometheus text exposition of the engine's and the HTTP layer's counters.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "server/engine.h"

namespace dsv4 {

// Counted by the HTTP layer (any thread).
class HttpCounters {
 public:
  void Response(int status);
  void Latency(double time_to_first_token_s, double total_s);
  std::string Render() const;

 private:
  mutable std::mutex mu_;
  std::map<int, int64_t> responses_;  // by HTTP status
  double ttft_sum_ = 0, total_sum_ = 0;
  int64_t timed_ = 0;
};

std::string RenderMetrics(const EngineMetrics& engine, const HttpCounters& http);

}  // namespace dsv4
