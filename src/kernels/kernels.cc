// The dispatching layer of kernels.h: fast cpu/ kernels where they exist, ref/ otherwise or when
// DSV4_KERNELS=ref.
#include "kernels/kernels.h"

#include <cstdlib>
#include <cstring>

#include "base/check.h"
#include "kernels/cpu/cpu.h"
#include "kernels/cpu/gemm_onednn.h"
#include "kernels/profile.h"
#include "kernels/ref/ref.h"

namespace dsv4 {
namespace {

int CeilDiv(int a, int b) { return (a + b - 1) / b; }

double Fp4Bytes(const Fp4Weight& w) {
  return static_cast<double>(w.n) * (w.k / 2 + w.k / kFp4Block);
}
double Fp8Bytes(const Fp8Weight& w) {
  return static_cast<double>(w.n) * w.k +
         static_cast<double>(CeilDiv(w.n, kQuantBlock)) * CeilDiv(w.k, kQuantBlock);
}

// Weight bytes a group call streams: its jobs with rows (bytes: Fp8Bytes or Fp4Bytes).
template <class Job, class Bytes>
double GroupBytes(const Job* jobs, int count, Bytes bytes) {
  double total = 0;
  for (int j = 0; j < count; ++j) total += jobs[j].m > 0 ? bytes(jobs[j].w) : 0;
  return total;
}

}  // namespace

Fp8Weight Fp8Weight::Rows(int row0, int rows) const {
  DSV4_CHECK(row0 % kQuantBlock == 0 && row0 + rows <= n);
  Fp8Weight sub = *this;
  sub.w = w + static_cast<size_t>(row0) * k;
  sub.scale = scale + static_cast<size_t>(row0 / kQuantBlock) * CeilDiv(k, kQuantBlock);
  sub.n = rows;
  return sub;
}

// Read once (a process-wide setting, not a mode switch: it never changes while the process runs).
bool UseRefKernels() {
  static const bool use_ref = [] {
    const char* env = std::getenv("DSV4_KERNELS");
    return env != nullptr && std::strcmp(env, "ref") == 0;
  }();
  return use_ref;
}

const char* KernelsName() { return UseRefKernels() ? "ref" : cpu::TargetName(); }

void SetFastPrefill(bool on) { cpu::SetFastPrefill(on); }
bool FastPrefill() { return cpu::FastGemmEnabled(); }

void QuantizeE4M3(const float* x, int k, int block, float* q, float* s) {
  kernel_profile::Scope prof(KernelOp::kQuantize, 0);
  UseRefKernels() ? ref::QuantizeE4M3(x, k, block, q, s) : cpu::QuantizeE4M3(x, k, block, q, s);
}
void QuantizeE2M1(const float* x, int k, int block, float* q, float* s) {
  ref::QuantizeE2M1(x, k, block, q, s);
}
void Fp8Sim(float* x, int k, int block) { ref::Fp8Sim(x, k, block); }
void Fp4Sim(float* x, int k, int block) { ref::Fp4Sim(x, k, block); }

void LinearFp8(const float* x, int m, const Fp8Weight& w, float* y) {
  kernel_profile::Scope prof(KernelOp::kLinearFp8, Fp8Bytes(w));
  UseRefKernels() ? ref::LinearFp8(x, m, w, y) : cpu::LinearFp8(x, m, w, y);
}
void LinearFp4(const float* x, int m, const Fp4Weight& w, float* y) {
  kernel_profile::Scope prof(KernelOp::kLinearFp4, Fp4Bytes(w));
  UseRefKernels() ? ref::LinearFp4(x, m, w, y) : cpu::LinearFp4(x, m, w, y);
}
void LinearFp8Group(const Fp8Job* jobs, int count) {
  kernel_profile::Scope prof(KernelOp::kLinearFp8, GroupBytes(jobs, count, Fp8Bytes));
  if (!UseRefKernels()) return cpu::LinearFp8Group(jobs, count);
  for (int j = 0; j < count; ++j) ref::LinearFp8(jobs[j].x, jobs[j].m, jobs[j].w, jobs[j].y);
}
void LinearFp4Group(const Fp4Job* jobs, int count) {
  kernel_profile::Scope prof(KernelOp::kLinearFp4, GroupBytes(jobs, count, Fp4Bytes));
  if (!UseRefKernels()) return cpu::LinearFp4Group(jobs, count);
  for (int j = 0; j < count; ++j) ref::LinearFp4(jobs[j].x, jobs[j].m, jobs[j].w, jobs[j].y);
}
void LinearFp8AsBf16(const float* x, int m, const Fp8Weight& w, float* y) {
  kernel_profile::Scope prof(KernelOp::kLinearFp8AsBf16, Fp8Bytes(w));
  UseRefKernels() ? ref::LinearFp8AsBf16(x, m, w, y) : cpu::LinearFp8AsBf16(x, m, w, y);
}
void LinearFp8AsBf16Group(const Fp8Job* jobs, int count) {
  kernel_profile::Scope prof(KernelOp::kLinearFp8AsBf16, GroupBytes(jobs, count, Fp8Bytes));
  if (!UseRefKernels()) return cpu::LinearFp8AsBf16Group(jobs, count);
  for (int j = 0; j < count; ++j) {
    ref::LinearFp8AsBf16(jobs[j].x, jobs[j].m, jobs[j].w, jobs[j].y);
  }
}
void LinearBf16(const float* x, int m, const Bf16Weight& w, float* y, bool round_bf16) {
  kernel_profile::Scope prof(KernelOp::kLinearBf16, 2.0 * w.n * w.k);
  UseRefKernels() ? ref::LinearBf16(x, m, w, y, round_bf16)
                  : cpu::LinearBf16(x, m, w, y, round_bf16);
}

void RmsNorm(const float* x, int rows, int n, const float* w, float eps, float* y) {
  kernel_profile::Scope prof(KernelOp::kRmsNorm, 0);
  ref::RmsNorm(x, rows, n, w, eps, y);
}
void ApplyRope(float* x, int dims, const float* cos, const float* sin, bool inverse) {
  kernel_profile::Scope prof(KernelOp::kRope, 0);
  ref::ApplyRope(x, dims, cos, sin, inverse);
}
void Hadamard(float* x, int n) {
  kernel_profile::Scope prof(KernelOp::kHadamard, 0);
  ref::Hadamard(x, n);
}

void SparseAttention(const float* q, int heads, int dim, const float* const* kv_rows, int n_slots,
                     const float* sink, float scale, float* out) {
  kernel_profile::Scope prof(KernelOp::kSparseAttention, 0);
  UseRefKernels() ? ref::SparseAttention(q, heads, dim, kv_rows, n_slots, sink, scale, out)
                  : cpu::SparseAttention(q, heads, dim, kv_rows, n_slots, sink, scale, out);
}

void IndexerScore(const IndexerHeads& query, const float* keys, int64_t n, float* score) {
  // Bytes: the fp32 keys streamed (the cache's indexer entries).
  kernel_profile::Scope prof(KernelOp::kIndexerScore, 4.0 * n * query.dim);
  UseRefKernels() ? ref::IndexerScore(query, keys, n, score)
                  : cpu::IndexerScore(query, keys, n, score);
}

}  // namespace dsv4
