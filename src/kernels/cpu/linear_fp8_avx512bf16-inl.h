// FP8 weights (e4m3, 128x128 UE8M0 blocks) on AVX-512 BF16: the per-block kernels, the folded
// matrix-vector kernel and the folded GEMM's panel decode.
// Included by linear.cc after linear_avx512bf16-inl.h (AVX3_DL only).
//
// Not a standalone header: no include guard, it lives in linear.cc's per-target namespace.

// Activations in the order of the e4m3 decode: per 64 values, A[8q+t] = x[16q+t] then
// B[8q+t] = x[16q+8+t] (unpacklo/unpackhi of 128-bit lane q); zero beyond k. One row: q (k
// values, e4m3 values or q·s_x) -> o (kp bf16 values; split: in SplitPanelGemm's layout, A being
// an even vector and B an odd one).
DSV4_BF16_ATTR void PermuteFp8Row(const float* q, int k, int kp, uint16_t* o, bool split = false) {
  // The high 16 bits of an fp32 e4m3 value are its exact bf16; float i of a pair of vectors is
  // 16-bit lane 2i+1. Per pair (128-bit lanes q, q+1): A of q, A of q+1, B of q, B of q+1.
  alignas(64) static const uint16_t pick[32] = {1,  3,  5,  7,  9,  11, 13, 15, 33, 35, 37,
                                                39, 41, 43, 45, 47, 17, 19, 21, 23, 25, 27,
                                                29, 31, 49, 51, 53, 55, 57, 59, 61, 63};
  const __m512i idx = _mm512_load_si512(pick);
  for (int i0 = 0; i0 < kp; i0 += 64) {
    __m512i v[4];
    for (int j = 0; j < 4; ++j) {
      const int left = k - i0 - 16 * j;
      const __mmask16 mask = left >= 16 ? 0xffff : left <= 0 ? 0 : (1u << left) - 1;
      v[j] = _mm512_castps_si512(_mm512_maskz_loadu_ps(mask, q + i0 + 16 * j));
    }
    const __m512i r01 = _mm512_permutex2var_epi16(v[0], idx, v[1]);
    const __m512i r23 = _mm512_permutex2var_epi16(v[2], idx, v[3]);
    const size_t a = split ? SplitOffset(i0 / 32, kp) : i0,
                 b = split ? SplitOffset(i0 / 32 + 1, kp) : i0 + 32;
    _mm512_storeu_si512(o + a, _mm512_shuffle_i64x2(r01, r23, 0x44));  // A
    _mm512_storeu_si512(o + b, _mm512_shuffle_i64x2(r01, r23, 0xee));  // B
  }
}

// bf16(q) of m quantized rows in PermuteFp8Row's order, kb·128 values per row.
DSV4_BF16_ATTR ScratchVector<uint16_t> PermuteFp8Acts(const detail::QuantizedRows& a, int m, int k) {
  const int kp = a.kb * kQuantBlock;
  ScratchVector<uint16_t> out(static_cast<size_t>(m) * kp);
  detail::ForActRows(m, [&](int r0, int r1) {
    for (int r = r0; r < r1; ++r) {
      PermuteFp8Row(a.q.data() + static_cast<size_t>(r) * k, k, kp,
                    out.data() + static_cast<size_t>(r) * kp);
    }
  });
  return out;
}

// Weight row `wrow` (k codes) against R activation rows: y[r] = bf16(Σ_b partial_b · s_x·s_w).
// FP8 accumulation order, shared by every FP8 path so no output depends on the batch size: per
// group of 16 blocks, the 16 partials (one vector each in p) times s_x·s_w, summed by a tree, then
// added in order of the groups to the row's fp32 accumulator.
DSV4_BF16_ATTR HWY_INLINE float GroupSum(const __m512* p, const float* xs, int nb, __m512 sw) {
  const __mmask16 valid = static_cast<__mmask16>(nb >= 16 ? 0xffff : (1u << nb) - 1);
  const __m512 scale = _mm512_mul_ps(_mm512_maskz_loadu_ps(valid, xs), sw);
  return _mm512_reduce_add_ps(_mm512_mul_ps(Reduce16(p), scale));
}

