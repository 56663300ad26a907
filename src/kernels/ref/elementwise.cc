// Scalar reference: RMSNorm, RoPE, Hadamard.
#include <cmath>

#include "base/check.h"
#include "base/numeric.h"
#include "kernels/ref/ref.h"

namespace dsv4::ref {

void RmsNorm(const float* x, int rows, int n, const float* w, float eps, float* y) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<size_t>(r) * n;
    float* yr = y + static_cast<size_t>(r) * n;
    // The mean of squares is summed in double and rounded once: PyTorch's blocked fp32 reduction
    // is closer to the exact sum than a running fp32 sum, and this matches it on the goldens.
    double ss = 0.0;
    for (int i = 0; i < n; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const float mean = static_cast<float>(ss / n);
    const float inv = 1.0f / std::sqrt(mean + eps);
    for (int i = 0; i < n; ++i) yr[i] = RoundBf16(w ? w[i] * (xr[i] * inv) : xr[i] * inv);
  }
}

void ApplyRope(float* x, int dims, const float* cos, const float* sin, bool inverse) {
  const float sign = inverse ? -1.0f : 1.0f;
  for (int i = 0; i < dims / 2; ++i) {
    const float re = x[2 * i], im = x[2 * i + 1];
    const float c = cos[i], s = sign * sin[i];
    x[2 * i] = RoundBf16(re * c - im * s);
    x[2 * i + 1] = RoundBf16(re * s + im * c);
  }
}

void Hadamard(float* x, int n) {
  DSV4_CHECK(n > 0 && (n & (n - 1)) == 0);
  for (int len = 1; len < n; len <<= 1) {
    for (int i = 0; i < n; i += 2 * len) {
      for (int j = i; j < i + len; ++j) {
        const float a = x[j], b = x[j + len];
        x[j] = a + b;
        x[j + len] = a - b;
      }
    }
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(n));
  for (int i = 0; i < n; ++i) x[i] = RoundBf16(x[i] * scale);
}

}  // namespace dsv4::ref
