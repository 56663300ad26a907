// Fast prefill on oneDNN's fp32 sgemm, for every target without AVX-512 BF16 (included by
// linear.cc inside its per-target namespace; the AVX-512 BF16 kernels have their own oneDNN path).
//
// Opt-in like that path (kernels.h, "fast prefill"): from kFastGemmMinRows activation rows, in
// fast-prefill mode, each thread decodes its weight rows in calls of ~4 MiB to fp32 with the
// power-of-two block scales folded in, folds the activation scales into the activations, and
// hands both to oneDNN's sgemm (its jit AVX2/AVX-512 kernels), which writes y directly. Every
// product is the exact product ref forms (operands of ≤ 8 significant bits, scales kept inside
// a range where nothing under- or overflows: outside it the call takes the default tiles), so
// only the order of each output's one fp32 sum differs — and it depends on the rows beside it
// and on the thread count, which is what the mode gives up.
//
// Why: on a 2-core Zen 3 (AVX2) the default register tiles run prefill's GEMMs at ~0.9-1.2 FMA
// per cycle and core, oneDNN's sgemm at ~1.2-1.6 (docs/kernels.md, "Fast prefill without
// AVX-512 BF16").

// Scale exponents (of s_w and s_x each) inside which folding keeps every product and sum of a
// call normal and finite: nonzero codes are ≥ 2^-9 (e4m3 subnormals; e2m1 ≥ 2^-1), so every
// product is ≥ 2^(-18 + e_w + e_x) ≥ 2^-126; codes ≤ 448 and k ≤ kSgemmMaxK keep every sum below
// 2^(18 + 16 + e_w + e_x) ≤ 2^126.
constexpr int kSgemmMinScaleExp = -54, kSgemmMaxScaleExp = 46;
constexpr int kSgemmMaxK = 1 << 16;

inline bool UseSgemm(int m) { return m >= kFastGemmMinRows && FastGemmEnabled(); }

inline bool SgemmScaleByteOk(uint8_t e) {
  return e >= 127 + kSgemmMinScaleExp && e <= 127 + kSgemmMaxScaleExp;
}

inline bool SgemmScaleOk(float s) {
  return s >= std::ldexp(1.0f, kSgemmMinScaleExp) && s <= std::ldexp(1.0f, kSgemmMaxScaleExp);
}

// Whether every weight scale byte and activation scale of a call lies in the folding range.
inline bool SgemmScalesOk(const uint8_t* w_scales, size_t count, const detail::QuantizedRows& a) {
  return std::all_of(w_scales, w_scales + count, SgemmScaleByteOk) &&
         std::all_of(a.s.begin(), a.s.end(), SgemmScaleOk);
}

// Activation values with their scales folded in: x[r, t] = q[r, t] · s_x[r, t / 128] (exact in
// the range SgemmScalesOk checks).
inline ScratchVector<float> SgemmFoldedActs(const detail::QuantizedRows& a, int m, int k) {
  ScratchVector<float> x(static_cast<size_t>(m) * k);
  detail::ForActRows(m, [&](int r0, int r1) {
    for (int r = r0; r < r1; ++r) {
      const float* q = a.q.data() + static_cast<size_t>(r) * k;
      const float* s = a.s.data() + static_cast<size_t>(r) * a.kb;
      float* out = x.data() + static_cast<size_t>(r) * k;
      for (int t = 0; t < k; ++t) out[t] = q[t] * s[t / kQuantBlock];
    }
  });
  return x;
}

// y[m, n] = x[m, k] · W^T with W's rows [n0, n1) decoded by decode(n0, n1, out) into fp32 rows of
// k values. Threads take whole groups of `align` rows (FP8: a scale block) and run them through
// oneDNN ~4 MiB of decoded rows at a time; bf16 out when round.
template <class DecodeRows>
void SgemmLinear(const float* x, int m, int n, int k, int align, const DecodeRows& decode, float* y,
                 bool round) {
  const size_t row_bytes = static_cast<size_t>(k) * sizeof(float);
  const int per_call =
      std::max(align, static_cast<int>((size_t{4} << 20) / row_bytes) / align * align);
  ThreadPool::Global().ParallelFor(CeilDiv(n, align), [&](int g0, int g1) {
    thread_local AlignedVector<float> rows;  // grown as needed and kept: fresh pages fault
    if (rows.size() < static_cast<size_t>(per_call) * k)
      rows.resize(static_cast<size_t>(per_call) * k);
    const int end = std::min(n, g1 * align);
    for (int n0 = g0 * align; n0 < end; n0 += per_call) {
      const int n1 = std::min(end, n0 + per_call);
      decode(n0, n1, rows.data());
      DSV4_CHECK(OneDnnSgemm(rows.data(), k, n1 - n0, x, k, m, k, y + n0, n));
      if (round) {
        for (int r = 0; r < m; ++r)
          ScaleRoundBf16(y + static_cast<size_t>(r) * n + n0, n1 - n0, 1.0f);
      }
    }
  });
}