struct E4M3Tables {
  __m512i hi0, hi1, lo0, lo1, sign;
};

DSV4_BF16_ATTR HWY_INLINE E4M3Tables LoadE4M3Tables() {
  const Bf16Tables& tab = GetBf16Tables();
  return {_mm512_load_si512(tab.e4m3_hi), _mm512_load_si512(tab.e4m3_hi + 64),
          _mm512_load_si512(tab.e4m3_lo), _mm512_load_si512(tab.e4m3_lo + 64),
          _mm512_set1_epi8(static_cast<char>(0x80))};
}

// 128 e4m3 codes (`bytes` of them valid when kTail, zeros after) -> 4 bf16 vectors in the
// unpack order of PermuteFp8Acts.
template <bool kTail>
DSV4_BF16_ATTR HWY_INLINE void DecodeE4M3Block(const uint8_t* w, int bytes, const E4M3Tables& t,
                                               __m512i* wv) {
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    const __m512i v = kTail ? _mm512_maskz_loadu_epi8(ByteMask(bytes - 64 * h), w + 64 * h)
                            : _mm512_loadu_si512(w + 64 * h);
    // hi byte | sign (ternlog A | (B & C)); lo byte does not depend on the sign.
    const __m512i hb =
        _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(t.hi0, v, t.hi1), v, t.sign, 0xf8);
    const __m512i lb = _mm512_permutex2var_epi8(t.lo0, v, t.lo1);
    wv[2 * h] = _mm512_unpacklo_epi8(lb, hb);
    wv[2 * h + 1] = _mm512_unpackhi_epi8(lb, hb);
  }
}

// One 128-block of a weight row (codes at `w`, `bytes` of them valid when kTail) against R
// activation rows: p[r] = the block's partial-sum vector (16 lanes, sum them for the partial).
template <int R, bool kTail>
DSV4_BF16_ATTR HWY_INLINE void Fp8Block(const uint8_t* w, int bytes, const E4M3Tables& t,
                                        const uint16_t* xp, size_t kp, __m512* p) {
  _mm_prefetch(reinterpret_cast<const char*>(w + kPrefetchBytes), _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(w + kPrefetchBytes + 64), _MM_HINT_T0);
  __m512i wv[4];
  DecodeE4M3Block<kTail>(w, bytes, t, wv);
  // Unrolled so wv stays in registers (a loop spilled it to the stack and serialized the blocks'
  // dot chains: 2x slower).
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r) {
    // The same order as Fp8PanelTile, so an output never depends on the batch size.
    const uint16_t* x = xp + r * kp;
    __m512 sum = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) sum = Dp(sum, wv[v], x + 32 * v);
    p[r * 16] = sum;
  }
}

// Weight row `wrow` (k codes) against R activation rows: y[r] = bf16(Σ_b partial_b · s_x·s_w).
template <int R>
DSV4_BF16_ATTR void Fp8Row(const uint8_t* wrow, const uint8_t* ws, int k, int kb,
                           const uint16_t* xp, size_t kp, const float* xs, float* y,
                           size_t y_stride) {
  const E4M3Tables t = LoadE4M3Tables();
  const int full_blocks = k / kQuantBlock;
  __m512 p[R][16];
  float acc[R] = {};
  for (int g = 0; g < kb; g += 16) {
    const int nb = std::min(16, kb - g);
    for (int bi = 0; bi < nb; ++bi) {
      const int i0 = (g + bi) * kQuantBlock;
      if (g + bi < full_blocks) {
        Fp8Block<R, false>(wrow + i0, kQuantBlock, t, xp + i0, kp, &p[0][bi]);
      } else {
        Fp8Block<R, true>(wrow + i0, k - i0, t, xp + i0, kp, &p[0][bi]);
      }
    }
    for (int bi = nb; bi < 16; ++bi) {
      for (int r = 0; r < R; ++r) p[r][bi] = _mm512_setzero_ps();
    }
    const __m512 sw = E8M0x16(ws + g, nb);
    for (int r = 0; r < R; ++r)
      acc[r] += GroupSum(p[r], xs + static_cast<size_t>(r) * kb + g, nb, sw);
  }
  for (int r = 0; r < R; ++r) y[r * y_stride] = RoundBf16(acc[r]);
}

