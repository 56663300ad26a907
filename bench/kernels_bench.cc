// Linear-kernel throughput on V4-Flash shapes, scalar reference vs SIMD, in bytes of packed weights
// (codes + scales) read per second, and as a ratio to this machine's own DRAM read bandwidth
// (a streaming sum over 1 GiB, measured first with the same thread count). Threads: the kernel pool
// size (DSV4_THREADS); run once with DSV4_THREADS=1 and once with 2. Several copies of each weight
// are cycled so every call streams from DRAM, as decode does (no weight fits in L3 twice).
// Prints numbers only, never asserts on time.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/numeric.h"
#include "kernels/cpu/cpu.h"
#include "kernels/kernels.h"
#include "kernels/ref/ref.h"
#include "kernels/thread_pool.h"

namespace {

using namespace dsv4;

constexpr size_t kStreamBytes = size_t{1} << 30;   // 1 GiB: far past the 32 MiB L3
constexpr size_t kCycleBytes = size_t{256} << 20;  // weight copies cycled per benchmark

void FillRandom(uint8_t* p, size_t n, uint64_t seed) {
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
  for (size_t i = 0; i < n; i += 8) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    std::memcpy(p + i, &s, std::min<size_t>(8, n - i));
  }
}

// Sum of 64-bit words over [begin, end): a read-only stream.
uint64_t SumWords(const uint64_t* p, size_t words) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i + 4 <= words; i += 4) a += p[i], b += p[i + 1], c += p[i + 2], d += p[i + 3];
  return a + b + c + d;
}

struct StreamBuffer {
  std::unique_ptr<uint64_t[]> words{new uint64_t[kStreamBytes / 8]};
  StreamBuffer() { FillRandom(reinterpret_cast<uint8_t*>(words.get()), kStreamBytes, 7); }
};

StreamBuffer& Stream() {
  static StreamBuffer b;
  return b;
}

// One pass over the 1 GiB buffer split across `threads` threads; returns bytes per second.
double StreamPass(int threads) {
  const uint64_t* p = Stream().words.get();
  const size_t words = kStreamBytes / 8;
  std::vector<uint64_t> sums(threads);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const size_t b = words * t / threads, e = words * (t + 1) / threads;
      sums[t] = SumWords(p + b, e - b);
    });
  }
  for (auto& th : pool) th.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  benchmark::DoNotOptimize(sums);
  return kStreamBytes / s;
}

// The DRAM read ceiling at the kernel pool's thread count: best of 3 passes.
double DramReadBytesPerSecond() {
  static const double bw = [] {
    const int threads = ThreadPool::Global().size();
    double best = 0;
    for (int i = 0; i < 3; ++i) best = std::max(best, StreamPass(threads));
    return best;
  }();
  return bw;
}

void BM_StreamRead(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  Stream();
  double best = 0;
  for (auto _ : state) best = std::max(best, StreamPass(threads));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kStreamBytes));
  state.counters["best_GBps"] = best / 1e9;
}
BENCHMARK(BM_StreamRead)
    ->Arg(1)
    ->Arg(2)
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// `copies` weights of `bytes_each` (codes then scales) in one allocation.
struct WeightCopies {
  std::vector<uint8_t> data;
  size_t bytes_each = 0;
  int copies = 0;
  WeightCopies(size_t bytes, uint64_t seed) : bytes_each(bytes) {
    copies = static_cast<int>(std::max<size_t>(2, kCycleBytes / bytes));
    data.resize(bytes * copies);
    FillRandom(data.data(), data.size(), seed);
  }
  uint8_t* at(int i) { return data.data() + static_cast<size_t>(i % copies) * bytes_each; }
};

// kFastPrefill: the fast kernels in fast-prefill mode (kernels.h; oneDNN from 64 rows).
enum Impl { kRef = 0, kFast = 1, kFastPrefill = 2 };

// Sets fast-prefill mode for one benchmark run (kFastPrefill) and restores the default after.
struct FastPrefillScope {
  explicit FastPrefillScope(const benchmark::State& state) {
    SetFastPrefill(state.range(0) == kFastPrefill);
  }
  ~FastPrefillScope() { SetFastPrefill(false); }
};

void Report(benchmark::State& state, size_t weight_bytes) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * weight_bytes));
  const double bytes = static_cast<double>(state.iterations()) * weight_bytes;
  // Rate counters are divided by the (real) time of the run.
  state.counters["weight_GBps"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsRate);
  state.counters["of_dram"] =
      benchmark::Counter(bytes / DramReadBytesPerSecond(), benchmark::Counter::kIsRate);
  state.counters["threads"] = ThreadPool::Global().size();
  state.SetLabel(state.range(0) == kRef           ? "ref"
                 : state.range(0) == kFastPrefill ? std::string(cpu::TargetName()) + " fast-prefill"
                                                  : std::string(cpu::TargetName()));
}

