// Scalar reference of the hyper-connection mixes (spec §2): sums in double, rounded once to fp32,
// the closest to the reference's blocked fp32 GEMM and mean.
#include <cmath>

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

}  // namespace dsv4::ref