using Fp8RowFn = void (*)(const uint8_t*, const uint8_t*, int, int, const uint16_t*, size_t,
                          const float*, float*, size_t);
// m = 1..3 (below kPanelMinRows): the in-register decode, all rows at once.
constexpr Fp8RowFn kFp8Row[3] = {Fp8Row<1>, Fp8Row<2>, Fp8Row<3>};

// ---- small-m GEMM: a panel of weight rows decoded once, register-blocked against activations

constexpr int kPanelRows = 4;  // weight rows per panel (NR)
constexpr int kMicroCols = 4;  // activation rows per micro-tile (MR)

// Blocks [g, g + nb) of rows [0, nr) of the codes at `w` (row stride k) -> bf16 in the order of
// PermuteFp8Acts, kGroupValues per row.
constexpr int kGroupValues = 16 * kQuantBlock;

DSV4_BF16_ATTR void DecodeFp8Panel(const uint8_t* w, int k, int g, int nb, int nr, uint16_t* out) {
  const E4M3Tables t = LoadE4M3Tables();
  const int full_blocks = k / kQuantBlock;
  for (int r = 0; r < nr; ++r) {
    for (int bi = 0; bi < nb; ++bi) {
      const int i0 = (g + bi) * kQuantBlock;
      __m512i wv[4];
      if (g + bi < full_blocks) {
        DecodeE4M3Block<false>(w + static_cast<size_t>(r) * k + i0, kQuantBlock, t, wv);
      } else {
        DecodeE4M3Block<true>(w + static_cast<size_t>(r) * k + i0, k - i0, t, wv);
      }
      for (int v = 0; v < 4; ++v) {
        _mm512_storeu_si512(out + r * kGroupValues + bi * kQuantBlock + 32 * v, wv[v]);
      }
    }
  }
}

// One group of 16 blocks: NR decoded weight rows (wp, kGroupValues each) × MR activation rows
// (xp at the group, stride kp); y[j·y_stride + i] += the group's sum (GroupSum, as Fp8Row).
template <int NR, int MR>
DSV4_BF16_ATTR void Fp8PanelGroup(const uint16_t* wp, const uint16_t* xp, size_t kp, int nb,
                                  const float* xs, size_t xs_stride, __m512 sw, float* y,
                                  size_t y_stride) {
  alignas(64) __m512 stash[NR][MR][16];
  for (int bi = 0; bi < 16; ++bi) {
    __m512 p[NR][MR];
#pragma GCC unroll 4
    for (int i = 0; i < NR; ++i) {
#pragma GCC unroll 4
      for (int j = 0; j < MR; ++j) p[i][j] = _mm512_setzero_ps();
    }
    if (bi < nb) {
      const int i0 = bi * kQuantBlock;
#pragma GCC unroll 4
      for (int v = 0; v < 4; ++v) {
        __m512i wv[NR];
#pragma GCC unroll 4
        for (int i = 0; i < NR; ++i)
          wv[i] = _mm512_loadu_si512(wp + i * kGroupValues + i0 + 32 * v);
#pragma GCC unroll 4
        for (int j = 0; j < MR; ++j) {
          const __m512i xv = _mm512_loadu_si512(xp + j * kp + i0 + 32 * v);
#pragma GCC unroll 4
          for (int i = 0; i < NR; ++i)
            p[i][j] = _mm512_dpbf16_ps(p[i][j], (__m512bh)wv[i], (__m512bh)xv);
        }
      }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NR; ++i) {
#pragma GCC unroll 4
      for (int j = 0; j < MR; ++j) stash[i][j][bi] = p[i][j];
    }
  }
  for (int j = 0; j < MR; ++j) {
    for (int i = 0; i < NR; ++i)
      y[j * y_stride + i] += GroupSum(stash[i][j], xs + j * xs_stride, nb, sw);
  }
}

