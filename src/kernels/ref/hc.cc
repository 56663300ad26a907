// Scalar reference of the hyper-connection kernels (spec §2-3). The mixes: sums in double, rounded
// once to fp32, the closest to the reference's blocked fp32 GEMM and mean. The collapse and the
// post mix: fp32 in the reference's operation order.
#include <cmath>

#include "base/numeric.h"
#include "kernels/hc.h"

namespace dsv4::ref {

void HcMixes(const float* x, int width, const float* fn, int outputs, float eps, float* m) {
  double ss = 0.0;
  for (int i = 0; i < width; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float r = 1.0f / std::sqrt(static_cast<float>(ss / width) + eps);
  for (int j = 0; j < outputs; ++j) {
    const float* row = fn + static_cast<size_t>(j) * width;
    double acc = 0.0;
    for (int i = 0; i < width; ++i) acc += static_cast<double>(x[i]) * row[i];
    m[j] = static_cast<float>(acc) * r;
  }
}

void HcCollapse(const float* X, int hc, int D, const float* pre, float* x) {
  for (int d = 0; d < D; ++d) {
    float acc = 0.0f;
    for (int j = 0; j < hc; ++j) acc += pre[j] * X[static_cast<size_t>(j) * D + d];
    x[d] = RoundBf16(acc);
  }
}

void HcPostMix(const float* x, const float* R, const float* post, const float* comb, int hc, int D,
               float* out) {
  for (int k = 0; k < hc; ++k) {
    float* o = out + static_cast<size_t>(k) * D;
    for (int d = 0; d < D; ++d) {
      float mixed = 0.0f;  // the reference sums the residual mix first, then adds post·x
      for (int j = 0; j < hc; ++j) mixed += comb[j * hc + k] * R[static_cast<size_t>(j) * D + d];
      o[d] = RoundBf16(post[k] * x[d] + mixed);
    }
  }
}

}  // namespace dsv4::ref
