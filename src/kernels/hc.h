// Kernels of the hyper-connections (spec §2), with the same dispatch as kernels.h: cpu/ (Highway)
// unless DSV4_KERNELS=ref, ref/ the scalar twin.
#pragma once

namespace dsv4 {

// m[j] = (x · fn[j]) · rsqrt(mean(x²) + eps) for the `outputs` rows of fn [outputs, width]: the
// weightless RMSNorm of the flattened streams folded into the mixing GEMM. Sums in double, rounded
// once to fp32 (the closest to the reference's blocked fp32 GEMM and mean).
void HcMixes(const float* x, int width, const float* fn, int outputs, float eps, float* m);

// One token's streams X [hc, D] collapsed with weights pre [hc]: x[d] = bf16(Σ_j pre[j]·X[j, d])
// (HC_pre's x and the head's y, spec §3.1), fp32, each product rounded, summed in stream order.
void HcCollapse(const float* X, int hc, int D, const float* pre, float* x);

// HC_post for one token (spec §3.2): out[k, d] = bf16(post[k]·x[d] + Σ_j comb[j, k]·R[j, d]),
// x [D], R [hc, D] → out [hc, D]; fp32, the residual mix summed first in stream order, then post·x
// added, every product and sum rounded (no fused multiply-add).
void HcPostMix(const float* x, const float* R, const float* post, const float* comb, int hc, int D,
               float* out);

namespace ref {
void HcMixes(const float* x, int width, const float* fn, int outputs, float eps, float* m);
void HcCollapse(const float* X, int hc, int D, const float* pre, float* x);
void HcPostMix(const float* x, const float* R, const float* post, const float* comb, int hc, int D,
               float* out);
}  // namespace ref
namespace cpu {
// Threads over the rows; equals ref except where the double sum's order moves an fp32 rounding.
void HcMixes(const float* x, int width, const float* fn, int outputs, float eps, float* m);
// Vectorized over d; the same operations per element as ref, so bit for bit equal.
void HcCollapse(const float* X, int hc, int D, const float* pre, float* x);
void HcPostMix(const float* x, const float* R, const float* post, const float* comb, int hc, int D,
               float* out);
}  // namespace cpu

}  // namespace dsv4
