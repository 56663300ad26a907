// MXFP4 weights (e2m1, UE8M0 per 32) on AVX-512 BF16: the per-block kernel, the folded
// matrix-vector kernel and the folded GEMM's panel decode.
// Included by linear.cc after linear_avx512bf16-inl.h (AVX3_DL only).
//
// Not a standalone header: no include guard, it lives in linear.cc's per-target namespace.

// Activations in the order of the e2m1 decode: per 128 values, X_j[t] (j = 0..3, 32 each) =
// x[4t + j]; zero beyond k. One row: q (k values, e4m3 values or q·s_x) -> o (kp bf16 values;
// split: in SplitPanelGemm's layout, X_0, X_2 being even vectors and X_1, X_3 odd ones).
DSV4_BF16_ATTR void PermuteFp4Row(const float* q, int k, int kp, uint16_t* o, bool split = false) {
  // The high 16 bits of an fp32 e4m3 value are its exact bf16 (16-bit lane 2i+1 of float i of a
  // vector pair). A pair holds t = 8p..8p+7 of group p; lanes 8j+t' of the pick = X_j[8p+t'].
  alignas(64) static const uint16_t pick[32] = {1, 9,  17, 25, 33, 41, 49, 57, 3, 11, 19,
                                                27, 35, 43, 51, 59, 5, 13, 21, 29, 37, 45,
                                                53, 61, 7, 15, 23, 31, 39, 47, 55, 63};
  const __m512i idx = _mm512_load_si512(pick);
  for (int i0 = 0; i0 < kp; i0 += 128) {
    __m512i p[4];
    for (int pair = 0; pair < 4; ++pair) {
      __m512i v[2];
      for (int h = 0; h < 2; ++h) {
        const int left = k - i0 - 32 * pair - 16 * h;
        const __mmask16 mask = left >= 16 ? 0xffff : left <= 0 ? 0 : (1u << left) - 1;
        v[h] = _mm512_castps_si512(_mm512_maskz_loadu_ps(mask, q + i0 + 32 * pair + 16 * h));
      }
      p[pair] = _mm512_permutex2var_epi16(v[0], idx, v[1]);  // 128-bit lane j: X_j, pair's t
    }
    // 4x4 transpose of 128-bit lanes: X_j = lane j of p[0..3].
    const __m512i a01 = _mm512_shuffle_i64x2(p[0], p[1], 0x44),
                  b01 = _mm512_shuffle_i64x2(p[0], p[1], 0xee);
    const __m512i a23 = _mm512_shuffle_i64x2(p[2], p[3], 0x44),
                  b23 = _mm512_shuffle_i64x2(p[2], p[3], 0xee);
    const __m512i xj[4] = {
        _mm512_shuffle_i64x2(a01, a23, 0x88), _mm512_shuffle_i64x2(a01, a23, 0xdd),
        _mm512_shuffle_i64x2(b01, b23, 0x88), _mm512_shuffle_i64x2(b01, b23, 0xdd)};
    for (int j = 0; j < 4; ++j) {
      const size_t at = split ? SplitOffset(i0 / 32 + j, kp) : static_cast<size_t>(i0 + 32 * j);
      _mm512_storeu_si512(o + at, xj[j]);
    }
  }
}

constexpr int kFp4RowTile = 8;  // FP4: activation rows sharing one in-register weight decode

constexpr int kFp4Chunk = 512;  // values per step: 4 loads of 64 bytes, 16 scale blocks

// The per-block kernel's activations: bf16(q) in PermuteFp4Row's order (kp = a multiple of
// kFp4Chunk per row), and the scales per chunk of 512 in the order of the 4-group reduction:
// lane 4q+c = s_x of 128-group c.
DSV4_BF16_ATTR void PermuteFp4Acts(const detail::QuantizedRows& a, int m, int k,
                                   ScratchVector<uint16_t>* xp, std::vector<float>* sx) {
  const int chunks = CeilDiv(k, kFp4Chunk), kp = chunks * kFp4Chunk;
  xp->resize(static_cast<size_t>(m) * kp);
  sx->assign(static_cast<size_t>(m) * chunks * 16, 0.0f);
  detail::ForActRows(m, [&](int r0, int r1) {
    for (int r = r0; r < r1; ++r) {
      PermuteFp4Row(a.q.data() + static_cast<size_t>(r) * k, k, kp,
                    xp->data() + static_cast<size_t>(r) * kp);
      float* s = sx->data() + static_cast<size_t>(r) * chunks * 16;
      for (int g = 0; g < a.kb; ++g) {
        for (int lane = 0; lane < 4; ++lane)
          s[(g / 4) * 16 + 4 * lane + g % 4] = a.s[static_cast<size_t>(r) * a.kb + g];
      }
    }
  });
}