using Fp8GroupFn = void (*)(const uint16_t*, const uint16_t*, size_t, int, const float*, size_t,
                            __m512, float*, size_t);
template <int NR>
constexpr Fp8GroupFn kFp8Groups[kMicroCols] = {Fp8PanelGroup<NR, 1>, Fp8PanelGroup<NR, 2>,
                                               Fp8PanelGroup<NR, 3>, Fp8PanelGroup<NR, 4>};
constexpr const Fp8GroupFn* kFp8Group[kPanelRows] = {kFp8Groups<1>, kFp8Groups<2>, kFp8Groups<3>,
                                                     kFp8Groups<4>};

// Activation rows from which the panel GEMM is used (at m <= 3 the in-register decode is as fast
// and needs no buffer).
constexpr int kPanelMinRows = 4;

// Rows [n0, n1) of y for m >= kPanelMinRows: K in groups of 16 blocks (the activation slice, m ×
// 4 KiB, stays in L2), each weight panel decoded once per group and reused for all m rows.
DSV4_BF16_ATTR void Fp8PanelRows(const detail::QuantizedRows& a, int m, const Fp8Weight& w,
                                 const uint16_t* xp, size_t kp, int n0, int n1, float* y) {
  const int k = w.k, kb = a.kb;
  AlignedVector<uint16_t> panel(kPanelRows * kGroupValues);
  for (int r = 0; r < m; ++r)
    std::fill(y + static_cast<size_t>(r) * w.n + n0, y + static_cast<size_t>(r) * w.n + n1, 0.0f);
  for (int g = 0; g < kb; g += 16) {
    const int nb = std::min(16, kb - g);
    for (int n = n0; n < n1; n += kPanelRows) {
      // Panels stay inside one 128-row block (kPanelRows divides 128): one scale row.
      const int nr = std::min(kPanelRows, n1 - n);
      DecodeFp8Panel(w.w + static_cast<size_t>(n) * k, k, g, nb, nr, panel.data());
      const __m512 sw = E8M0x16(w.scale + static_cast<size_t>(n / kQuantBlock) * kb + g, nb);
      for (int r = 0; r < m; r += kMicroCols) {
        const int mr = std::min(kMicroCols, m - r);
        kFp8Group[nr - 1][mr - 1](panel.data(), xp + r * kp + static_cast<size_t>(g) * kQuantBlock,
                                  kp, nb, a.s.data() + static_cast<size_t>(r) * kb + g,
                                  static_cast<size_t>(kb), sw, y + static_cast<size_t>(r) * w.n + n,
                                  static_cast<size_t>(w.n));
      }
    }
  }
  for (int r = 0; r < m; ++r) {
    for (int n = n0; n < n1; ++n)
      y[static_cast<size_t>(r) * w.n + n] = RoundBf16(y[static_cast<size_t>(r) * w.n + n]);
  }
}

inline void WeightScaleRange(const Fp8Weight& w, int kb, FoldRange* r) {
  const size_t count = static_cast<size_t>(CeilDiv(w.n, kQuantBlock)) * kb;
  for (size_t i = 0; i < count; ++i) {
    const int e = w.scale[i];
    if (e == 0 || e == 0xff) r->ok = false;
    r->w_lo = std::min(r->w_lo, e - 127);
    r->w_hi = std::max(r->w_hi, e - 127);
  }
}

// out = x·2^(e-127) per 128-block b (e = ws[b]) for `rows` rows of kp permuted bf16 activations.
DSV4_BF16_ATTR void FoldWeightScales(const uint16_t* xp, size_t kp, int rows, const uint8_t* ws,
                                     int kb, uint16_t* out) {
  for (int r = 0; r < rows; ++r) {
    for (int b = 0; b < kb; ++b) {
      const __m512i add = _mm512_set1_epi16(static_cast<int16_t>((ws[b] - 127) * 128));
      for (int v = 0; v < 4; ++v) {
        const size_t at = r * kp + static_cast<size_t>(b) * kQuantBlock + 32 * v;
        _mm512_storeu_si512(out + at, MulPow2Bf16(_mm512_loadu_si512(xp + at), add));
      }
    }
  }
}

