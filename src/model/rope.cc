#include "model/rope.h"

#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"

namespace dsv4 {
namespace {

// YaRN correction dimension for `rotations` full turns over the original context.
float CorrectionDim(float rotations, int dims, float base, int original_seq_len) {
  return dims * std::log(original_seq_len / (rotations * 2.0f * static_cast<float>(M_PI))) /
         (2.0f * std::log(base));
}

}  // namespace

Rope::Rope(const ModelConfig& config, bool compressed_layer) : dims_(config.rope_head_dim) {
  const float base = compressed_layer ? config.compress_rope_theta : config.rope_theta;
  const int half = dims_ / 2;
  freqs_.resize(half);
  for (int i = 0; i < half; ++i) {
    freqs_[i] = 1.0f / std::pow(base, static_cast<float>(2 * i) / static_cast<float>(dims_));
  }
  // YaRN applies on compressed layers only, regardless of the sequence length.
  if (compressed_layer && config.original_seq_len > 0 && config.rope_factor != 1.0f) {
    float lo = std::floor(CorrectionDim(config.beta_fast, dims_, base, config.original_seq_len));
    float hi = std::ceil(CorrectionDim(config.beta_slow, dims_, base, config.original_seq_len));
    lo = std::max(lo, 0.0f);
    hi = std::min(hi, static_cast<float>(dims_ - 1));
    if (hi == lo) hi += 0.001f;
    for (int i = 0; i < half; ++i) {
      const float ramp = std::clamp((static_cast<float>(i) - lo) / (hi - lo), 0.0f, 1.0f);
      freqs_[i] = freqs_[i] / config.rope_factor * ramp + freqs_[i] * (1.0f - ramp);
    }
  }
}

void Rope::CosSin(int64_t pos, float* cos, float* sin) const {
  for (int i = 0; i < dims_ / 2; ++i) {
    const float angle = static_cast<float>(pos) * freqs_[i];  // fp32 like torch.outer
    cos[i] = static_cast<float>(std::cos(static_cast<double>(angle)));
    sin[i] = static_cast<float>(std::sin(static_cast<double>(angle)));
  }
}

void Rope::Apply(float* x, int rows, int width, int64_t pos, bool inverse) const {
  float cos[128], sin[128];
  CosSin(pos, cos, sin);
  for (int r = 0; r < rows; ++r) {
    ApplyRope(x + static_cast<size_t>(r) * width + (width - dims_), dims_, cos, sin, inverse);
  }
}

}  // namespace dsv4