// One chunk of 512 values (4 loads of 64 bytes, 16 scale blocks) of a weight row against R
// activation rows; kTail: the row ends inside this chunk (masked loads, zeros beyond it).
template <int R, bool kTail>
DSV4_BF16_ATTR HWY_INLINE void Fp4Chunk(const uint8_t* wrow, const uint8_t* ws, int row_bytes,
                                        int k32, int ch, __m512i table, const uint16_t* xp,
                                        size_t kp, const float* sxp, size_t sx_stride,
                                        __m512* acc) {
  // Lane 4q+c of the reduced vector holds block 4c+q of the chunk; scales follow that order.
  const __m512i transpose = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  __m512 p[R][4];
#pragma GCC unroll 4
  for (int c = 0; c < 4; ++c) {
    const int off = ch * (kFp4Chunk / 2) + c * 64;
    _mm_prefetch(reinterpret_cast<const char*>(wrow + off + kPrefetchBytes), _MM_HINT_T0);
    const __m512i v = kTail ? _mm512_maskz_loadu_epi8(ByteMask(row_bytes - off), wrow + off)
                            : _mm512_loadu_si512(wrow + off);
    // 16-bit lane t holds the nibbles of elements 4t..4t+3; vpermw reads the low 5 index bits
    // of a 32-entry table (16 values twice), so no masking is needed.
    const __m512i w0 = _mm512_permutexvar_epi16(v, table);
    const __m512i w1 = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 4), table);
    const __m512i w2 = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 8), table);
    const __m512i w3 = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 12), table);
    for (int r = 0; r < R; ++r) {
      const uint16_t* x = xp + r * kp + ch * kFp4Chunk + c * 128;
      // Two independent chains (summation order inside a block is free, kernels.h).
      const __m512 s0 = Dp(Dp(_mm512_setzero_ps(), w0, x), w2, x + 64);
      const __m512 s1 = Dp(Dp(_mm512_setzero_ps(), w1, x + 32), w3, x + 96);
      p[r][c] = _mm512_add_ps(s0, s1);
    }
  }
  const __m512 sw =
      _mm512_permutexvar_ps(transpose, E8M0x16(ws + ch * 16, kTail ? k32 - ch * 16 : 16));
  for (int r = 0; r < R; ++r) {
    const __m512 part = PairSum(PairSum(p[r][0], p[r][1]), PairSum(p[r][2], p[r][3]));
    const __m512 sx = _mm512_loadu_ps(sxp + r * sx_stride + ch * 16);
    acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(part, _mm512_mul_ps(sx, sw)));
  }
}

template <int R>
DSV4_BF16_ATTR void Fp4Row(const uint8_t* wrow, const uint8_t* ws, int k, const uint16_t* xp,
                           size_t kp, const float* sxp, size_t sx_stride, float* y,
                           size_t y_stride) {
  const __m512i table = _mm512_load_si512(GetBf16Tables().e2m1);
  const int row_bytes = k / 2, k32 = k / kFp4Block, full = k / kFp4Chunk;
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  for (int ch = 0; ch < full; ++ch) {
    Fp4Chunk<R, false>(wrow, ws, row_bytes, k32, ch, table, xp, kp, sxp, sx_stride, acc);
  }
  if (full * kFp4Chunk < k) {
    Fp4Chunk<R, true>(wrow, ws, row_bytes, k32, full, table, xp, kp, sxp, sx_stride, acc);
  }
  for (int r = 0; r < R; ++r) y[r * y_stride] = RoundBf16(_mm512_reduce_add_ps(acc[r]));
}

using Fp4RowFn = void (*)(const uint8_t*, const uint8_t*, int, const uint16_t*, size_t,
                          const float*, size_t, float*, size_t);
constexpr Fp4RowFn kFp4Row[kFp4RowTile] = {Fp4Row<1>, Fp4Row<2>, Fp4Row<3>, Fp4Row<4>,
                                            Fp4Row<5>, Fp4Row<6>, Fp4Row<7>, Fp4Row<8>};

