// Sparse attention with sink (one decode query: 64 heads x 512, window 128 + top-k 512 rows
// gathered from a cache) and the hyper-connection mixes (24 rows x 4·4096, double sums), scalar
// reference vs SIMD, in GFLOP/s. Threads: the kernel pool (DSV4_THREADS). Numbers only, never
// asserts on time.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <vector>

#include "base/numeric.h"
#include "kernels/cpu/cpu.h"
#include "kernels/hc.h"
#include "kernels/ref/ref.h"
#include "kernels/thread_pool.h"

namespace {

using namespace dsv4;

enum Impl { kRef = 0, kFast = 1 };

// V4-Flash decode: 640 slots picked from a 16K-row cache (64K context, ratio 4).
void BM_SparseAttention(benchmark::State& state) {
  const int heads = 64, dim = 512, slots = 640, cache_rows = 16384;
  std::mt19937 rng(1);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> q(heads * dim), cache(static_cast<size_t>(cache_rows) * dim), sink(heads),
      out(heads * dim);
  for (float& v : q) v = RoundBf16(g(rng) * 0.05f);
  for (float& v : cache) v = RoundBf16(g(rng));
  for (float& v : sink) v = g(rng);
  std::vector<const float*> rows(slots);
  for (auto& r : rows) r = cache.data() + static_cast<size_t>(rng() % cache_rows) * dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dim));
  for (auto _ : state) {
    state.range(0) == kRef
        ? ref::SparseAttention(q.data(), heads, dim, rows.data(), slots, sink.data(), scale, out.data())
        : cpu::SparseAttention(q.data(), heads, dim, rows.data(), slots, sink.data(), scale, out.data());
    benchmark::ClobberMemory();
  }
  const double flops = 4.0 * heads * slots * dim;  // q·k and p·v, multiply + add
  state.counters["GFLOPs"] = benchmark::Counter(flops * state.iterations() / 1e9,
                                                benchmark::Counter::kIsRate);
  state.counters["threads"] = ThreadPool::Global().size();
  state.SetLabel(state.range(0) == kRef ? "ref" : cpu::TargetName());
}
BENCHMARK(BM_SparseAttention)->Arg(kRef)->Arg(kFast)->UseRealTime()->Unit(benchmark::kMicrosecond);

// V4-Flash: 4 streams x 4096, 24 mixing rows (HcPre).
void BM_HcMixes(benchmark::State& state) {
  const int width = 4 * 4096, outputs = 24;
  std::mt19937 rng(2);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> x(width), fn(static_cast<size_t>(outputs) * width), m(outputs);
  for (float& v : x) v = g(rng);
  for (float& v : fn) v = g(rng) * 0.01f;
  for (auto _ : state) {
    state.range(0) == kRef ? ref::HcMixes(x.data(), width, fn.data(), outputs, 1e-6f, m.data())
                           : cpu::HcMixes(x.data(), width, fn.data(), outputs, 1e-6f, m.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPs"] = benchmark::Counter(2.0 * (outputs + 1) * width * state.iterations() / 1e9,
                                                benchmark::Counter::kIsRate);
  state.counters["threads"] = ThreadPool::Global().size();
  state.SetLabel(state.range(0) == kRef ? "ref" : cpu::TargetName());
}
BENCHMARK(BM_HcMixes)->Arg(kRef)->Arg(kFast)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
