// Scalar reference kernels: the executable spec of every primitive in kernels/kernels.h, with the
// same signatures and contracts (see there). Plain loops in the reference's order of operations;
// tests/kernels compares every fast kernel against these, and the golden checks pass with them.
#pragma once

#include "kernels/kernels.h"

namespace dsv4::ref {

void QuantizeE4M3(const float* x, int k, int block, float* q, float* s);
void QuantizeE2M1(const float* x, int k, int block, float* q, float* s);
void Fp8Sim(float* x, int k, int block);
void Fp4Sim(float* x, int k, int block);

void LinearFp8(const float* x, int m, const Fp8Weight& w, float* y);
void LinearFp4(const float* x, int m, const Fp4Weight& w, float* y);
void LinearFp8AsBf16(const float* x, int m, const Fp8Weight& w, float* y);
void LinearBf16(const float* x, int m, const Bf16Weight& w, float* y, bool round_bf16);

void RmsNorm(const float* x, int rows, int n, const float* w, float eps, float* y);
void ApplyRope(float* x, int dims, const float* cos, const float* sin, bool inverse);
void Hadamard(float* x, int n);

void SparseAttention(const float* q, int heads, int dim, const float* const* kv_rows, int n_slots,
                     const float* sink, float scale, float* out);

void IndexerScore(const IndexerHeads& query, const float* keys, int64_t n, float* score);

}  // namespace dsv4::ref