// ---- MXFP4 with folded scales (as FP8): e2m1 values times s_w (per 32) are exact bf16,
// and so are the activations q·s_x, so each output is one dot product of exact products. The
// weight side is folded in registers by an exponent add per 128-bit lane (one scale block each),
// in both the matrix-vector kernel and the GEMM's panel decode, so both add the same products in
// the same order. Rows whose scales leave a fixed safe range (never in real checkpoints) are
// computed by the per-block kernel above; that range is fixed so the choice depends on the row
// alone, and the activations' range is checked per call.
constexpr int kFp4ScaleLo = -45, kFp4ScaleHi = 50;  // unbiased e8m0 exponents folded
// DecodeFp4Folded: the subtrahend (bias - e) stays >= 0, and the largest biased e2m1 exponent
// (6·2^bias) stays below bf16's infinity.
static_assert(kFp4ScaleHi <= kE2M1TableBias && 2 + kE2M1TableBias <= 127);

// True when every scale byte of a weight row (count of them) is in the folded range.
DSV4_BF16_ATTR HWY_INLINE bool Fp4RowScalesFoldable(const uint8_t* ws, int count) {
  const __m512i lo = _mm512_set1_epi8(static_cast<char>(127 + kFp4ScaleLo)),
                hi = _mm512_set1_epi8(static_cast<char>(127 + kFp4ScaleHi));
  __mmask64 bad = 0;
  for (int i = 0; i < count; i += 64) {
    const __mmask64 valid = ByteMask(count - i);
    const __m512i e = _mm512_maskz_loadu_epi8(valid, ws + i);
    bad |= (_mm512_cmplt_epu8_mask(e, lo) | _mm512_cmpgt_epu8_mask(e, hi)) & valid;
  }
  return bad == 0;
}

// The subtrahends that fold 32 scale blocks (8 chunks of 128 values; `count` valid bytes at ws,
// the rest read as e = 0): word i = (127 + kE2M1TableBias - e_i)·128, see DecodeFp4Folded. Built
// once per 8 chunks and picked per chunk with one vpermw (Fp4ChunkLower): building them per chunk
// (a masked load, vpermb, shift and subtract per 64 weight bytes) was ~11% of the batch-1 kernel's
// time, which is compute-bound on this port mix (docs/kernels.md).
constexpr int kFp4LowerChunks = 8;
DSV4_BF16_ATTR HWY_INLINE __m512i Fp4LowerWords(const uint8_t* ws, int count) {
  const __mmask32 valid = count >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((1u << count) - 1);
  const __m512i e = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(valid, ws));
  return _mm512_sub_epi16(_mm512_set1_epi16((127 + kE2M1TableBias) << 7), _mm512_slli_epi16(e, 7));
}

// Chunk cc (0..7) of those 32 blocks: 16-bit lane t of 128-bit lane q <- word 4·cc + q.
DSV4_BF16_ATTR HWY_INLINE __m512i Fp4ChunkLower(__m512i words, int cc) {
  alignas(64) static const uint16_t lane[32] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                                2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
  const __m512i idx = _mm512_add_epi16(_mm512_load_si512(lane),
                                       _mm512_set1_epi16(static_cast<int16_t>(4 * cc)));
  return _mm512_permutexvar_epi16(idx, words);
}

// 128 values of a weight row (64 bytes at w, `bytes` valid when kTail) -> 4 bf16 vectors w·s_w
// in the element order of PermuteFp4Acts (vector j, lane t: element 4t + j; 128-bit lane q holds
// scale block q, whose subtrahend is lane q of `lower`, Fp4ChunkLower). The biased table gives
// w·2^64 (zeros as +0, which changes no sum: every chain starts at +0); an unsigned saturating
// subtract of (64 - (e - 127))·128 then lowers each nonzero exponent to that of w·2^(e-127),
// exactly, and leaves zeros at zero — one instruction where an exponent add needed a zero test
// and a masked add. Valid for e - 127 in [kFp4ScaleLo, kFp4ScaleHi] (the folded rows).
template <bool kTail>
DSV4_BF16_ATTR HWY_INLINE void DecodeFp4Folded(const uint8_t* w, int bytes, __m512i lower,
                                               __m512i table, __m512i* wv) {
  const __m512i v = kTail ? _mm512_maskz_loadu_epi8(ByteMask(bytes), w) : _mm512_loadu_si512(w);
  wv[0] = _mm512_permutexvar_epi16(v, table);
  wv[1] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 4), table);
  wv[2] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 8), table);
  wv[3] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 12), table);
  for (int j = 0; j < 4; ++j) wv[j] = _mm512_subs_epu16(wv[j], lower);
}