// The folded FP8 matrix-vector kernel prefetches its weight stream into L2, 8 KiB ahead: in the
// model's decode (flash-slice, interleaved runs) FP8 linears took 15-16 ms/token against 17.5-22
// with the T0 hint 2 KiB ahead, and 17.5-25 with none; per-call interleaved microbenchmarks agree
// (+12-16% on one thread, +3-8% on two). The MXFP4 and bf16 kernels showed no such difference.
constexpr int kFoldedFp8PrefetchBytes = 8192;

// Matrix-vector (R < kFoldPanelMinRows activation rows): weight row decoded in registers,
// activations with s_w folded in (xs: R rows, stride kp). y[r·y_stride] = bf16(Σ products).
template <int R>
DSV4_BF16_ATTR void Fp8FoldedRow(const uint8_t* wrow, int k, const uint16_t* xs, size_t kp,
                                 float* y, size_t y_stride) {
  const E4M3Tables t = LoadE4M3Tables();
  const int full_blocks = k / kQuantBlock, kb = CeilDiv(k, kQuantBlock);
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int b = 0; b < kb; ++b) {
    const int i0 = b * kQuantBlock;
    _mm_prefetch(reinterpret_cast<const char*>(wrow + i0 + kFoldedFp8PrefetchBytes), _MM_HINT_T1);
    _mm_prefetch(reinterpret_cast<const char*>(wrow + i0 + kFoldedFp8PrefetchBytes + 64),
                 _MM_HINT_T1);
    __m512i wv[4];
    if (b < full_blocks) {
      DecodeE4M3Block<false>(wrow + i0, kQuantBlock, t, wv);
    } else {
      DecodeE4M3Block<true>(wrow + i0, k - i0, t, wv);
    }
#pragma GCC unroll 7
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int v = 0; v < 4; ++v) acc[r][v & 1] = Dp(acc[r][v & 1], wv[v], xs + r * kp + i0 + 32 * v);
    }
  }
  __m512 total[R];
  for (int r = 0; r < R; ++r) total[r] = _mm512_add_ps(acc[r][0], acc[r][1]);
  float sums[R];
  SumLanes(total, R, sums);
  for (int r = 0; r < R; ++r) y[r * y_stride] = RoundBf16(sums[r]);
}

using Fp8FoldedRowFn = void (*)(const uint8_t*, int, const uint16_t*, size_t, float*, size_t);
constexpr Fp8FoldedRowFn kFp8FoldedRow[kFoldPanelMinRows - 1] = {
    Fp8FoldedRow<1>, Fp8FoldedRow<2>, Fp8FoldedRow<3>, Fp8FoldedRow<4>,
    Fp8FoldedRow<5>, Fp8FoldedRow<6>, Fp8FoldedRow<7>};

// Rows [0, rows) of the codes at w (row stride k) -> bf16(w·s_w) per 128-block (ws: the rows'
// block-row of scales), in the order of PermuteFp8Row (split: SplitPanelGemm's layout), kp values
// per row (zeros past k).
DSV4_BF16_ATTR void DecodeFp8FoldedPanel(const uint8_t* w, int k, int rows, const uint8_t* ws,
                                         size_t kp, uint16_t* out, bool split = false) {
  const E4M3Tables t = LoadE4M3Tables();
  const int full_blocks = k / kQuantBlock, kb = CeilDiv(k, kQuantBlock);
  for (int r = 0; r < rows; ++r) {
    for (int b = 0; b < kb; ++b) {
      const int i0 = b * kQuantBlock;
      __m512i wv[4];
      if (b < full_blocks) {
        DecodeE4M3Block<false>(w + static_cast<size_t>(r) * k + i0, kQuantBlock, t, wv);
      } else {
        DecodeE4M3Block<true>(w + static_cast<size_t>(r) * k + i0, k - i0, t, wv);
      }
      // Exact: w has 4 significant bits and s_w is a power of two (NaN codes stay NaN).
      const __m512 s = _mm512_set1_ps(E8M0ToFloat(ws[b]));
      for (int v = 0; v < 4; ++v) {
        const __m512 lo = _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(wv[v])), 16));
        const __m512 hi = _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(wv[v], 1)), 16));
        const __m512bh folded = _mm512_cvtne2ps_pbh(_mm512_mul_ps(hi, s), _mm512_mul_ps(lo, s));
        const size_t at = split ? SplitOffset(4 * b + v, kp) : static_cast<size_t>(i0 + 32 * v);
        _mm512_storeu_si512(out + r * kp + at, (__m512i)folded);
      }
    }
  }
}

