// Kernels of the hyper-connections (spec §2), with the same dispatch as kernels.h: cpu/ (Highway)
// unless DSV4_KERNELS=ref, ref/ the scalar twin.
#pragma once

namespace dsv4 {

// m[j] = (x · fn[j]) · rsqrt(mean(x²) + eps) for the `outputs` rows of fn [outputs, width]: the
// weightless RMSNorm of the flattened streams folded into the mixing GEMM. Sums in double, rounded
// once to fp32 (the closest to the reference's blocked fp32 GEMM and mean).
void HcMixes(const float* x, int width, const float* fn, int outputs, float eps, float* m);

namespace ref {
void HcMixes(const float* x, int width, const float* fn, int outputs, float eps, float* m);
}
namespace cpu {
// Threads over the rows; equals ref except where the double sum's order moves an fp32 rounding.
void HcMixes(const float* x, int width, const float* fn, int outputs, float eps, float* m);
}

}  // namespace dsv4