// FP8 rows as exact fp32 values times their block scales, as ref dequantizes them.
inline auto SgemmFp8Rows(const Fp8Weight& w) {
  return [&w](int n0, int n1, float* out) { DequantizeFp8Rows(w, n0, n1, out); };
}

// FP8 weight, e4m3-quantized activations. False: a scale outside the folding range (the caller
// runs the default kernels).
inline bool LinearFp8Sgemm(const detail::QuantizedRows& a, int m, const Fp8Weight& w, float* y) {
  const size_t scale_bytes = static_cast<size_t>(CeilDiv(w.n, kQuantBlock)) * a.kb;
  if (w.k > kSgemmMaxK || !SgemmScalesOk(w.scale, scale_bytes, a)) return false;
  const ScratchVector<float> x = SgemmFoldedActs(a, m, w.k);
  SgemmLinear(x.data(), m, w.n, w.k, kQuantBlock, SgemmFp8Rows(w), y, /*round=*/true);
  return true;
}

// FP8 weight dequantized as ref does, bf16 activations as they are (LinearFp8AsBf16): ref's own
// products, so no range to check.
inline void LinearFp8AsBf16Sgemm(const float* xb, int m, const Fp8Weight& w, float* y) {
  SgemmLinear(xb, m, w.n, w.k, kQuantBlock, SgemmFp8Rows(w), y, /*round=*/true);
}

// MXFP4 weight, e4m3-quantized activations.
inline bool LinearFp4Sgemm(const detail::QuantizedRows& a, int m, const Fp4Weight& w, float* y) {
  const int k = w.k, k32 = k / kFp4Block;
  if (k > kSgemmMaxK || !SgemmScalesOk(w.scale, static_cast<size_t>(w.n) * k32, a)) return false;
#if DSV4_AVX2_KERNELS
  // The AVX2 kernels' in-register e2m1 decode (~6x the scalar table's speed, which was ~12% of
  // this path's time at m = 192): both operands in its order per 64 values, zero-padded to kp.
  const Avx2Fp4Acts x = PrepareAvx2Fp4Acts(a, m, k);
  const int kp = x.kp;
  auto decode = [&](int n0, int n1, float* out) {
    alignas(32) uint8_t pad[32];
    for (int n = n0; n < n1; ++n) {
      const uint8_t* row = w.w + static_cast<size_t>(n) * (k / 2);
      const uint8_t* ws = w.scale + static_cast<size_t>(n) * k32;
      for (int c = 0; c < kp / kAvx2Fp4Chunk; ++c) {
        __m256 v[8];
        DecodeE2M1x64(ChunkBytes32(row, k / 2, 32 * c, pad), v);
        const __m256 s = Fp4ChunkScales(ws, k32, c);
        float* dst = out + static_cast<size_t>(n - n0) * kp + c * kAvx2Fp4Chunk;
        for (int j = 0; j < 8; ++j) _mm256_storeu_ps(dst + 8 * j, _mm256_mul_ps(v[j], s));
      }
    }
  };
  SgemmLinear(x.xp.data(), m, w.n, kp, 16, decode, y, /*round=*/true);
#else
  const ScratchVector<float> x = SgemmFoldedActs(a, m, k);
  auto decode = [&](int n0, int n1, float* out) {
    for (int n = n0; n < n1; ++n) {
      const uint8_t* packed = w.w + static_cast<size_t>(n) * (k / 2);
      const uint8_t* ws = w.scale + static_cast<size_t>(n) * k32;
      float* row = out + static_cast<size_t>(n - n0) * k;
      for (int b = 0; b < k32; ++b) {
        float table[16];  // this block's values: e2m1 · s_w, exact
        const float s = E8M0ToFloat(ws[b]);
        for (int c = 0; c < 16; ++c) table[c] = E2M1ToFloat(static_cast<uint8_t>(c)) * s;
        for (int i = 0; i < kFp4Block / 2; ++i) {
          const uint8_t byte = packed[b * kFp4Block / 2 + i];
          row[b * kFp4Block + 2 * i] = table[byte & 0xf];  // element 2i in the low nibble
          row[b * kFp4Block + 2 * i + 1] = table[byte >> 4];
        }
      }
    }
  };
  SgemmLinear(x.data(), m, w.n, k, 16, decode, y, /*round=*/true);
#endif
  return true;
}

// BF16 weight, fp32 activations (ref widens both to fp32): fp32 or bf16 out.
inline void LinearBf16Sgemm(const float* x, int m, const Bf16Weight& w, float* y, bool round) {
  const int k = w.k;
  auto decode = [&](int n0, int n1, float* out) {
    const DF df;
    const DU du;
    const hn::Rebind<uint16_t, DU> d16;
    const size_t count = static_cast<size_t>(n1 - n0) * k, lanes = hn::Lanes(df);
    const uint16_t* src = w.w + static_cast<size_t>(n0) * k;
    size_t i = 0;
    for (; i + lanes <= count; i += lanes) {
      hn::StoreU(hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(d16, src + i)))), df,
                 out + i);
    }
    for (; i < count; ++i) out[i] = Bf16ToFloat(src[i]);
  };
  SgemmLinear(x, m, w.n, k, 16, decode, y, round);
}