// One FP8 linear's activations, prepared once per call for every thread.
struct Fp8Acts {
  detail::QuantizedRows a;
  ScratchVector<uint16_t> xp;  // folded: bf16(q·s_x); else bf16(q); order of PermuteFp8Row
  bool folded = false;
  bool split = false;  // folded xp in SplitPanelGemm's layout (the register-tile GEMM at large k)
  size_t kp = 0;
};

DSV4_BF16_ATTR Fp8Acts PrepareFp8Acts(detail::QuantizedRows a, int m, const Fp8Weight& w) {
  Fp8Acts p;
  p.kp = static_cast<size_t>(a.kb) * kQuantBlock;
  FoldRange range;
  WeightScaleRange(w, a.kb, &range);
  if (range.ok) {
    const bool split = m >= kFoldPanelMinRows && !UseFastGemm(m) && UseSplitTiles(p.kp);
    ScratchVector<uint16_t> xp =
        PermuteScaledActs(a, m, w.k, static_cast<int>(p.kp), PermuteFp8Row, split, &range);
    if (Foldable(range, w.k)) {
      p.folded = true;
      p.split = split;
      p.xp = std::move(xp);
    }
  }
  if (!p.folded) p.xp = PermuteFp8Acts(a, m, w.k);
  p.a = std::move(a);
  return p;
}

// Rows [b0·128, b1·128) of y (whole 128-row scale blocks), folded scales.
DSV4_BF16_ATTR void Fp8FoldedBlocks(const Fp8Acts& p, int m, const Fp8Weight& w, int b0, int b1,
                                    float* y) {
  const int k = w.k, kb = p.a.kb;
  const size_t kp = p.kp;
  if (m < kFoldPanelMinRows) {
    AlignedVector<uint16_t> xs(static_cast<size_t>(m) * kp);
    for (int b = b0; b < b1; ++b) {
      FoldWeightScales(p.xp.data(), kp, m, w.scale + static_cast<size_t>(b) * kb, kb, xs.data());
      for (int n = b * kQuantBlock; n < std::min(w.n, (b + 1) * kQuantBlock); ++n) {
        kFp8FoldedRow[m - 1](w.w + static_cast<size_t>(n) * k, k, xs.data(), kp, y + n,
                             static_cast<size_t>(w.n));
      }
    }
    return;
  }
  if (UseFastGemm(m)) {
    const int per_call = FastGemmRows(kp) / kQuantBlock;  // scale blocks per oneDNN call
    uint16_t* rows = FastGemmScratch(static_cast<size_t>(per_call) * kQuantBlock * kp);
    for (int c0 = b0; c0 < b1; c0 += per_call) {
      const int c1 = std::min(b1, c0 + per_call);
      const int n_lo = c0 * kQuantBlock, n_hi = std::min(w.n, c1 * kQuantBlock);
      for (int b = c0; b < c1; ++b) {
        const int n = b * kQuantBlock;
        DecodeFp8FoldedPanel(w.w + static_cast<size_t>(n) * k, k,
                             std::min(w.n, n + kQuantBlock) - n,
                             w.scale + static_cast<size_t>(b) * kb, kp,
                             rows + static_cast<size_t>(n - n_lo) * kp);
      }
      FastGemm(rows, kp, n_hi - n_lo, p.xp.data(), kp, m, static_cast<int>(kp), y + n_lo,
               static_cast<size_t>(w.n), /*round=*/true);
    }
    return;
  }
  AlignedVector<uint16_t> panel(kFoldPanelRows * kp);
  for (int b = b0; b < b1; ++b) {
    const int row_end = std::min(w.n, (b + 1) * kQuantBlock);
    for (int n = b * kQuantBlock; n < row_end; n += kFoldPanelRows) {
      const int rows = std::min(kFoldPanelRows, row_end - n);
      DecodeFp8FoldedPanel(w.w + static_cast<size_t>(n) * k, k, rows,
                           w.scale + static_cast<size_t>(b) * kb, kp, panel.data(), p.split);
      if (p.split) {
        SplitPanelGemm(panel.data(), kp, rows, p.xp.data(), kp, m, kp, y + n,
                       static_cast<size_t>(w.n), /*round=*/true);
      } else {
        PanelGemm(panel.data(), kp, rows, p.xp.data(), kp, m, static_cast<int>(kp), y + n,
                  static_cast<size_t>(w.n), /*round=*/true);
      }
    }
  }
}

