// Lightning-indexer scoring throughput at the CSA decode shape of a 64K context: one query,
// 64 heads x 128 dims against 16384 compressed keys (FP4-simulated, as the cache holds them), in
// GFLOP/s (2·n·H·d per call) and as a ratio to this machine's bf16 dot-product peak (PERF.md:
// 231 GFLOP/s per thread). Variants: the scalar reference, the best SIMD target, and the best
// target without AVX-512 BF16 (the portable fp32-FMA path). Threads: the kernel pool size
// (DSV4_THREADS). Prints numbers only, never asserts on time.
#include <benchmark/benchmark.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "base/numeric.h"
#include "kernels/cpu/cpu.h"
#include "kernels/kernels.h"
#include "kernels/ref/ref.h"
#include "kernels/thread_pool.h"

namespace {

using namespace dsv4;

constexpr int64_t kKeys = 16384;  // 64K tokens / CSA ratio 4
constexpr int kHeads = 64, kDim = 128;
constexpr double kBf16PeakPerThread = 231e9;  // vdpbf16ps, PERF.md

struct Inputs {
  std::vector<float> q, w, keys;
  Inputs() : q(kHeads * kDim), w(kHeads), keys(kKeys * kDim) {
    std::mt19937 rng(5);
    std::normal_distribution<float> g(0, 1);
    auto fp4 = [&](std::vector<float>& v) {
      for (float& x : v) x = RoundBf16(g(rng));
      for (size_t r = 0; r < v.size(); r += kDim) ref::Fp4Sim(v.data() + r, kDim, 32);
    };
    fp4(q);
    fp4(keys);
    for (float& x : w) x = RoundBf16(0.01f * g(rng));
  }
};

enum Impl { kRef = 0, kFast = 1, kFastNoBf16 = 2 };

void BM_IndexerScore(benchmark::State& state) {
  static const Inputs in;
  const IndexerHeads query{.q = in.q.data(), .weights = in.w.data(), .heads = kHeads, .dim = kDim};
  std::vector<float> score(kKeys);
  const int impl = static_cast<int>(state.range(0));
  if (impl == kFastNoBf16) {
    if ((hwy::SupportedTargets() & HWY_AVX3) == 0) return state.SkipWithError("no AVX3");
    hwy::SetSupportedTargetsForTest(HWY_AVX3);  // AVX-512 without the BF16 kernels
  }
  for (auto _ : state) {
    impl == kRef ? ref::IndexerScore(query, in.keys.data(), kKeys, score.data())
                 : cpu::IndexerScore(query, in.keys.data(), kKeys, score.data());
    benchmark::ClobberMemory();
  }
  state.SetLabel(impl == kRef ? "ref" : cpu::TargetName());
  hwy::SetSupportedTargetsForTest(0);
  const double flops = 2.0 * kKeys * kHeads * kDim * state.iterations();
  const int threads = impl == kRef ? 1 : ThreadPool::Global().size();
  state.counters["GFLOPs"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsRate);
  state.counters["of_bf16_peak"] =
      benchmark::Counter(flops / (kBf16PeakPerThread * threads), benchmark::Counter::kIsRate);
  state.counters["threads"] = threads;
}
BENCHMARK(BM_IndexerScore)->Arg(kRef)->Iterations(3)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IndexerScore)
    ->Arg(kFast)
    ->Arg(kFastNoBf16)
    ->UseRealTime()
    ->MinTime(0.5)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
