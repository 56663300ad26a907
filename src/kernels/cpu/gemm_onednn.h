// The prefill GEMM on oneDNN (Debian's libdnnl 2.6, its brgemm kernels for AVX-512 BF16), opt-in:
// bf16 operands, fp32 out, for the decoded weight rows and the prepared activations of the linear
// kernels once a call has kFastGemmMinRows activation rows or more. What it gains and what it
// costs in batch invariance: kernels.h ("fast prefill") and docs/kernels.md.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dsv4::cpu {

// Activation rows from which the GEMM paths take oneDNN in fast-prefill mode. Below it (decode,
// small batches) every path keeps the one summation order of the matrix-vector kernels.
constexpr int kFastGemmMinRows = 64;

// True when oneDNN is built in and fast-prefill mode is on: DSV4_FAST_PREFILL=1 in the
// environment (read at the first call) or SetFastPrefill(true).
bool FastGemmEnabled();
void SetFastPrefill(bool on);

// c[i·m + j] = Σ_t w[i·ws + t] · x[j·xs + t] for i < rows, j < m, t < k: bf16 bit patterns in,
// fp32 sums of the exact products out in oneDNN's order, on the calling thread only (c: rows × m,
// the transpose of the linear's y block). False (nothing written) when oneDNN is unavailable or
// offers no brgemm kernel for the shape.
bool OneDnnGemmBf16(const uint16_t* w, size_t ws, int rows, const uint16_t* x, size_t xs, int m,
                    int k, float* c);

// y[j·ys + i] = Σ_t w[i·ws + t] · x[j·xs + t] for i < rows, j < m, t < k: fp32 in and out,
// written straight into y, sums in the order of oneDNN's own sgemm (its jit kernels pick AVX2 or
// AVX-512 at run time), on the calling thread only. The fast-prefill GEMM of the targets without
// AVX-512 BF16 (linear_sgemm-inl.h). False (nothing written) when oneDNN is unavailable.
bool OneDnnSgemm(const float* w, size_t ws, int rows, const float* x, size_t xs, int m, int k,
                 float* y, size_t ys);

// OneDnnGemmBf16 and OneDnnSgemm calls that ran on oneDNN since the process started (tests: the
// path is taken).
int64_t OneDnnGemmCalls();

}  // namespace dsv4::cpu