// Chunk c of a row (full chunks: `full`; the last may be partial), its scales' subtrahends given.
DSV4_BF16_ATTR HWY_INLINE void DecodeFp4Chunk(const uint8_t* wrow, int row_bytes, int c, int full,
                                              __m512i lower, __m512i table, __m512i* wv) {
  if (c < full) {
    DecodeFp4Folded<false>(wrow + c * 64, 64, lower, table, wv);
  } else {
    DecodeFp4Folded<true>(wrow + c * 64, row_bytes - c * 64, lower, table, wv);
  }
}

// Matrix-vector (R < kFoldPanelMinRows activation rows, xs: bf16(q·s_x), stride kp):
// y[r·y_stride]. At R = 1 this also waits on vdpbf16ps latency (4 per 64-byte load, two per
// chain). Measured and not adopted: 4 chains (10-15% faster from cache, but the GEMM must add in
// the same order, and its 4-chain tiles, 2x3 for 24 accumulators, ran the prefill expert shape
// 22% slower). Batch-1 decode takes two rows at a time instead (Fp4FoldedPair).
template <int R>
DSV4_BF16_ATTR void Fp4FoldedRow(const uint8_t* wrow, const uint8_t* ws, int k, const uint16_t* xs,
                                 size_t kp, float* y, size_t y_stride) {
  const __m512i table = _mm512_load_si512(GetBf16Tables().e2m1_biased);
  const int row_bytes = k / 2, k32 = k / kFp4Block, full = k / 128, chunks = CeilDiv(k, 128);
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int g = 0; g < chunks; g += kFp4LowerChunks) {
    const __m512i words = Fp4LowerWords(ws + g * 4, k32 - g * 4);
    const int n = std::min(kFp4LowerChunks, chunks - g);
#pragma GCC unroll 8
    for (int cc = 0; cc < n; ++cc) {
      const int c = g + cc;
      _mm_prefetch(reinterpret_cast<const char*>(wrow + c * 64 + kPrefetchBytes), _MM_HINT_T0);
      __m512i wv[4];
      DecodeFp4Chunk(wrow, row_bytes, c, full, Fp4ChunkLower(words, cc), table, wv);
#pragma GCC unroll 7
      for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j)
          acc[r][j & 1] = Dp(acc[r][j & 1], wv[j], xs + r * kp + c * 128 + 32 * j);
      }
    }
  }
  __m512 total[R];
  for (int r = 0; r < R; ++r) total[r] = _mm512_add_ps(acc[r][0], acc[r][1]);
  float sums[R];
  SumLanes(total, R, sums);
  for (int r = 0; r < R; ++r) y[r * y_stride] = RoundBf16(sums[r]);
}

// Two adjacent weight rows against one activation row (batch-1 decode): each row's sums in the
// order of Fp4FoldedRow<1> (same bits) with four independent chains instead of two. The pair's
// rows are one contiguous region; the next pair's region is prefetched in address order (two
// lines per step), so DRAM still sees one sequential stream. (Prefetching each row's own stream
// ahead instead made two-row kernels ~1.5x slower from DRAM.) Into L1 while the activations
// (2k bytes), this pair and the next (2k more) fit in 24 of L1's 32 KiB: at k = 7168 (V4-Pro's
// w1/w3) that prefetch evicted the activations, and into L2 instead the kernel ran +20% (12.6 ->
// 15.3 GB/s on one thread, 21 -> 25.6 on two), while at k <= 4096 L2 was 10-25% slower.
constexpr int kFp4PairL1PrefetchMaxK = 6144;
DSV4_BF16_ATTR void Fp4FoldedPair(const uint8_t* wrow, const uint8_t* ws, int k, const uint16_t* xs,
                                  float* y) {
  const __m512i table = _mm512_load_si512(GetBf16Tables().e2m1_biased);
  const int row_bytes = k / 2, k32 = k / kFp4Block, full = k / 128, chunks = CeilDiv(k, 128);
  const bool prefetch_l1 = k <= kFp4PairL1PrefetchMaxK;
  __m512 acc[2][2];
  for (int r = 0; r < 2; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int g = 0; g < chunks; g += kFp4LowerChunks) {
    const __m512i words[2] = {Fp4LowerWords(ws + g * 4, k32 - g * 4),
                              Fp4LowerWords(ws + k32 + g * 4, k32 - g * 4)};
    const int n = std::min(kFp4LowerChunks, chunks - g);
#pragma GCC unroll 8
    for (int cc = 0; cc < n; ++cc) {
      const int c = g + cc;
#pragma GCC unroll 2
      for (int r = 0; r < 2; ++r) {
        const char* next = reinterpret_cast<const char*>(wrow + 2 * row_bytes + (2 * c + r) * 64);
        if (prefetch_l1) {
          _mm_prefetch(next, _MM_HINT_T0);
        } else {
          _mm_prefetch(next, _MM_HINT_T1);
        }
        __m512i wv[4];
        DecodeFp4Chunk(wrow + r * row_bytes, row_bytes, c, full, Fp4ChunkLower(words[r], cc),
                       table, wv);
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j)
          acc[r][j & 1] = Dp(acc[r][j & 1], wv[j], xs + c * 128 + 32 * j);
      }
    }
  }
  const __m512 total[2] = {_mm512_add_ps(acc[0][0], acc[0][1]),
                           _mm512_add_ps(acc[1][0], acc[1][1])};
  float sums[2];
  SumLanes(total, 2, sums);
  y[0] = RoundBf16(sums[0]);
  y[1] = RoundBf16(sums[1]);
}

