// Rotary position embedding with the two V4 regimes (spec §6): ratio-0 layers use rope_theta without
// YaRN; compressed layers use compress_rope_theta with YaRN frequency blending (no mscale).
#pragma once

#include <cstdint>
#include <vector>

#include "io/config.h"

namespace dsv4 {

class Rope {
 public:
  // dims = rope_head_dim (64): dims/2 frequencies.
  Rope(const ModelConfig& config, bool compressed_layer);

  int dims() const { return dims_; }
  // cos/sin of pos·f_i for i < dims/2 (angle in fp32 like the reference table).
  void CosSin(int64_t pos, float* cos, float* sin) const;
  // Rotates the last `dims` values of each of `rows` vectors of width `width` at position `pos`.
  void Apply(float* x, int rows, int width, int64_t pos, bool inverse) const;

 private:
  int dims_;
  std::vector<float> freqs_;
};

}  // namespace dsv4
