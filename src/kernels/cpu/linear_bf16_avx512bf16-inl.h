// BF16 weights on AVX-512 BF16 (head, gate, compressors, indexer weights_proj).
// Included by linear.cc after linear_avx512bf16-inl.h (AVX3_DL only).
//
// Not a standalone header: no include guard, it lives in linear.cc's per-target namespace.

// The model's bf16-weight linears (head, gate, compressor wkv/wgate, indexer weights_proj) take
// bf16-valued activations (RMSNorm outputs, kept in fp32 arrays), and bf16 × bf16 products are
// exact in fp32, so `vdpbf16ps` computes them with fp32 sums like the fp32 kernel, in another
// order: 32 products per instruction, and the activations loaded as 2 bytes instead of 4 (the
// decode loads weights and activations through the same L1 ports). One difference the fp32 path
// does not have: the instruction reads bf16 subnormals (|v| < 2^-126) as zero, an error far below
// one rounding of any sum it appears in. Calls with an activation that is not a bf16 value return
// false and take the fp32 kernel.

// m rows of x as bf16, kp values per row (zeros past k); false if a value is not a bf16.
DSV4_BF16_ATTR bool PackBf16Acts(const float* x, int m, int k, size_t kp, uint16_t* out) {
  std::atomic<bool> inexact{false};
  detail::ForActRows(m, [&](int r0, int r1) {
    const __m512i low = _mm512_set1_epi32(0xffff);
    __mmask16 low_bits = 0;
    for (int r = r0; r < r1; ++r) {
      const float* row = x + static_cast<size_t>(r) * k;
      uint16_t* o = out + r * kp;
      for (int i = 0; i < static_cast<int>(kp); i += 16) {
        const int left = k - i;
        const __mmask16 mask = left >= 16 ? 0xffff : left <= 0 ? 0 : (1u << left) - 1;
        const __m512i v = _mm512_castps_si512(_mm512_maskz_loadu_ps(mask, row + i));
        low_bits |= _mm512_test_epi32_mask(v, low);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + i),
                            _mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16)));
      }
    }
    if (low_bits) inexact = true;
  });
  return !inexact;
}

// Weight rows [n0, n1) against m bf16 activation rows (xb, stride kp).
DSV4_BF16_ATTR void Bf16DotRows(const uint16_t* xb, size_t kp, int m, const Bf16Weight& w, int n0,
                                int n1, float* y, bool round) {
  const size_t k = static_cast<size_t>(w.k), yn = static_cast<size_t>(w.n);
  if (m < kFoldPanelMinRows) {
    // One weight row at a time (a single DRAM stream per thread, prefetched into L2 8 KiB ahead),
    // all m activation rows per weight load; the totals of up to 16 outputs reduced together.
    using TotalsFn = void (*)(const uint16_t*, size_t, const uint16_t*, size_t, int, __m512*);
    static constexpr TotalsFn kRow[kFoldPanelMinRows - 1] = {
        DotTileTotals<1, 1, true, true>, DotTileTotals<1, 2, true, true>,
        DotTileTotals<1, 3, true, true>, DotTileTotals<1, 4, true, true>,
        DotTileTotals<1, 5, true, true>, DotTileTotals<1, 6, true, true>,
        DotTileTotals<1, 7, true, true>};
    const int group = 16 / m;
    for (int n = n0; n < n1; n += group) {
      const int rows = std::min(group, n1 - n);
      __m512 totals[16];
      for (int i = 0; i < rows; ++i) {
        kRow[m - 1](w.w + (n + i) * k, k, xb, kp, w.k, totals + i * m);
      }
      float sums[16];
      SumLanes(totals, rows * m, sums);
      for (int i = 0; i < rows; ++i) {
        for (int j = 0; j < m; ++j) {
          const float v = sums[i * m + j];
          y[j * yn + n + i] = round ? RoundBf16(v) : v;
        }
      }
    }
    return;
  }
  if (UseFastGemm(m)) {  // the weight rows as they are, in calls of ~4 MiB
    const int per_call = FastGemmRows(k);
    for (int n = n0; n < n1; n += per_call) {
      FastGemm(w.w + n * k, k, std::min(per_call, n1 - n), xb, kp, m, w.k, y + n, yn, round);
    }
    return;
  }
  // Panels of kFoldPanelRows weight rows (kept in L2) against register tiles.
  for (int n = n0; n < n1; n += kFoldPanelRows) {
    PanelGemm(w.w + n * k, k, std::min(kFoldPanelRows, n1 - n), xb, kp, m, w.k, y + n, yn, round);
  }
}

// False (nothing written) when an activation is not a bf16 value.
DSV4_BF16_ATTR bool LinearBf16Dot(const float* x, int m, const Bf16Weight& w, float* y,
                                  bool round) {
  const size_t kp = static_cast<size_t>(CeilDiv(w.k, 64)) * 64;
  AlignedVector<uint16_t> xb(static_cast<size_t>(m) * kp);
  if (!PackBf16Acts(x, m, w.k, kp, xb.data())) return false;
  ThreadPool::Global().ParallelFor(w.n, [&](int n0, int n1) {
    Bf16DotRows(xb.data(), kp, m, w, n0, n1, y, round);
  });
  return true;
}
