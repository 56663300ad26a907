// The compute interface of dsv4: every numeric primitive the model uses, with the reference's
// rounding points as contracts. Two implementations coexist:
//   kernels/ref/  namespace dsv4::ref — scalar, the executable spec (kernels/ref/ref.h);
//   kernels/cpu/  namespace dsv4::cpu — SIMD (Highway, runtime dispatch to the best compiled
//   target).
// The functions below dispatch: to cpu/ where a fast version exists, else to ref/. DSV4_KERNELS=ref
// in the environment (read once, at the first call) forces the scalar path everywhere.
// Fast versions reproduce the reference numerics (same quantization, same exact products, same
// scale points, same bf16 rounding); only the order of the fp32 additions may differ, so an output
// equals ref or is 1 bf16 ulp away — or, for a cancelling sum (result far below Σ|x·w|), differs
// by at most ~k fp32 roundings of Σ|x·w| (tests/kernels checks both, and that those are rare).
// FP8/FP4 scales are powers of two, so the fast kernels fold them into the operands (each output
// one dot product of exact products, the reference's per-block partials times s_x·s_w
// re-associated) wherever that is exact, and keep the per-block form where it is not
// (docs/kernels.md).
//
// Activations are fp32 arrays; "bf16 out" means every element is rounded to a bf16 value (still
// held in fp32), exactly where the reference stores a bf16 tensor. Shapes are row-major.
#pragma once

#include <cstdint>

