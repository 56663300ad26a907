#include "server/metrics.h"

#include <cstdio>

namespace dsv4 {
namespace {

void Metric(std::string* out, const char* name, const char* type, const char* help, double value) {
  char line[256];
  std::snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name,
                type, name, value);
  *out += line;
}

}  // namespace

void HttpCounters::Response(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++responses_[status];
}

void HttpCounters::Latency(double ttft_s, double total_s) {
  std::lock_guard<std::mutex> lock(mu_);
  ttft_sum_ += ttft_s;
  total_sum_ += total_s;
  ++timed_;
}

std::string HttpCounters::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out =
      "# HELP dsv4_http_responses_total HTTP responses by status code\n"
      "# TYPE dsv4_http_responses_total counter\n";
  for (const auto& [status, n] : responses_) {
    out += "dsv4_http_responses_total{code=\"" + std::to_string(status) + "\"} " +
           std::to_string(n) + "\n";
  }
  Metric(&out, "dsv4_time_to_first_token_seconds_sum", "counter",
         "time to first token, summed over generation requests", ttft_sum_);
  Metric(&out, "dsv4_request_seconds_sum", "counter",
         "request duration, summed over generation requests", total_sum_);
  Metric(&out, "dsv4_timed_requests_total", "counter", "generation requests timed", timed_);
  return out;
}

std::string RenderMetrics(const EngineMetrics& m, const HttpCounters& http) {
  std::string out;
  Metric(&out, "dsv4_requests_total", "counter", "requests admitted by the engine", m.requests);
  Metric(&out, "dsv4_requests_rejected_total", "counter", "requests refused: over capacity (429)",
         m.rejected);
  Metric(&out, "dsv4_sequences_cancelled_total", "counter", "sequences cancelled (client gone)",
         m.cancelled);
  Metric(&out, "dsv4_prompt_tokens_total", "counter", "prompt tokens of admitted sequences",
         m.prompt_tokens);
  Metric(&out, "dsv4_cached_prompt_tokens_total", "counter",
         "prompt tokens reused from the prefix pool (not prefilled)", m.cached_tokens);
  Metric(&out, "dsv4_generated_tokens_total", "counter", "tokens sampled", m.generated_tokens);
  Metric(&out, "dsv4_engine_steps_total", "counter", "batched engine steps", m.steps);
  Metric(&out, "dsv4_queue_depth", "gauge", "requests waiting for a slot", m.queued);
  Metric(&out, "dsv4_active_sequences", "gauge", "sequences in the running batch", m.active);
  Metric(&out, "dsv4_last_batch_size", "gauge", "sequences fed in the last step", m.last_batch);
  Metric(&out, "dsv4_prefix_pool_sequences", "gauge", "finished sequences kept for reuse",
         m.pooled);
  Metric(&out, "dsv4_prefix_pool_tokens", "gauge", "tokens held by the prefix pool",
         static_cast<double>(m.pooled_tokens));
  return out + http.Render();
}

}  // namespace dsv4
