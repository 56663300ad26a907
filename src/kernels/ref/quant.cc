// Scalar reference: activation quantization and the FP8/FP4 simulation points (spec §7.2-7.3).
#include <algorithm>
#include <cmath>
#include <vector>

#include "base/numeric.h"
#include "kernels/ref/ref.h"

namespace dsv4::ref {
namespace {

constexpr float kActAmaxFloor = 1e-4f;                          // act_quant / FP8_sim amax floor
const float kFp4AmaxFloor = kE2M1Max * std::ldexp(1.0f, -126);  // FP4_sim amax floor

template <float (*Round)(float)>
void QuantizeBlocks(const float* x, int k, int block, float max_code, float amax_floor, float* q,
                    float* s) {
  const float inv_max = 1.0f / max_code;
  for (int b0 = 0, bi = 0; b0 < k; b0 += block, ++bi) {
    const int b1 = std::min(k, b0 + block);
    float amax = amax_floor;
    for (int i = b0; i < b1; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float scale = Ue8m0Scale(amax, inv_max);
    s[bi] = scale;
    for (int i = b0; i < b1; ++i) q[i] = Round(std::clamp(x[i] / scale, -max_code, max_code));
  }
}

}  // namespace

void QuantizeE4M3(const float* x, int k, int block, float* q, float* s) {
  QuantizeBlocks<RoundE4M3>(x, k, block, kE4M3Max, kActAmaxFloor, q, s);
}

void QuantizeE2M1(const float* x, int k, int block, float* q, float* s) {
  QuantizeBlocks<RoundE2M1>(x, k, block, kE2M1Max, kFp4AmaxFloor, q, s);
}

// Quantize → dequantize in place, bf16 out (the reference's QAT simulation points).
template <float (*Round)(float)>
void SimulateInPlace(float* x, int k, int block, float max_code, float amax_floor) {
  std::vector<float> s((k + block - 1) / block);
  QuantizeBlocks<Round>(x, k, block, max_code, amax_floor, x, s.data());
  for (int i = 0; i < k; ++i) x[i] = RoundBf16(x[i] * s[i / block]);
}

void Fp8Sim(float* x, int k, int block) {
  SimulateInPlace<RoundE4M3>(x, k, block, kE4M3Max, kActAmaxFloor);
}

void Fp4Sim(float* x, int k, int block) {
  SimulateInPlace<RoundE2M1>(x, k, block, kE2M1Max, kFp4AmaxFloor);
}

}  // namespace dsv4::ref