using Fp4FoldedRowFn = void (*)(const uint8_t*, const uint8_t*, int, const uint16_t*, size_t,
                                float*, size_t);
constexpr Fp4FoldedRowFn kFp4FoldedRow[kFoldPanelMinRows - 1] = {
    Fp4FoldedRow<1>, Fp4FoldedRow<2>, Fp4FoldedRow<3>, Fp4FoldedRow<4>,
    Fp4FoldedRow<5>, Fp4FoldedRow<6>, Fp4FoldedRow<7>};

// Rows [0, rows) of an MXFP4 weight (row stride k/2 bytes, scales k/32) -> bf16(w·s_w), kp per
// row, zeros past k. Returns a bit per row whose scales are outside the folded range (those panel
// rows are garbage and must be recomputed).
DSV4_BF16_ATTR uint64_t DecodeFp4FoldedPanel(const uint8_t* w, const uint8_t* ws, int k, int rows,
                                             size_t kp, uint16_t* out, bool split = false) {
  const __m512i table = _mm512_load_si512(GetBf16Tables().e2m1_biased);
  const int row_bytes = k / 2, k32 = k / kFp4Block, full = k / 128, chunks = CeilDiv(k, 128);
  uint64_t bad = 0;
  for (int r = 0; r < rows; ++r) {
    const uint8_t* wrow = w + static_cast<size_t>(r) * row_bytes;
    const uint8_t* srow = ws + static_cast<size_t>(r) * k32;
    if (!Fp4RowScalesFoldable(srow, k32)) bad |= uint64_t{1} << r;
    uint16_t* o = out + r * kp;
    for (int g = 0; g < chunks; g += kFp4LowerChunks) {
      const __m512i words = Fp4LowerWords(srow + g * 4, k32 - g * 4);
      const int n = std::min(kFp4LowerChunks, chunks - g);
      for (int cc = 0; cc < n; ++cc) {
        const int c = g + cc;
        __m512i wv[4];
        DecodeFp4Chunk(wrow, row_bytes, c, full, Fp4ChunkLower(words, cc), table, wv);
        for (int j = 0; j < 4; ++j) {
          const size_t at =
              split ? SplitOffset(4 * c + j, kp) : static_cast<size_t>(c * 128 + 32 * j);
          _mm512_storeu_si512(o + at, wv[j]);
        }
      }
    }
    for (int v = 4 * chunks; v < static_cast<int>(kp / 32); ++v) {  // zeros past k
      const size_t at = split ? SplitOffset(v, kp) : static_cast<size_t>(v) * 32;
      _mm512_storeu_si512(o + at, _mm512_setzero_si512());
    }
  }
  return bad;
}

struct Fp4Acts {
  ScratchVector<uint16_t> xp;  // bf16(q), PermuteFp4Row order (the per-block kernel)
  std::vector<float> sx;
  ScratchVector<uint16_t> xf;  // bf16(q·s_x), same order (folded kernels); empty: not foldable
  bool split = false;          // xf in SplitPanelGemm's layout (the register-tile GEMM at large k)
  size_t kp = 0, sx_stride = 0;
};

