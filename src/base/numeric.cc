#include "base/numeric.h"

namespace dsv4 {
namespace {

// Round |x| to a grid whose spacing is 2^(exponent - mantissa_bits), never finer than min_quantum.
// std::nearbyint rounds half to even in the default rounding mode, which is what the casts do.
float RoundToGrid(float a, int mantissa_bits, float min_quantum) {
  int exp;
  std::frexp(a, &exp);  // a = f * 2^exp, f in [0.5, 1)
  float quantum = std::ldexp(1.0f, exp - 1 - mantissa_bits);
  if (quantum < min_quantum) quantum = min_quantum;
  return std::nearbyint(a / quantum) * quantum;
}

}  // namespace

float E4M3Decode(uint8_t code) {
  const int sign = code >> 7;
  const int exp = (code >> 3) & 0xf;
  const int mant = code & 7;
  float v;
  if (exp == 0xf && mant == 7) return NAN;
  if (exp == 0) {
    v = std::ldexp(static_cast<float>(mant), -9);  // subnormal: mant * 2^-6 / 8
  } else {
    v = std::ldexp(1.0f + mant / 8.0f, exp - 7);
  }
  return sign ? -v : v;
}

const float* E4M3Table() {
  static const auto* table = [] {
    auto* t = new float[256];
    for (int c = 0; c < 256; ++c) t[c] = E4M3Decode(static_cast<uint8_t>(c));
    return t;
  }();
  return table;
}

float RoundE4M3(float x) {
  if (std::isnan(x)) return x;
  const float a = std::fabs(x);
  float r = a >= kE4M3Max ? kE4M3Max : RoundToGrid(a, 3, std::ldexp(1.0f, -9));
  if (r > kE4M3Max) r = kE4M3Max;
  return std::signbit(x) ? -r : r;
}

uint8_t FloatToE4M3(float x) {
  if (std::isnan(x)) return 0x7f;
  const float r = RoundE4M3(x);
  const uint8_t sign = std::signbit(r) ? 0x80 : 0;
  const float a = std::fabs(r);
  if (a == 0.0f) return sign;
  int exp;
  const float f = std::frexp(a, &exp);  // a = f * 2^exp
  const int biased = exp - 1 + 7;
  if (biased <= 0) return sign | static_cast<uint8_t>(std::lround(a * 512.0f));  // subnormal
  const int mant = static_cast<int>(std::lround((f * 2.0f - 1.0f) * 8.0f));
  return sign | static_cast<uint8_t>(biased << 3) | static_cast<uint8_t>(mant);
}

float RoundE2M1(float x) {
  if (std::isnan(x)) return x;
  const float a = std::fabs(x);
  float r = a >= kE2M1Max ? kE2M1Max : RoundToGrid(a, 1, 0.5f);
  if (r > kE2M1Max) r = kE2M1Max;
  return std::signbit(x) ? -r : r;
}

uint8_t FloatToE2M1(float x) {
  const float r = RoundE2M1(x);
  const uint8_t sign = std::signbit(r) ? 8 : 0;
  const float a = std::fabs(r);
  static constexpr float kValues[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  for (uint8_t i = 0; i < 8; ++i) {
    if (kValues[i] == a) return sign | i;
  }
  return sign | 7;
}

}  // namespace dsv4