// Rows [b0·128, b1·128) of y (whole 128-row scale blocks).
void Fp8Blocks(const Fp8Acts& p, int m, const Fp8Weight& w, int b0, int b1, float* y) {
  if (p.folded) return Fp8FoldedBlocks(p, m, w, b0, b1, y);
  const detail::QuantizedRows& a = p.a;
  const int k = w.k, kb = a.kb;
  const size_t kp = p.kp;
  const uint16_t* xp = p.xp.data();
  const int n0 = b0 * kQuantBlock, n1 = std::min(w.n, b1 * kQuantBlock);
  if (m >= kPanelMinRows) return Fp8PanelRows(a, m, w, xp, kp, n0, n1, y);
  for (int n = n0; n < n1; ++n) {
    const uint8_t* ws = w.scale + static_cast<size_t>(n / kQuantBlock) * kb;
    kFp8Row[m - 1](w.w + static_cast<size_t>(n) * k, ws, k, kb, xp, kp, a.s.data(), y + n,
                   static_cast<size_t>(w.n));
  }
}

void LinearFp8Bf16(detail::QuantizedRows a, int m, const Fp8Weight& w, float* y) {
  const Fp8Acts p = PrepareFp8Acts(std::move(a), m, w);
  ThreadPool::Global().ParallelFor(CeilDiv(w.n, kQuantBlock), [&](int b0, int b1) {
    Fp8Blocks(p, m, w, b0, b1, y);
  });
}

// Independent FP8 linears in one parallel pass over all their 128-row blocks, the activations of
// each job already quantized (quantized[j], ignored where jobs[j].m <= 0).
void LinearFp8GroupBf16Prepared(const Fp8Job* jobs, int count,
                                std::vector<detail::QuantizedRows> quantized) {
  std::vector<Fp8Acts> acts(count);
  std::vector<int> first(count + 1, 0);  // first block of each job in the combined range
  for (int j = 0; j < count; ++j) {
    const Fp8Job& job = jobs[j];
    if (job.m > 0) acts[j] = PrepareFp8Acts(std::move(quantized[j]), job.m, job.w);
    first[j + 1] = first[j] + (job.m > 0 ? CeilDiv(job.w.n, kQuantBlock) : 0);
  }
  ThreadPool::Global().ParallelFor(first[count], [&](int b0, int b1) {
    for (int j = 0; j < count; ++j) {
      const int lo = std::max(b0, first[j]), hi = std::min(b1, first[j + 1]);
      if (lo < hi) Fp8Blocks(acts[j], jobs[j].m, jobs[j].w, lo - first[j], hi - first[j], jobs[j].y);
    }
  });
}

// Independent FP8 linears in one parallel pass (activations quantized per job as LinearFp8).
void LinearFp8GroupBf16(const Fp8Job* jobs, int count) {
  std::vector<detail::QuantizedRows> quantized(count);
  for (int j = 0; j < count; ++j) {
    if (jobs[j].m > 0) quantized[j] = detail::QuantizeRows(jobs[j].x, jobs[j].m, jobs[j].w.k);
  }
  LinearFp8GroupBf16Prepared(jobs, count, std::move(quantized));
}