Fp4Acts PrepareFp4Acts(const detail::QuantizedRows& a, int m, int k) {
  Fp4Acts p;
  const int chunks = CeilDiv(k, kFp4Chunk);
  p.kp = static_cast<size_t>(chunks) * kFp4Chunk;
  p.sx_stride = static_cast<size_t>(chunks) * 16;
  PermuteFp4Acts(a, m, k, &p.xp, &p.sx);
  FoldRange range;
  range.w_lo = kFp4ScaleLo;
  range.w_hi = kFp4ScaleHi;
  p.split = m >= kFoldPanelMinRows && !UseFastGemm(m) && UseSplitTiles(p.kp);
  p.xf = PermuteScaledActs(a, m, k, static_cast<int>(p.kp), PermuteFp4Row, p.split, &range);
  if (!Foldable(range, k, -1, 3)) p.xf = {};
  return p;
}

// Rows [n0, n1) of y, the per-block kernel.
void Fp4RowsPerBlock(const Fp4Acts& p, int m, const Fp4Weight& w, int n0, int n1, float* y) {
  const int k = w.k;
  for (int mt = 0; mt < m; mt += kRowTile) {
    const int mt_end = std::min(m, mt + kRowTile);
    for (int n = n0; n < n1; ++n) {
      const uint8_t* wrow = w.w + static_cast<size_t>(n) * (k / 2);
      const uint8_t* ws = w.scale + static_cast<size_t>(n) * (k / kFp4Block);
      for (int r = mt; r < mt_end; r += kFp4RowTile) {
        const int rows = std::min(kFp4RowTile, mt_end - r);
        kFp4Row[rows - 1](wrow, ws, k, p.xp.data() + r * p.kp, p.kp, p.sx.data() + r * p.sx_stride,
                          p.sx_stride, y + static_cast<size_t>(r) * w.n + n,
                          static_cast<size_t>(w.n));
      }
    }
  }
}

// Rows [n0, n1) of y.
DSV4_BF16_ATTR void Fp4Rows(const Fp4Acts& p, int m, const Fp4Weight& w, int n0, int n1,
                            float* y) {
  if (p.xf.empty()) return Fp4RowsPerBlock(p, m, w, n0, n1, y);
  const int k = w.k, k32 = k / kFp4Block;
  const size_t kp = p.kp;
  if (m < kFoldPanelMinRows) {
    int n = n0;
    if (m == 1) {  // rows in pairs while both rows' scales fold (all rows of real checkpoints)
      for (; n + 2 <= n1; n += 2) {
        const uint8_t* ws = w.scale + static_cast<size_t>(n) * k32;
        if (!Fp4RowScalesFoldable(ws, 2 * k32)) break;
        Fp4FoldedPair(w.w + static_cast<size_t>(n) * (k / 2), ws, k, p.xf.data(), y + n);
      }
    }
    for (; n < n1; ++n) {
      const uint8_t* wrow = w.w + static_cast<size_t>(n) * (k / 2);
      const uint8_t* ws = w.scale + static_cast<size_t>(n) * k32;
      if (Fp4RowScalesFoldable(ws, k32)) {
        kFp4FoldedRow[m - 1](wrow, ws, k, p.xf.data(), kp, y + n, static_cast<size_t>(w.n));
      } else {
        Fp4RowsPerBlock(p, m, w, n, n + 1, y);
      }
    }
    return;
  }
  if (UseFastGemm(m)) {
    const int per_call = FastGemmRows(kp);
    uint16_t* rows = FastGemmScratch(static_cast<size_t>(per_call) * kp);
    for (int c0 = n0; c0 < n1; c0 += per_call) {
      const int c1 = std::min(n1, c0 + per_call);
      std::vector<int> bad;  // rows whose scales do not fold: recomputed after the call
      for (int n = c0; n < c1; n += 64) {  // 64: the width of the decoder's bad-row mask
        const int count = std::min(64, c1 - n);
        const uint64_t mask = DecodeFp4FoldedPanel(w.w + static_cast<size_t>(n) * (k / 2),
                                                   w.scale + static_cast<size_t>(n) * k32, k, count,
                                                   kp, rows + static_cast<size_t>(n - c0) * kp);
        for (int r = 0; r < count; ++r) {
          if (mask >> r & 1) bad.push_back(n + r);
        }
      }
      FastGemm(rows, kp, c1 - c0, p.xf.data(), kp, m, static_cast<int>(kp), y + c0,
               static_cast<size_t>(w.n), /*round=*/true);
      for (int n : bad) Fp4RowsPerBlock(p, m, w, n, n + 1, y);
    }
    return;
  }
  AlignedVector<uint16_t> panel(kFoldPanelRows * kp);
  for (int n = n0; n < n1; n += kFoldPanelRows) {
    const int rows = std::min(kFoldPanelRows, n1 - n);
    const uint64_t bad = DecodeFp4FoldedPanel(w.w + static_cast<size_t>(n) * (k / 2),
                                              w.scale + static_cast<size_t>(n) * k32, k, rows, kp,
                                              panel.data(), p.split);
    if (p.split) {
      SplitPanelGemm(panel.data(), kp, rows, p.xf.data(), kp, m, kp, y + n,
                     static_cast<size_t>(w.n), /*round=*/true);
    } else {
      PanelGemm(panel.data(), kp, rows, p.xf.data(), kp, m, static_cast<int>(kp), y + n,
                static_cast<size_t>(w.n), /*round=*/true);
    }
    for (int r = 0; r < rows; ++r) {
      if (bad >> r & 1) Fp4RowsPerBlock(p, m, w, n + r, n + r + 1, y);
    }
  }
}

