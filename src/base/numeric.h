// Scalar number formats of DeepSeek-V4 checkpoints and of the reference's rounding points:
// bf16, float8 e4m3fn, float4 e2m1 (MXFP4 nibbles) and e8m0 (power-of-two scales).
// Every conversion here is exact or round-to-nearest-even, matching PyTorch's casts.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace dsv4 {

constexpr float kE4M3Max = 448.0f;  // largest finite float8_e4m3fn
constexpr float kE2M1Max = 6.0f;    // largest float4_e2m1
constexpr int kE8M0Bias = 127;

inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
inline float BitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// ---- bf16: the upper 16 bits of an fp32 ----
inline float Bf16ToFloat(uint16_t h) { return BitsFloat(static_cast<uint32_t>(h) << 16); }
// Round-to-nearest-even; NaN stays NaN (quiet).
inline uint16_t FloatToBf16(float f) {
  uint32_t u = FloatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
// The bf16 rounding point of the reference, kept in fp32 registers.
inline float RoundBf16(float f) { return Bf16ToFloat(FloatToBf16(f)); }

// ---- e8m0: 2^(e - 127); 255 is NaN ----
inline float E8M0ToFloat(uint8_t e) {
  if (e == 0xff) return NAN;
  if (e == 0) return BitsFloat(0x00400000u);  // 2^-127 is an fp32 subnormal
  return BitsFloat(static_cast<uint32_t>(e) << 23);
}

// ---- float8 e4m3fn: 1 sign, 4 exponent (bias 7), 3 mantissa; no inf; 0x7f/0xff NaN ----
// The 256 values, decoded once (E4M3Decode is the bit-level definition the table is built from).
const float* E4M3Table();
float E4M3Decode(uint8_t code);
inline float E4M3ToFloat(uint8_t code) { return E4M3Table()[code]; }
// Round-to-nearest-even to the e4m3 grid, saturating at ±448 (callers clamp first, as the reference).
float RoundE4M3(float x);
uint8_t FloatToE4M3(float x);

// ---- float4 e2m1: values {0, .5, 1, 1.5, 2, 3, 4, 6}; bit 3 = sign ----
inline float E2M1ToFloat(uint8_t nibble) {
  static constexpr float kValues[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  const float v = kValues[nibble & 7];
  return (nibble & 8) ? -v : v;
}
// Round-to-nearest-even to the e2m1 grid, saturating at ±6.
float RoundE2M1(float x);
uint8_t FloatToE2M1(float x);

// Power-of-two scale 2^ceil(log2(amax * inv_max)) computed like the reference's UE8M0 path:
// multiply by the fp32 reciprocal, then take the fp32 exponent, +1 when the mantissa is non-zero.
inline float Ue8m0Scale(float amax, float inv_max) {
  const uint32_t u = FloatBits(amax * inv_max);
  const int exp = static_cast<int>((u >> 23) & 0xff) - 127 + ((u & 0x7fffff) != 0 ? 1 : 0);
  return std::ldexp(1.0f, exp);
}

}  // namespace dsv4
