// Scalar reference: RMSNorm, RoPE, Hadamard.
#include <cmath>

#include "base/check.h"
#include "base/numeric.h"
#include "kernels/kernels.h"

namespace dsv4 {

void RmsNorm(const float* x, int rows, int n, const float* w, float eps, float* y) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<size_t>(r) * n;
    float* yr = y + static_cast<size_t>(r) * n;
    float ss = 0.0f;
    for (int i = 0; i < n; ++i) ss += xr[i] * xr[i];
    const float inv = 1.0f / std::sqrt(ss / n + eps);
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

}  // namespace dsv4
