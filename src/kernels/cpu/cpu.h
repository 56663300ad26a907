// SIMD kernels (Highway, dynamic dispatch over the compiled targets), same signatures and contracts
// as kernels/kernels.h. Each has its scalar twin in kernels/ref/ and a test against it.
#pragma once

#include "kernels/kernels.h"

namespace dsv4::cpu {

// Bit-identical to ref::QuantizeE4M3 (the activation quantization of every FP8/FP4 linear).
void QuantizeE4M3(const float* x, int k, int block, float* q, float* s);

void LinearFp8(const float* x, int m, const Fp8Weight& w, float* y);
void LinearFp4(const float* x, int m, const Fp4Weight& w, float* y);
void LinearFp8AsBf16(const float* x, int m, const Fp8Weight& w, float* y);
void LinearBf16(const float* x, int m, const Bf16Weight& w, float* y, bool round_bf16);
void LinearFp8Group(const Fp8Job* jobs, int count);
void LinearFp8AsBf16Group(const Fp8Job* jobs, int count);
void LinearFp4Group(const Fp4Job* jobs, int count);

// Heads split over the thread pool; equals ref except for the q·k summation order.
void SparseAttention(const float* q, int heads, int dim, const float* const* kv_rows, int n_slots,
                     const float* sink, float scale, float* out);

// Keys split over the thread pool in blocks of 16; bit-identical to ref on FP4-simulated inputs
// (cpu/indexer.cc).
void IndexerScore(const IndexerHeads& query, const float* keys, int64_t n, float* score);

// The machine's dot-product peak, measured: the multiply instruction the linear kernels use on
// this CPU, back to back on `threads` threads with operands in registers, best of `passes`
// (~50 ms each). What `dsv4 bench` reports prefill against (cpu/peak.cc).
struct DotPeak {
  double gflops = 0;
  const char* op = "";  // the instruction measured
};
DotPeak MeasureDotPeak(int threads, int passes = 3);

// The Highway target the calls above dispatch to now, "+BF16" when the AVX-512 BF16/VBMI kernels
// run (e.g. "AVX3_DL+BF16").
const char* TargetName();

}  // namespace dsv4::cpu