void LinearFp4Bf16(const detail::QuantizedRows& a, int m, const Fp4Weight& w, float* y) {
  const Fp4Acts p = PrepareFp4Acts(a, m, w.k);
  ThreadPool::Global().ParallelFor(w.n, [&](int n0, int n1) { Fp4Rows(p, m, w, n0, n1, y); });
}

// Independent MXFP4 linears (the routed experts of a step) in one parallel pass over all rows. The
// pass is split by work, not rows: in prefill each expert has its own number of tokens, and ranges
// of equal row counts left one thread finishing a busy expert alone. Row r of job j is unit
// first[j] + r·weight[j] (weight ~ its activation rows), and a range owns the rows whose unit it
// holds.
void LinearFp4GroupBf16(const Fp4Job* jobs, int count) {
  std::vector<Fp4Acts> acts(count);
  // Jobs with the same input (an expert's w1 and w3) share one preparation: acts[same[j]].
  std::vector<int> same(count);
  std::vector<int64_t> first(count + 1, 0), weight(count, 1);
  // Rows per unit: 1, or the rows of one oneDNN call where a job takes it (a range then never
  // splits a call's rows, and the calls keep their efficient width).
  std::vector<int> chunk(count, 1);
  for (int j = 0; j < count; ++j) {
    const Fp4Job& job = jobs[j];
    same[j] = j;
    for (int i = 0; i < j; ++i) {
      if (jobs[i].x == job.x && jobs[i].m == job.m && jobs[i].w.k == job.w.k) {
        same[j] = i;
        break;
      }
    }
    if (job.m > 0 && same[j] == j) {
      acts[j] = PrepareFp4Acts(detail::QuantizeRows(job.x, job.m, job.w.k), job.m, job.w.k);
    }
    const Fp4Acts& p = acts[same[j]];
    if (UseFastGemm(job.m) && !p.xf.empty()) chunk[j] = FastGemmRows(p.kp);
    weight[j] = (1 + job.m / 16) * chunk[j];
    first[j + 1] = first[j] + (job.m > 0 ? CeilDiv(job.w.n, chunk[j]) * weight[j] : 0);
  }
  DSV4_CHECK(first[count] < (int64_t{1} << 31));
  ThreadPool::Global().ParallelFor(static_cast<int>(first[count]), [&](int u0, int u1) {
    for (int j = 0; j < count; ++j) {
      if (jobs[j].m <= 0) continue;
      // Rows of the units first[j] + c·weight[j] (c: a chunk of rows) that lie in [u0, u1).
      auto row_at = [&](int64_t u) {
        const int64_t c = (u - first[j] + weight[j] - 1) / weight[j];
        return static_cast<int>(std::clamp<int64_t>(c * chunk[j], 0, jobs[j].w.n));
      };
      const int lo = row_at(u0), hi = row_at(u1);
      if (lo < hi) Fp4Rows(acts[same[j]], jobs[j].m, jobs[j].w, lo, hi, jobs[j].y);
    }
  });
}

