// Scalar reference linear layers (spec §7.2). One weight row is decoded at a time and reused for
// every activation row, so the cost is one decode per weight plus m·n·k multiply-adds.
#include <algorithm>
#include <vector>

#include "base/check.h"
#include "base/numeric.h"
#include "kernels/ref/ref.h"
#include "kernels/thread_pool.h"

namespace dsv4::ref {
namespace {

int CeilDiv(int a, int b) { return (a + b - 1) / b; }

// e4m3 activation codes (as values) and per-128 scales for all m rows.
void QuantizeRows(const float* x, int m, int k, std::vector<float>* q, std::vector<float>* s) {
  const int kb = CeilDiv(k, kQuantBlock);
  q->resize(static_cast<size_t>(m) * k);
  s->resize(static_cast<size_t>(m) * kb);
  for (int i = 0; i < m; ++i) {
    QuantizeE4M3(x + static_cast<size_t>(i) * k, k, kQuantBlock,
                 q->data() + static_cast<size_t>(i) * k, s->data() + static_cast<size_t>(i) * kb);
  }
}

}  // namespace

void LinearFp8(const float* x, int m, const Fp8Weight& w, float* y) {
  const int k = w.k, kb = CeilDiv(k, kQuantBlock);
  std::vector<float> xq, xs;
  QuantizeRows(x, m, k, &xq, &xs);
  ThreadPool::Global().ParallelFor(w.n, [&](int n0, int n1) {  // output rows
    std::vector<float> row(k);                                 // one decoded weight row per thread
    for (int n = n0; n < n1; ++n) {
      const uint8_t* codes = w.w + static_cast<size_t>(n) * k;
      for (int i = 0; i < k; ++i) row[i] = E4M3ToFloat(codes[i]);
      const uint8_t* ws = w.scale + static_cast<size_t>(n / kQuantBlock) * kb;
      for (int r = 0; r < m; ++r) {
        const float* q = xq.data() + static_cast<size_t>(r) * k;
        float acc = 0.0f;
        for (int b = 0; b < kb; ++b) {
          float partial = 0.0f;
          for (int i = b * kQuantBlock, e = std::min(k, i + kQuantBlock); i < e; ++i)
            partial += q[i] * row[i];
          acc += partial * (xs[static_cast<size_t>(r) * kb + b] * E8M0ToFloat(ws[b]));
        }
        y[static_cast<size_t>(r) * w.n + n] = RoundBf16(acc);
      }
    }
  });
}

void LinearFp4(const float* x, int m, const Fp4Weight& w, float* y) {
  const int k = w.k, kb = CeilDiv(k, kQuantBlock), k32 = k / kFp4Block;
  DSV4_CHECK(k % kFp4Block == 0);
  std::vector<float> xq, xs;
  QuantizeRows(x, m, k, &xq, &xs);
  ThreadPool::Global().ParallelFor(w.n, [&](int n0, int n1) {  // output rows
    std::vector<float> row(k);                                 // one decoded weight row per thread
    for (int n = n0; n < n1; ++n) {
      const uint8_t* packed = w.w + static_cast<size_t>(n) * (k / 2);
      for (int i = 0; i < k / 2; ++i) {
        row[2 * i] = E2M1ToFloat(packed[i] & 0xf);
        row[2 * i + 1] = E2M1ToFloat(packed[i] >> 4);
      }
      const uint8_t* ws = w.scale + static_cast<size_t>(n) * k32;
      for (int r = 0; r < m; ++r) {
        const float* q = xq.data() + static_cast<size_t>(r) * k;
        float acc = 0.0f;
        for (int b = 0; b < k32; ++b) {
          float partial = 0.0f;
          for (int i = b * kFp4Block; i < (b + 1) * kFp4Block; ++i) partial += q[i] * row[i];
          const float sx = xs[static_cast<size_t>(r) * kb + (b * kFp4Block) / kQuantBlock];
          acc += partial * (sx * E8M0ToFloat(ws[b]));
        }
        y[static_cast<size_t>(r) * w.n + n] = RoundBf16(acc);
      }
    }
  });
}

void LinearFp8AsBf16(const float* x, int m, const Fp8Weight& w, float* y) {
  const int k = w.k, kb = CeilDiv(k, kQuantBlock);
  ThreadPool::Global().ParallelFor(w.n, [&](int n0, int n1) {  // output rows
    std::vector<float> row(k);                                 // one decoded weight row per thread
    for (int n = n0; n < n1; ++n) {
      const uint8_t* codes = w.w + static_cast<size_t>(n) * k;
      const uint8_t* ws = w.scale + static_cast<size_t>(n / kQuantBlock) * kb;
      // e4m3 (3 mantissa bits) times a power of two is exact in bf16 (7 mantissa bits).
      for (int i = 0; i < k; ++i)
        row[i] = RoundBf16(E4M3ToFloat(codes[i]) * E8M0ToFloat(ws[i / kQuantBlock]));
      for (int r = 0; r < m; ++r) {
        const float* xr = x + static_cast<size_t>(r) * k;
        float acc = 0.0f;
        for (int i = 0; i < k; ++i) acc += RoundBf16(xr[i]) * row[i];  // a bf16 activation
        y[static_cast<size_t>(r) * w.n + n] = RoundBf16(acc);
      }
    }
  });
}

void LinearBf16(const float* x, int m, const Bf16Weight& w, float* y, bool round_bf16) {
  const int k = w.k;
  ThreadPool::Global().ParallelFor(w.n, [&](int n0, int n1) {  // output rows
    std::vector<float> row(k);                                 // one decoded weight row per thread
    for (int n = n0; n < n1; ++n) {
      const uint16_t* src = w.w + static_cast<size_t>(n) * k;
      for (int i = 0; i < k; ++i) row[i] = Bf16ToFloat(src[i]);
      for (int r = 0; r < m; ++r) {
        const float* xr = x + static_cast<size_t>(r) * k;
        float acc = 0.0f;
        for (int i = 0; i < k; ++i) acc += xr[i] * row[i];
        y[static_cast<size_t>(r) * w.n + n] = round_bf16 ? RoundBf16(acc) : acc;
      }
    }
  });
}

}  // namespace dsv4::ref