// MXFP4 expert w1 of V4-Flash: [2048, 4096] with m activation rows (1: the decode hot path; 192:
// one expert's share of a 512-token prefill, 6 of 16 experts per token).
void Fp4Bench(benchmark::State& state, int m) {
  const int n = 2048, k = 4096;
  const size_t codes = size_t{1} * n * k / 2, scales = size_t{1} * n * k / 32;
  WeightCopies w(codes + scales, 1);
  // Valid e8m0 scales (no NaN) around 2^-8, as in checkpoints.
  for (int c = 0; c < w.copies; ++c) {
    for (size_t i = 0; i < scales; ++i) w.at(c)[codes + i] = static_cast<uint8_t>(116 + i % 8);
  }
  std::vector<float> x(static_cast<size_t>(m) * k), y(static_cast<size_t>(m) * n);
  for (size_t i = 0; i < x.size(); ++i) x[i] = RoundBf16(std::sin(0.37f * static_cast<float>(i)));
  DramReadBytesPerSecond();
  const FastPrefillScope mode(state);
  int it = 0;
  for (auto _ : state) {
    const Fp4Weight wt{w.at(it), w.at(it) + codes, n, k};
    state.range(0) == kRef ? ref::LinearFp4(x.data(), m, wt, y.data())
                           : cpu::LinearFp4(x.data(), m, wt, y.data());
    benchmark::ClobberMemory();
    ++it;
  }
  Report(state, codes + scales);
  state.counters["GFLOPs"] =
      benchmark::Counter(2.0 * m * n * k * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}
void BM_Fp4Gemv(benchmark::State& state) { Fp4Bench(state, 1); }
void BM_Fp4Gemm192(benchmark::State& state) { Fp4Bench(state, 192); }
BENCHMARK(BM_Fp4Gemv)
    ->Arg(kRef)
    ->Arg(kFast)
    ->UseRealTime()
    ->MinTime(0.5)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Fp4Gemm192)->Arg(kRef)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Fp4Gemm192)
    ->Arg(kFast)
    ->Arg(kFastPrefill)
    ->UseRealTime()
    ->MinTime(0.5)
    ->Unit(benchmark::kMillisecond);

// FP8 [4096, 8192] with m activation rows (1: GEMV; 64: a small GEMM, prefill chunk / batch).
void Fp8Bench(benchmark::State& state, int m) {
  const int n = 4096, k = 8192;
  const size_t codes = size_t{1} * n * k, scales = size_t{1} * (n / 128) * (k / 128);
  WeightCopies w(codes + scales, 2);
  for (int c = 0; c < w.copies; ++c) {
    uint8_t* p = w.at(c);
    for (size_t i = 0; i < codes; ++i) {
      if ((p[i] & 0x7f) == 0x7f) p[i] ^= 1;  // no NaN codes
    }
    for (size_t i = 0; i < scales; ++i) p[codes + i] = static_cast<uint8_t>(116 + i % 8);
  }
  std::vector<float> x(static_cast<size_t>(m) * k), y(static_cast<size_t>(m) * n);
  for (size_t i = 0; i < x.size(); ++i) x[i] = RoundBf16(std::sin(0.37f * i));
  DramReadBytesPerSecond();
  const FastPrefillScope mode(state);
  int it = 0;
  for (auto _ : state) {
    const Fp8Weight wt{w.at(it), w.at(it) + codes, n, k};
    state.range(0) == kRef ? ref::LinearFp8(x.data(), m, wt, y.data())
                           : cpu::LinearFp8(x.data(), m, wt, y.data());
    benchmark::ClobberMemory();
    ++it;
  }
  Report(state, codes + scales);
  state.counters["GFLOPs"] =
      benchmark::Counter(2.0 * m * n * k * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}
void BM_Fp8Gemv(benchmark::State& state) { Fp8Bench(state, 1); }
void BM_Fp8Gemm64(benchmark::State& state) { Fp8Bench(state, 64); }
BENCHMARK(BM_Fp8Gemv)
    ->Arg(kRef)
    ->Arg(kFast)
    ->UseRealTime()
    ->MinTime(0.5)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Fp8Gemm64)->Arg(kRef)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Fp8Gemm64)
    ->Arg(kFast)
    ->Arg(kFastPrefill)
    ->UseRealTime()
    ->MinTime(0.5)
    ->Unit(benchmark::kMillisecond);

// BF16 [4096, 4096] GEMV with fp32 out (compressor, gate and lm-head form).
void BM_Bf16Gemv(benchmark::State& state) {
  const int n = 4096, k = 4096;
  const size_t bytes = size_t{2} * n * k;
  WeightCopies w(bytes, 3);
  for (int c = 0; c < w.copies; ++c) {
    uint16_t* p = reinterpret_cast<uint16_t*>(w.at(c));
    for (size_t i = 0; i < bytes / 2; ++i)
      p[i] = static_cast<uint16_t>(0x3c00 + (p[i] & 0x7ff) + (p[i] & 0x8000));
  }
  // bf16-valued activations, as the model passes (RMSNorm outputs): on AVX-512 BF16 the
  // vdpbf16ps kernel; fp32 activations would take the fp32-FMA kernel.
  std::vector<float> x(k), y(n);
  for (int i = 0; i < k; ++i) x[i] = RoundBf16(std::sin(0.37f * i));
  DramReadBytesPerSecond();
  int it = 0;
  for (auto _ : state) {
    const Bf16Weight wt{reinterpret_cast<const uint16_t*>(w.at(it)), n, k};
    state.range(0) == kRef ? ref::LinearBf16(x.data(), 1, wt, y.data(), false)
                           : cpu::LinearBf16(x.data(), 1, wt, y.data(), false);
    benchmark::ClobberMemory();
    ++it;
  }
  Report(state, bytes);
}
BENCHMARK(BM_Bf16Gemv)
    ->Arg(kRef)
    ->Arg(kFast)
    ->UseRealTime()
    ->MinTime(0.5)
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
