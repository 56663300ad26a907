// The machine's dot-product peak, measured rather than taken from a data sheet: the instruction
// the linear kernels multiply with (`vdpbf16ps` where the AVX-512 BF16 kernels run, else the
// portable kernels' fp32 fused multiply-add), issued back to back on T threads with every operand in
// a register and enough independent accumulators to cover its latency. `dsv4 bench` divides the
// prefill's GFLOP/s inside the linear kernels by this number, as it divides decode bandwidth by its
// read probe: on a shared VM the ceiling is what the host and the neighbours leave (clock, steal),
// not cores x nominal GHz x flops per cycle.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/peak.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep (must precede highway.h)
#include <hwy/highway.h>
#include <immintrin.h>  // vdpbf16ps (Highway 1.0.3 has no op for it)

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "kernels/cpu/cpu.h"

#ifndef DSV4_KERNELS_CPU_PEAK_SHARED
#define DSV4_KERNELS_CPU_PEAK_SHARED
namespace dsv4::cpu::detail {
// Independent accumulators per thread: the instructions' latency (vdpbf16ps ~6 cycles on Zen 4,
// FMA 4) times their issue rate (1–2 per cycle) stays below it, so the loop is throughput-bound.
constexpr int kPeakChains = 12;
// Loop iterations per pass (kPeakChains instructions each): ~30–60 ms at one instruction a cycle.
constexpr int64_t kPeakIters = int64_t{1} << 23;
}  // namespace dsv4::cpu::detail
#endif

HWY_BEFORE_NAMESPACE();
namespace dsv4::cpu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using detail::kPeakChains;

// One thread's loop; returns its flops. `seed` (0 in practice, unknown to the compiler) keeps the
// operands opaque; the accumulators' sum goes to *sink so the loop cannot be dropped.
#define DSV4_PEAK_CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
static_assert(kPeakChains == 12, "DSV4_PEAK_CHAINS lists 12 accumulators");

double PortableLoop(int64_t iters, float seed, float* sink) {
  const hn::ScalableTag<float> d;
  const auto a = hn::Set(d, 1.0f + seed), b = hn::Set(d, 0.5f * seed);
#define DSV4_DECL(i) auto acc##i = hn::Set(d, seed * (i));
#define DSV4_STEP(i) acc##i = hn::MulAdd(a, acc##i, b);
#define DSV4_SUM(i) total = hn::Add(total, acc##i);
  DSV4_PEAK_CHAINS(DSV4_DECL)
  for (int64_t n = 0; n < iters; ++n) {
    DSV4_PEAK_CHAINS(DSV4_STEP)
  }
  auto total = hn::Zero(d);
  DSV4_PEAK_CHAINS(DSV4_SUM)
  *sink = hn::GetLane(hn::SumOfLanes(d, total));
  return 2.0 * static_cast<double>(hn::Lanes(d)) * kPeakChains * static_cast<double>(iters);
}

#if HWY_TARGET == HWY_AVX3_DL
#define DSV4_PEAK_BF16_ATTR __attribute__((target(HWY_TARGET_STR ",avx512bf16")))
DSV4_PEAK_BF16_ATTR double Bf16Loop(int64_t iters, float seed, float* sink) {
  const __m512bh a = (__m512bh)_mm512_set1_epi16(static_cast<int16_t>(0x3f80 + seed));
  const __m512bh b = (__m512bh)_mm512_set1_epi16(static_cast<int16_t>(0x3c00 + seed));
#define DSV4_DECL_BF16(i) __m512 acc##i = _mm512_set1_ps(seed * (i));
#define DSV4_STEP_BF16(i) acc##i = _mm512_dpbf16_ps(acc##i, a, b);
#define DSV4_SUM_BF16(i) total = _mm512_add_ps(total, acc##i);
  DSV4_PEAK_CHAINS(DSV4_DECL_BF16)
  for (int64_t n = 0; n < iters; ++n) {
    DSV4_PEAK_CHAINS(DSV4_STEP_BF16)
  }
  __m512 total = _mm512_setzero_ps();
  DSV4_PEAK_CHAINS(DSV4_SUM_BF16)
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, total);
  *sink = lanes[0] + lanes[15];
  return 64.0 * kPeakChains * static_cast<double>(iters);  // 32 products + 32 adds each
}
#endif

DotPeak MeasureDotPeakImpl(int threads, int passes, float seed) {
  bool bf16 = false;
#if HWY_TARGET == HWY_AVX3_DL
  bf16 = __builtin_cpu_supports("avx512bf16");
#endif
  DotPeak peak;
  peak.op = bf16 ? "vdpbf16ps (AVX-512 BF16)" : "fp32 FMA (Highway MulAdd)";
  threads = std::max(threads, 1);
  std::vector<float> sinks(static_cast<size_t>(threads) * 16);  // a cache line each
  for (int pass = 0; pass < passes; ++pass) {
    std::vector<double> flops(threads);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        float* sink = &sinks[static_cast<size_t>(t) * 16];
#if HWY_TARGET == HWY_AVX3_DL
        if (bf16) {
          flops[t] = Bf16Loop(detail::kPeakIters, seed, sink);
          return;
        }
#endif
        flops[t] = PortableLoop(detail::kPeakIters, seed, sink);
      });
    }
    for (std::thread& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double total = 0;
    for (double f : flops) total += f;
    peak.gflops = std::max(peak.gflops, total / s / 1e9);
  }
  return peak;
}

}  // namespace HWY_NAMESPACE
}  // namespace dsv4::cpu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace dsv4::cpu {

HWY_EXPORT(MeasureDotPeakImpl);

DotPeak MeasureDotPeak(int threads, int passes) {
  // Always 0, but read through a volatile so the compiler cannot fold the loops' operands.
  static volatile float seed = 0.0f;
  return HWY_DYNAMIC_DISPATCH(MeasureDotPeakImpl)(threads, passes, seed);
}

}  // namespace dsv4::cpu
#endif  // HWY_ONCE