namespace dsv4 {

constexpr int kQuantBlock = 128;  // FP8 weight block (128x128) and activation block (per 128 of K)
constexpr int kFp4Block = 32;     // MXFP4 scale block along K

// FP8 e4m3 weight [n, k] with e8m0 scales [ceil(n/128), ceil(k/128)].
struct Fp8Weight {
  const uint8_t* w = nullptr;
  const uint8_t* scale = nullptr;
  int n = 0, k = 0;
  // Rows [row0, row0 + rows) as a weight of their own (row0 must be a multiple of 128).
  Fp8Weight Rows(int row0, int rows) const;
};

// MXFP4 weight [n, k]: bytes [n, k/2] (element 2i in the low nibble), e8m0 scales [n, k/32].
struct Fp4Weight {
  const uint8_t* w = nullptr;
  const uint8_t* scale = nullptr;
  int n = 0, k = 0;
};

// BF16 weight [n, k] (raw bit patterns).
struct Bf16Weight {
  const uint16_t* w = nullptr;
  int n = 0, k = 0;
};

// ---- quantization (spec §7.2, §7.3) ----

// Per block of `block` values: s = 2^ceil(log2(max(amax, floor) / max_code)) (UE8M0);
// q = round(clamp(x / s, -max_code, max_code)) to e4m3 (max_code 448) or e2m1 (6). Writes the
// rounded codes' values to q[k] and the scales to s[ceil(k/block)].
void QuantizeE4M3(const float* x, int k, int block, float* q, float* s);
void QuantizeE2M1(const float* x, int k, int block, float* q, float* s);
// In-place quantize→dequantize with bf16 output (FP8_sim, amax floor 1e-4; FP4_sim, floor
// 6·2^-126).
void Fp8Sim(float* x, int k, int block);
void Fp4Sim(float* x, int k, int block);

// ---- linear layers: y[m, n] = x[m, k] · W[n, k]^T ----

// FP8 weight, activation quantized to e4m3 per 128 (UE8M0), fp32 partial sum per 128-block of K
// scaled by s_x·s_w into an fp32 accumulator; bf16 out.
void LinearFp8(const float* x, int m, const Fp8Weight& w, float* y);
// MXFP4 weight, activation e4m3 per 128; fp32 partial sums per 32-block scaled by s_x·s_w; bf16
// out.
void LinearFp4(const float* x, int m, const Fp4Weight& w, float* y);
// FP8 weight dequantized exactly to bf16 (as convert.py does for wo_a), bf16 activation NOT
// quantized (x is rounded to bf16, a no-op for the model's bf16 tensors); fp32 accumulate, bf16
// out.
void LinearFp8AsBf16(const float* x, int m, const Fp8Weight& w, float* y);
// One linear of a group: y[m, n] = x[m, k] · W[n, k]^T.
template <class Weight>
struct LinearJob {
  const float* x = nullptr;
  int m = 0;
  Weight w;
  float* y = nullptr;
};
using Fp8Job = LinearJob<Fp8Weight>;
using Fp4Job = LinearJob<Fp4Weight>;
// Independent linears (w1 and w3 of every routed expert of a step, ...) as one parallel pass: each
// output equals the single call's bit for bit, and the rows of all jobs are split over the threads
// together, so many small matrices still keep every thread streaming.
void LinearFp8Group(const Fp8Job* jobs, int count);
void LinearFp4Group(const Fp4Job* jobs, int count);
// LinearFp8AsBf16 of independent jobs (wo_a's groups at decode) as one parallel pass, likewise.
void LinearFp8AsBf16Group(const Fp8Job* jobs, int count);
// BF16 weight, fp32 accumulate. round_bf16: bf16 out (a bf16 GEMM); else fp32 out (the reference
// upcasts weight and input to fp32: compressor wkv/wgate, gate, head). Activations that are all
// bf16 values (the model's: RMSNorm outputs) have exact products with the weights and run on
// `vdpbf16ps` where the CPU has it (which reads bf16 subnormals as zero); others in fp32 FMAs.
void LinearBf16(const float* x, int m, const Bf16Weight& w, float* y, bool round_bf16);

// ---- normalization, rotary, transforms ----

// y = bf16(w ⊙ (x · rsqrt(mean(x²) + eps))), per row of n; fp32 math. w == nullptr: weightless.
void RmsNorm(const float* x, int rows, int n, const float* w, float eps, float* y);

// Interleaved-pair rotation of a `dims`-wide slice: (x[2i], x[2i+1]) *= e^{±j·angle_i}, fp32 math,
// bf16 out. cos/sin hold dims/2 values for this position. inverse: conjugate rotation.
void ApplyRope(float* x, int dims, const float* cos, const float* sin, bool inverse);

// Fast Walsh–Hadamard transform (Sylvester order) of n = 2^p values, times 1/sqrt(n); bf16 out.
void Hadamard(float* x, int n);

// ---- attention ----

// Sparse attention with sink for one query token (spec §4.3). For each head h of q [heads, dim]:
// over the rows kv[idx[j]] (idx[j] < 0 = unused slot), s_j = (q_h · k_j) · scale; online softmax in
// fp32 over blocks of 64 list slots, probabilities rounded to bf16 for P·V (fp32 accumulate); the
// sink adds exp(sink[h] − m) to the denominator only; out [heads, dim] bf16. kv_rows[j] points at
// the row of list slot j (nullptr = unused slot), so a ring + compressed cache needs no copies.
void SparseAttention(const float* q, int heads, int dim, const float* const* kv_rows, int n_slots,
                     const float* sink, float scale, float* out);

// ---- lightning indexer (spec §4.6) ----

// One indexer query: FP4-simulated q [heads, dim] and its head weights [heads].
struct IndexerHeads {
  const float* q = nullptr;
  const float* weights = nullptr;
  int heads = 0, dim = 0;
};
// score[i] = bf16(Σ_h bf16(relu(bf16(q_h · keys[i])) · weights[h])) for the n keys [n, dim]:
// each q_h · k an fp32 sum in dimension order, the head terms summed in head order in fp32.
// Contract for the fast version: q and keys are FP4-simulated (e2m1 × power-of-two scale), so every
// product is exact in fp32; it then equals ref bit for bit, for any thread count.
void IndexerScore(const IndexerHeads& query, const float* keys, int64_t n, float* score);

// Which implementation the dispatching functions above use: "ref" when DSV4_KERNELS=ref, else
// "cpu:<Highway target>" (e.g. "cpu:AVX3_DL+BF16"). For logs and benchmarks.
const char* KernelsName();
// True when DSV4_KERNELS=ref: every dispatching function (here and in kernels/hc.h) uses ref/.
bool UseRefKernels();

// ---- fast prefill (opt-in) ----
// Every fast linear path adds the products of an output in one fixed order whatever m is, so a
// row's output never depends on how many rows share the call: batched decode equals separate
// decodes, and a prompt prefilled in chunks equals one prefilled at once, bit for bit. Fast-prefill
// mode gives that up from 64 activation rows: there the linears run on oneDNN where it is built in
// (cpu/gemm_onednn.h: its bf16 brgemm on AVX-512 BF16, its fp32 sgemm on every other CPU), fp32
// sums of the same exact products in oneDNN's own order: in the linear layers of a 512-token
// prefill ~10% faster on a 2-core Zen 4, ~20-40% on a 2-core Zen 3 (docs/kernels.md); a row's last
// bits then depend on the rows beside it and on the thread count. On: DSV4_FAST_PREFILL=1,
// `--fast-prefill` (bench, serve), or this call (before or between forwards).
void SetFastPrefill(bool on);
bool FastPrefill();

}  // namespace dsv4
