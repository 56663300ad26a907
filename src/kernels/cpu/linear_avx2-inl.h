// FP8 and MXFP4 linears on AVX2 + FMA (Zen 2/3, Haswell and later without AVX-512 BF16): weights
// decoded in registers to exact fp32 values by integer shuffles, fp32 FMA.
// Included by linear.cc in the AVX2 target only.
//
// Not a standalone header: no include guard, it lives in linear.cc's per-target namespace.
//
// Numerics. Every product is exact in fp32 (e4m3 × e4m3: 8 significant bits; e4m3 × e2m1: 6), so
// only the summation order differs from ref: per scale block one 8-lane partial (an FMA chain over
// the block's values in the order below), then acc = fma(partial, block scale, acc), then a fixed
// lane-sum tree. The matrix-vector kernels (m = 1: weights decoded in registers) and the GEMM (m >
// 1: a panel of rows decoded once to fp32, then register tiles) decode the same fp32 values and run
// the same operations per output, so no output depends on the batch size.
//
// Decodes (both measured on Zen 3 against the alternatives, docs/kernels.md):
// - e4m3: sign-extend to 16 bits, shift the magnitude into a bf16's exponent and mantissa, then
//   fp32 = bf16 << 16 (even codes) or bf16 & 0xffff0000 (odd codes). That is the code's value times
//   2^-120, exactly, subnormals included (they become fp32 subnormals with the same factor), so the
//   activations carry 2^119 and the block scale the remaining 2. `vcvtph2ps` via fp16 (the other
//   exact shift) was 1.6x slower: its ymm form issues once per 2 cycles.
// - e2m1: two 16-entry byte tables (`vpshufb`, the bf16 value's low and high byte) per nibble.
constexpr int kAvx2Rows = 4;       // weight rows per in-register decode (m = 1) and per GEMM panel
constexpr int kAvx2TileActs = 3;   // activation rows per GEMM register tile (4 × 3 partials)
constexpr int kAvx2Fp8Chunk = 32;  // e4m3 codes per step
constexpr int kAvx2Fp4Chunk = 64;  // e2m1 values (32 bytes, two scale blocks) per step
// The activations carry 2^kAvx2Fp8Shift, the decoded e4m3 weights 2^-120; the block scale makes up
// the difference (×2), so each partial is half its value in ref.
constexpr int kAvx2Fp8Shift = 119;  // 448 · 2^119 < 2^128: the largest e4m3 activation stays finite

// The lane sum of every kernel here (one fixed tree).
HWY_INLINE float LaneSum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 16 e4m3 codes -> their values × 2^-120: `even` holds codes 0, 2, .., 14, `odd` 1, 3, .., 15.
HWY_INLINE void DecodeE4M3x16(const uint8_t* w, __m256* even, __m256* odd) {
  __m256i h = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
  // sign copies land in bits 11-15, the magnitude (eeee mmm) in bits 4-10; keep bit 15 and 4-10.
  h = _mm256_and_si256(_mm256_slli_epi16(h, 4), _mm256_set1_epi16(static_cast<int16_t>(0x87f0)));
  *even = _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
  *odd = _mm256_castsi256_ps(_mm256_and_si256(h, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
}

// NaN codes (0x7f, 0xff): the running max of the magnitudes doubled (sign shifted out) reaches
// 0xfe exactly when one was seen.
HWY_INLINE __m256i TrackE4M3NaN(const uint8_t* w, __m256i seen) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
  return _mm256_max_epu8(seen, _mm256_add_epi8(v, v));
}
HWY_INLINE bool SawE4M3NaN(__m256i seen) {
  const __m256i hit = _mm256_cmpeq_epi8(seen, _mm256_set1_epi8(static_cast<char>(0xfe)));
  return _mm256_movemask_epi8(hit) != 0;
}

// The activation order of DecodeE4M3x16: per 16 values, the even ones then the odd ones.
HWY_INLINE int Fp8ActSlot(int i) { return (i & ~15) + ((i & 1) << 3) + ((i & 15) >> 1); }

// The scale of one FP8 block's partial (each partial is half of ref's, kAvx2Fp8Shift).
HWY_INLINE float Fp8BlockScale(float sx, uint8_t sw) { return sx * E8M0ToFloat(sw) * 2.0f; }

// One FP8 linear's activations: x·2^shift_r in Fp8ActSlot order, zero-padded to kp (a multiple of
// 32); sx: the per-128 activation scales (1 for bf16 activations); post_r: 2^(119 - shift_r),
// applied to each output (1 for quantized activations, whose |q| <= 448).
struct Avx2Fp8Acts {
  ScratchVector<float> xp;
  std::vector<float> sx, post;
  int kp = 0, kb = 0;
};

// rows: m rows of k values; sx: m·kb scales, or empty for unit scales (bf16 activations, which may
// be large: their shift is lowered so x·2^shift stays finite, and post restores it).
Avx2Fp8Acts PrepareAvx2Fp8Acts(const float* rows, int m, int k, std::vector<float> sx) {
  Avx2Fp8Acts p;
  p.kp = CeilDiv(k, kAvx2Fp8Chunk) * kAvx2Fp8Chunk;
  p.kb = CeilDiv(k, kQuantBlock);
  const bool unit = sx.empty();
  p.sx = unit ? std::vector<float>(static_cast<size_t>(m) * p.kb, 1.0f) : std::move(sx);
  p.post.assign(m, 1.0f);
  p.xp.resize(static_cast<size_t>(m) * p.kp);
  detail::ForActRows(m, [&](int r0, int r1) {
    for (int r = r0; r < r1; ++r) {
      const float* x = rows + static_cast<size_t>(r) * k;
      int shift = kAvx2Fp8Shift;
      if (unit) {  // bf16 activations may exceed 448 (quantized ones are e4m3 values, |q| <= 448)
        __m256 vmax = _mm256_setzero_ps();
        const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
        int i = 0;
        for (; i + 8 <= k; i += 8)
          vmax = _mm256_max_ps(vmax, _mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask));
        alignas(32) float lanes[8];
        _mm256_store_ps(lanes, vmax);
        float amax = 0.0f;
        for (float v : lanes) amax = std::max(amax, v);
        for (; i < k; ++i) amax = std::max(amax, std::fabs(x[i]));
        if (amax > 448.0f && std::isfinite(amax)) shift = std::min(shift, 125 - std::ilogb(amax));
      }
      p.post[r] = std::ldexp(1.0f, kAvx2Fp8Shift - shift);
      const __m256 scale = _mm256_set1_ps(std::ldexp(1.0f, shift));
      float* out = p.xp.data() + static_cast<size_t>(r) * p.kp;
      int i = 0;
      for (; i + 16 <= k; i += 16) {  // evens then odds of 16 values (Fp8ActSlot)
        const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        const __m256d even =
            _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xd8);
        const __m256d odd =
            _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xdd)), 0xd8);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_castpd_ps(even), scale));
        _mm256_storeu_ps(out + i + 8, _mm256_mul_ps(_mm256_castpd_ps(odd), scale));
      }
      const float sc = std::ldexp(1.0f, shift);
      for (int t = i; t < p.kp; ++t) out[Fp8ActSlot(t)] = t < k ? x[t] * sc : 0.0f;
    }
  });
  return p;
}

// Bytes [at, at + 32) of a row of `row_bytes` (e4m3 codes or e2m1 pairs, both 32 bytes per step):
// in place, or copied zero-padded at the row's end (code 0 is +0 in both formats).
HWY_INLINE const uint8_t* ChunkBytes32(const uint8_t* row, int row_bytes, int at, uint8_t* pad) {
  if (at + 32 <= row_bytes) return row + at;
  std::memset(pad, 0, 32);
  std::memcpy(pad, row + at, row_bytes - at);
  return pad;
}

// p += one chunk's products (codes at c, activations at x); seen: the NaN-code tracker.
HWY_INLINE __m256 Fp8ChunkDot(const uint8_t* c, const float* x, __m256 p, __m256i* seen) {
  *seen = TrackE4M3NaN(c, *seen);
  __m256 v[4];
  DecodeE4M3x16(c, &v[0], &v[1]);
  DecodeE4M3x16(c + 16, &v[2], &v[3]);
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) p = _mm256_fmadd_ps(v[j], _mm256_loadu_ps(x + 8 * j), p);
  return p;
}

// Matrix-vector: R weight rows of one 128-row block (codes at w, stride k; ws: the block's scales)
// against one activation row. y[i] for i < R. Whole 128-blocks without tail checks, then the
// row's last block.
template <int R>
void Fp8RowsAvx2(const uint8_t* w, int k, const uint8_t* ws, const float* xp, const float* sx,
                 float post, const uint8_t* next, float* y) {
  const int kb = CeilDiv(k, kQuantBlock), full = k / kQuantBlock;
  constexpr int kChunks = kQuantBlock / kAvx2Fp8Chunk;
  __m256 acc[R];
  __m256i seen[R];
  for (int r = 0; r < R; ++r) {
    acc[r] = _mm256_setzero_ps();
    seen[r] = _mm256_setzero_si256();
  }
  for (int b = 0; b < full; ++b) {
    __m256 p[R];
    for (int r = 0; r < R; ++r) p[r] = _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int cc = 0; cc < kChunks; ++cc) {
      const int i0 = b * kQuantBlock + cc * kAvx2Fp8Chunk;
      // The next rows' bytes in address order, R · 32 per step: one stream for DRAM.
      if (next != nullptr) {
        const char* ahead = reinterpret_cast<const char*>(next) + static_cast<size_t>(i0) * R;
        for (int l = 0; l < R * kAvx2Fp8Chunk; l += 64) _mm_prefetch(ahead + l, _MM_HINT_T0);
      }
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        p[r] = Fp8ChunkDot(w + static_cast<size_t>(r) * k + i0, xp + i0, p[r], &seen[r]);
      }
    }
    const __m256 s = _mm256_set1_ps(Fp8BlockScale(sx[b], ws[b]));
    for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(p[r], s, acc[r]);
  }
  if (full < kb) {  // the last block, shorter than 128
    alignas(32) uint8_t pad[kAvx2Fp8Chunk];
    __m256 p[R];
    for (int r = 0; r < R; ++r) p[r] = _mm256_setzero_ps();
    for (int i0 = full * kQuantBlock; i0 < k; i0 += kAvx2Fp8Chunk) {
      for (int r = 0; r < R; ++r) {
        p[r] = Fp8ChunkDot(ChunkBytes32(w + static_cast<size_t>(r) * k, k, i0, pad), xp + i0, p[r],
                           &seen[r]);
      }
    }
    const __m256 s = _mm256_set1_ps(Fp8BlockScale(sx[full], ws[full]));
    for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(p[r], s, acc[r]);
  }
  for (int r = 0; r < R; ++r) {
    y[r] = SawE4M3NaN(seen[r]) ? NAN : RoundBf16(LaneSum8(acc[r]) * post);
  }
}

using Fp8RowsAvx2Fn = void (*)(const uint8_t*, int, const uint8_t*, const float*, const float*,
                               float, const uint8_t*, float*);
constexpr Fp8RowsAvx2Fn kFp8RowsAvx2[kAvx2Rows] = {Fp8RowsAvx2<1>, Fp8RowsAvx2<2>, Fp8RowsAvx2<3>,
                                                   Fp8RowsAvx2<4>};

// ---- the GEMM (m > 1): a panel of kAvx2Rows weight rows decoded once, 4 × MR register tiles

// One panel row's fp32 weights (the values DecodeE4M3x16 gives, in its order), kp per row; returns
// whether the row holds a NaN code.
bool DecodeFp8PanelRow(const uint8_t* row, int k, int kp, float* out) {
  alignas(32) uint8_t pad[kAvx2Fp8Chunk];
  __m256i seen = _mm256_setzero_si256();
  for (int i0 = 0; i0 < kp; i0 += kAvx2Fp8Chunk) {
    const uint8_t* c = ChunkBytes32(row, k, i0, pad);
    seen = TrackE4M3NaN(c, seen);
    __m256 v[4];
    DecodeE4M3x16(c, &v[0], &v[1]);
    DecodeE4M3x16(c + 16, &v[2], &v[3]);
    for (int j = 0; j < 4; ++j) _mm256_storeu_ps(out + i0 + 8 * j, v[j]);
  }
  return SawE4M3NaN(seen);
}

// Weight rows [0, NR) of a panel (stride kp) × activation rows [0, MR) (stride kp) over k values in
// blocks of `block` values (the last one shorter): per block the 8-lane partials, then
// acc = fma(partial, scale(i, j, b), acc), as the matrix-vector kernels. out[j·NR + i] = lane sums.
template <int NR, int MR, class Scale>
HWY_INLINE void PanelTileAvx2(const float* wp, const float* xp, int kp, int k, int block,
                              const Scale& scale, float* out) {
  __m256 acc[NR][MR];
  for (int i = 0; i < NR; ++i) {
    for (int j = 0; j < MR; ++j) acc[i][j] = _mm256_setzero_ps();
  }
  for (int b0 = 0, b = 0; b0 < k; b0 += block, ++b) {
    __m256 p[NR][MR];
#pragma GCC unroll 4
    for (int i = 0; i < NR; ++i) {
#pragma GCC unroll 3
      for (int j = 0; j < MR; ++j) p[i][j] = _mm256_setzero_ps();
    }
    const int e = std::min(kp, b0 + block);  // the block's values, padded to whole chunks
    for (int t = b0; t < e; t += 8) {
      __m256 xv[MR];
#pragma GCC unroll 3
      for (int j = 0; j < MR; ++j) xv[j] = _mm256_loadu_ps(xp + static_cast<size_t>(j) * kp + t);
#pragma GCC unroll 4
      for (int i = 0; i < NR; ++i) {
        const __m256 wv = _mm256_loadu_ps(wp + static_cast<size_t>(i) * kp + t);
#pragma GCC unroll 3
        for (int j = 0; j < MR; ++j) p[i][j] = _mm256_fmadd_ps(wv, xv[j], p[i][j]);
      }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NR; ++i) {
#pragma GCC unroll 3
      for (int j = 0; j < MR; ++j) acc[i][j] = _mm256_fmadd_ps(p[i][j], scale(i, j, b), acc[i][j]);
    }
  }
  for (int i = 0; i < NR; ++i) {
    for (int j = 0; j < MR; ++j) out[j * NR + i] = LaneSum8(acc[i][j]);
  }
}

// Runs PanelTileAvx2 over m activation rows in tiles of kAvx2TileActs (then 2, then 1).
template <int NR, class Scale>
void PanelRowsAvx2(const float* wp, const float* xp, int m, int kp, int k, int block,
                   const Scale& scale_of_row, float* out /* m × NR */) {
  int r = 0;
  for (; r + 3 <= m; r += 3) {
    PanelTileAvx2<NR, 3>(
        wp, xp + static_cast<size_t>(r) * kp, kp, k, block,
        [&](int i, int j, int b) { return scale_of_row(i, r + j, b); },
        out + static_cast<size_t>(r) * NR);
  }
  for (; r + 2 <= m; r += 2) {
    PanelTileAvx2<NR, 2>(
        wp, xp + static_cast<size_t>(r) * kp, kp, k, block,
        [&](int i, int j, int b) { return scale_of_row(i, r + j, b); },
        out + static_cast<size_t>(r) * NR);
  }
  for (; r < m; ++r) {
    PanelTileAvx2<NR, 1>(
        wp, xp + static_cast<size_t>(r) * kp, kp, k, block,
        [&](int i, int, int b) { return scale_of_row(i, r, b); },
        out + static_cast<size_t>(r) * NR);
  }
}

// PanelRowsAvx2 for a panel of `rows` (1..kAvx2Rows) weight rows.
template <class Scale>
void PanelAvx2(int rows, const float* wp, const float* xp, int m, int kp, int k, int block,
               const Scale& scale, float* out) {
  switch (rows) {
    case 1:
      return PanelRowsAvx2<1>(wp, xp, m, kp, k, block, scale, out);
    case 2:
      return PanelRowsAvx2<2>(wp, xp, m, kp, k, block, scale, out);
    case 3:
      return PanelRowsAvx2<3>(wp, xp, m, kp, k, block, scale, out);
    default:
      return PanelRowsAvx2<4>(wp, xp, m, kp, k, block, scale, out);
  }
}

// Rows [b0·128, b1·128) of y.
void Fp8BlocksAvx2(const Avx2Fp8Acts& a, int m, const Fp8Weight& w, int b0, int b1, float* y) {
  const int k = w.k, kp = a.kp, kb = a.kb;
  AlignedVector<float> panel(m > 1 ? static_cast<size_t>(kAvx2Rows) * kp : 0);
  std::vector<float> out(static_cast<size_t>(m) * kAvx2Rows);
  for (int b = b0; b < b1; ++b) {
    const uint8_t* ws = w.scale + static_cast<size_t>(b) * kb;
    const int row_end = std::min(w.n, (b + 1) * kQuantBlock);
    for (int n = b * kQuantBlock; n < row_end; n += kAvx2Rows) {
      const int rows = std::min(kAvx2Rows, row_end - n);
      const uint8_t* wr = w.w + static_cast<size_t>(n) * k;
      if (m == 1) {
        const uint8_t* next = n + 2 * rows <= w.n ? wr + static_cast<size_t>(rows) * k : nullptr;
        kFp8RowsAvx2[rows - 1](wr, k, ws, a.xp.data(), a.sx.data(), a.post[0], next, y + n);
        continue;
      }
      bool nan[kAvx2Rows] = {};
      for (int i = 0; i < rows; ++i) {
        nan[i] = DecodeFp8PanelRow(wr + static_cast<size_t>(i) * k, k, kp,
                                   panel.data() + static_cast<size_t>(i) * kp);
      }
      auto scale = [&](int, int r, int blk) {
        return _mm256_set1_ps(Fp8BlockScale(a.sx[static_cast<size_t>(r) * kb + blk], ws[blk]));
      };
      PanelAvx2(rows, panel.data(), a.xp.data(), m, kp, k, kQuantBlock, scale, out.data());
      for (int r = 0; r < m; ++r) {
        for (int i = 0; i < rows; ++i) {
          y[static_cast<size_t>(r) * w.n + n + i] =
              nan[i] ? NAN : RoundBf16(out[static_cast<size_t>(r) * rows + i] * a.post[r]);
        }
      }
    }
  }
}

void LinearFp8Avx2(const Avx2Fp8Acts& a, int m, const Fp8Weight& w, float* y) {
  ThreadPool::Global().ParallelFor(CeilDiv(w.n, kQuantBlock),
                                   [&](int b0, int b1) { Fp8BlocksAvx2(a, m, w, b0, b1, y); });
}

// ---- MXFP4

// 32 bytes of e2m1 pairs (values 2i in the low nibble of byte i, 2i+1 in the high) -> 8 vectors of
// their exact fp32 values. Lanes 0-3 of every vector come from bytes 0-15 (the first 32-value scale
// block), lanes 4-7 from bytes 16-31 (the second), see Fp4ActSlot.
HWY_INLINE void DecodeE2M1x64(const uint8_t* w, __m256* v) {
  // bf16 of E2M1ToFloat(c), low and high byte, per nibble c (both 128-bit lanes the same).
  const __m256i lo_tab =
      _mm256_setr_epi8(0, 0, -128, -64, 0, 64, -128, -64, 0, 0, -128, -64, 0, 64, -128, -64, 0, 0,
                       -128, -64, 0, 64, -128, -64, 0, 0, -128, -64, 0, 64, -128, -64);
  const __m256i hi_tab = _mm256_setr_epi8(
      0, 0x3f, 0x3f, 0x3f, 0x40, 0x40, 0x40, 0x40, -128, -65, -65, -65, -64, -64, -64, -64, 0, 0x3f,
      0x3f, 0x3f, 0x40, 0x40, 0x40, 0x40, -128, -65, -65, -65, -64, -64, -64, -64);
  const __m256i nib = _mm256_set1_epi8(0x0f);
  const __m256i high_half = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
  const __m256i n[2] = {_mm256_and_si256(b, nib), _mm256_and_si256(_mm256_srli_epi16(b, 4), nib)};
  for (int h = 0; h < 2; ++h) {  // h = 0: even values, 1: odd values
    const __m256i lo = _mm256_shuffle_epi8(lo_tab, n[h]), hi = _mm256_shuffle_epi8(hi_tab, n[h]);
    const __m256i u[2] = {_mm256_unpacklo_epi8(lo, hi), _mm256_unpackhi_epi8(lo, hi)};
    for (int q = 0; q < 2; ++q) {
      v[4 * h + 2 * q] = _mm256_castsi256_ps(_mm256_slli_epi32(u[q], 16));
      v[4 * h + 2 * q + 1] = _mm256_castsi256_ps(_mm256_and_si256(u[q], high_half));
    }
  }
}

// The activation order of DecodeE2M1x64: slot of value i (0..63) of a chunk. Vector 4h + 2q + o,
// lane t (t < 4 from byte 2t + 8q + o, t >= 4 from byte 16 + 2(t - 4) + 8q + o) holds value
// 2·byte + h.
HWY_INLINE int Fp4ActSlot(int i) {
  const int byte = i >> 1, h = i & 1, half = byte >> 4, q = (byte >> 3) & 1, o = byte & 1;
  const int t = 4 * half + ((byte & 7) >> 1);
  return 8 * (4 * h + 2 * q + o) + t;
}

// Block scales of one chunk as a vector: lanes 0-3 s_w of block 2c, 4-7 of block 2c + 1 (scale 0
// where the row has no second block: its values are padding).
HWY_INLINE __m256 Fp4ChunkScales(const uint8_t* ws, int k32, int c) {
  const float s0 = E8M0ToFloat(ws[2 * c]);
  const float s1 = 2 * c + 1 < k32 ? E8M0ToFloat(ws[2 * c + 1]) : 0.0f;
  return _mm256_setr_m128(_mm_set1_ps(s0), _mm_set1_ps(s1));
}

// One MXFP4 linear's activations: q·s_x in Fp4ActSlot order, zero-padded to kp (a multiple of 64).
struct Avx2Fp4Acts {
  ScratchVector<float> xp;
  int kp = 0;
};

Avx2Fp4Acts PrepareAvx2Fp4Acts(const detail::QuantizedRows& a, int m, int k) {
  static const struct Slots {
    int at[kAvx2Fp4Chunk];
    Slots() {
      for (int i = 0; i < kAvx2Fp4Chunk; ++i) at[i] = Fp4ActSlot(i);
    }
  } slots;
  Avx2Fp4Acts p;
  p.kp = CeilDiv(k, kAvx2Fp4Chunk) * kAvx2Fp4Chunk;
  p.xp.resize(static_cast<size_t>(m) * p.kp);
  detail::ForActRows(m, [&](int r0, int r1) {
    for (int r = r0; r < r1; ++r) {
      const float* q = a.q.data() + static_cast<size_t>(r) * k;
      const float* s = a.s.data() + static_cast<size_t>(r) * a.kb;
      float* out = p.xp.data() + static_cast<size_t>(r) * p.kp;
      for (int c = 0; c < p.kp; c += kAvx2Fp4Chunk) {
        const float sc = s[c / kQuantBlock];  // a chunk of 64 lies in one 128-block
        for (int i = 0; i < kAvx2Fp4Chunk; ++i) {
          out[c + slots.at[i]] = c + i < k ? q[c + i] * sc : 0.0f;
        }
      }
    }
  });
  return p;
}

// The scales of 8 blocks (8 bytes at ws) as E8M0ToFloat's values, even blocks in the low 128-bit
// lane and odd ones in the high lane ([s0 s2 s4 s6 | s1 s3 s5 s7]), so that ChunkScalesOf8 is an
// in-lane permute (`vpermilps`) rather than the cross-lane `vpermps` (~1.5 cycles on Zen 3).
HWY_INLINE __m256 E8M0x8(const uint8_t* ws) {
  const __m128i even_odd = _mm_setr_epi8(0, 2, 4, 6, 1, 3, 5, 7, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m256i e = _mm256_cvtepu8_epi32(
      _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(ws)), even_odd));
  __m256i bits = _mm256_slli_epi32(e, 23);
  bits = _mm256_blendv_epi8(bits, _mm256_set1_epi32(0x00400000),  // 2^-127, an fp32 subnormal
                            _mm256_cmpeq_epi32(e, _mm256_setzero_si256()));
  bits = _mm256_blendv_epi8(bits, _mm256_set1_epi32(0x7fc00000),  // 255: NaN
                            _mm256_cmpeq_epi32(e, _mm256_set1_epi32(255)));
  return _mm256_castsi256_ps(bits);
}

// Chunk cc (0..3) of E8M0x8's blocks as Fp4ChunkScales gives it: lanes 0-3 block 2cc, 4-7 2cc + 1.
HWY_INLINE __m256 ChunkScalesOf8(__m256 s8, int cc) {
  return _mm256_permutevar_ps(s8, _mm256_set1_epi32(cc));
}

// acc += the partial of one chunk (bytes at w, activations at x) times its scales.
HWY_INLINE __m256 Fp4ChunkDot(const uint8_t* w, const float* x, __m256 scales, __m256 acc) {
  __m256 v[8];
  DecodeE2M1x64(w, v);
  __m256 p = _mm256_setzero_ps();
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) p = _mm256_fmadd_ps(v[j], _mm256_loadu_ps(x + 8 * j), p);
  return _mm256_fmadd_ps(p, scales, acc);
}

// Matrix-vector: R adjacent weight rows against one activation row; y[i] for i < R. Whole groups
// of 4 chunks (8 scale blocks, converted at once) without tail checks, then the row's last chunks.
template <int R>
void Fp4RowsAvx2(const uint8_t* w, const uint8_t* ws, int k, const float* xp, const uint8_t* next,
                 float* y) {
  const int row_bytes = k / 2, k32 = k / kFp4Block, chunks = CeilDiv(k, kAvx2Fp4Chunk);
  const int groups = (row_bytes / 32) / 4;  // groups of 4 full chunks
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (int g = 0; g < groups; ++g) {
    __m256 s8[R];
    for (int r = 0; r < R; ++r) s8[r] = E8M0x8(ws + static_cast<size_t>(r) * k32 + 8 * g);
#pragma GCC unroll 4
    for (int cc = 0; cc < 4; ++cc) {
      const int c = 4 * g + cc;
      if (next != nullptr) {  // the next rows' bytes in address order, R · 32 per step
        const char* ahead = reinterpret_cast<const char*>(next) + static_cast<size_t>(c) * 32 * R;
        for (int l = 0; l < R * 32; l += 64) _mm_prefetch(ahead + l, _MM_HINT_T0);
      }
      const float* x = xp + static_cast<size_t>(c) * kAvx2Fp4Chunk;
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) {
        acc[r] = Fp4ChunkDot(w + static_cast<size_t>(r) * row_bytes + c * 32, x,
                             ChunkScalesOf8(s8[r], cc), acc[r]);
      }
    }
  }
  alignas(32) uint8_t pad[32];
  for (int c = 4 * groups; c < chunks; ++c) {
    const float* x = xp + static_cast<size_t>(c) * kAvx2Fp4Chunk;
    for (int r = 0; r < R; ++r) {
      acc[r] =
          Fp4ChunkDot(ChunkBytes32(w + static_cast<size_t>(r) * row_bytes, row_bytes, 32 * c, pad),
                      x, Fp4ChunkScales(ws + static_cast<size_t>(r) * k32, k32, c), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = RoundBf16(LaneSum8(acc[r]));
}

using Fp4RowsAvx2Fn = void (*)(const uint8_t*, const uint8_t*, int, const float*, const uint8_t*,
                               float*);
constexpr Fp4RowsAvx2Fn kFp4RowsAvx2[kAvx2Rows] = {Fp4RowsAvx2<1>, Fp4RowsAvx2<2>, Fp4RowsAvx2<3>,
                                                   Fp4RowsAvx2<4>};

// Rows [n0, n1) of y (n0 a multiple of kAvx2Rows).
void Fp4RowsRangeAvx2(const Avx2Fp4Acts& a, int m, const Fp4Weight& w, int n0, int n1, float* y) {
  const int k = w.k, kp = a.kp, row_bytes = k / 2, k32 = k / kFp4Block;
  const int chunks = kp / kAvx2Fp4Chunk;
  AlignedVector<float> panel(m > 1 ? static_cast<size_t>(kAvx2Rows) * kp : 0);
  AlignedVector<__m256> scales(m > 1 ? static_cast<size_t>(kAvx2Rows) * chunks : 0);
  std::vector<float> out(static_cast<size_t>(m) * kAvx2Rows);
  alignas(32) uint8_t pad[32];
  for (int n = n0; n < n1; n += kAvx2Rows) {
    const int rows = std::min(kAvx2Rows, n1 - n);
    const uint8_t* wr = w.w + static_cast<size_t>(n) * row_bytes;
    const uint8_t* ws = w.scale + static_cast<size_t>(n) * k32;
    if (m == 1) {
      const uint8_t* next =
          n + 2 * rows <= w.n ? wr + static_cast<size_t>(rows) * row_bytes : nullptr;
      kFp4RowsAvx2[rows - 1](wr, ws, k, a.xp.data(), next, y + n);
      continue;
    }
    for (int i = 0; i < rows; ++i) {
      for (int c = 0; c < chunks; ++c) {
        __m256 v[8];
        DecodeE2M1x64(ChunkBytes32(wr + static_cast<size_t>(i) * row_bytes, row_bytes, 32 * c, pad),
                      v);
        float* dst = panel.data() + static_cast<size_t>(i) * kp + c * kAvx2Fp4Chunk;
        for (int j = 0; j < 8; ++j) _mm256_storeu_ps(dst + 8 * j, v[j]);
        scales[static_cast<size_t>(i) * chunks + c] =
            Fp4ChunkScales(ws + static_cast<size_t>(i) * k32, k32, c);
      }
    }
    auto scale = [&](int i, int, int c) { return scales[static_cast<size_t>(i) * chunks + c]; };
    PanelAvx2(rows, panel.data(), a.xp.data(), m, kp, kp, kAvx2Fp4Chunk, scale, out.data());
    for (int r = 0; r < m; ++r) {
      for (int i = 0; i < rows; ++i) {
        y[static_cast<size_t>(r) * w.n + n + i] = RoundBf16(out[static_cast<size_t>(r) * rows + i]);
      }
    }
  }
}

void LinearFp4Avx2(const detail::QuantizedRows& q, int m, const Fp4Weight& w, float* y) {
  const Avx2Fp4Acts a = PrepareAvx2Fp4Acts(q, m, w.k);
  ThreadPool::Global().ParallelFor(CeilDiv(w.n, kAvx2Rows), [&](int g0, int g1) {
    Fp4RowsRangeAvx2(a, m, w, g0 * kAvx2Rows, std::min(w.n, g1 * kAvx2Rows), y);
  });
}

// ---- groups of independent linears (an expert's w1 and w3, every chosen expert of a step)

// Runs run(j, lo, hi) over row ranges of every job, all jobs split over the pool in one pass:
// job j's rows in units of `unit` rows, each weighted 1 + m/16 (the work of a row grows with m).
// Calling each job alone cost a pass (a wake-up and a join) per matrix, and an expert's w1 and w3
// prepared the same activations twice.
template <class Job, class Run>
void ForJobRowsAvx2(const Job* jobs, int count, int unit, const Run& run) {
  std::vector<int64_t> first(count + 1, 0), weight(count, 1);
  for (int j = 0; j < count; ++j) {
    weight[j] = 1 + jobs[j].m / 16;
    first[j + 1] = first[j] + (jobs[j].m > 0 ? CeilDiv(jobs[j].w.n, unit) * weight[j] : 0);
  }
  DSV4_CHECK(first[count] < (int64_t{1} << 31));
  ThreadPool::Global().ParallelFor(static_cast<int>(first[count]), [&](int u0, int u1) {
    for (int j = 0; j < count; ++j) {
      if (jobs[j].m <= 0) continue;
      auto row_at = [&](int64_t u) {  // the first row of the first unit at or after u
        const int64_t c = (u - first[j] + weight[j] - 1) / weight[j];
        return static_cast<int>(std::clamp<int64_t>(c * unit, 0, jobs[j].w.n));
      };
      const int lo = row_at(u0), hi = row_at(u1);
      if (lo < hi) run(j, lo, hi);
    }
  });
}

// For each job, the index of the first job with the same input (x, m, k): their activations are
// prepared once.
template <class Job>
std::vector<int> SameInputJobs(const Job* jobs, int count) {
  std::vector<int> same(count);
  for (int j = 0; j < count; ++j) {
    same[j] = j;
    for (int i = 0; i < j; ++i) {
      if (jobs[i].x == jobs[j].x && jobs[i].m == jobs[j].m && jobs[i].w.k == jobs[j].w.k) {
        same[j] = i;
        break;
      }
    }
  }
  return same;
}

// LinearFp4 of every job, each output equal to the single call's bit for bit.
void LinearFp4GroupAvx2(const Fp4Job* jobs, int count) {
  const std::vector<int> same = SameInputJobs(jobs, count);
  std::vector<Avx2Fp4Acts> acts(count);
  for (int j = 0; j < count; ++j) {
    const Fp4Job& job = jobs[j];
    DSV4_CHECK(job.w.k % kFp4Block == 0);
    // Prepared for the first job with this input even when it has no rows: later ones read it.
    if (job.m > 0 && same[j] == j) {
      acts[j] = PrepareAvx2Fp4Acts(detail::QuantizeRows(job.x, job.m, job.w.k), job.m, job.w.k);
    }
  }
  ForJobRowsAvx2(jobs, count, kAvx2Rows, [&](int j, int lo, int hi) {
    Fp4RowsRangeAvx2(acts[same[j]], jobs[j].m, jobs[j].w, lo, hi, jobs[j].y);
  });
}

// LinearFp8 (bf16_acts false) or LinearFp8AsBf16 (true) of every job, bit for bit the single
// calls'.
void LinearFp8GroupAvx2(const Fp8Job* jobs, int count, bool bf16_acts) {
  const std::vector<int> same = SameInputJobs(jobs, count);
  std::vector<Avx2Fp8Acts> acts(count);
  for (int j = 0; j < count; ++j) {
    const Fp8Job& job = jobs[j];
    if (job.m <= 0 || same[j] != j) continue;  // (a job without rows may be read by later ones)
    if (bf16_acts) {
      acts[j] = PrepareAvx2Fp8Acts(RoundedActs(job.x, job.m, job.w.k).data(), job.m, job.w.k, {});
    } else {
      detail::QuantizedRows a = detail::QuantizeRows(job.x, job.m, job.w.k);
      acts[j] = PrepareAvx2Fp8Acts(a.q.data(), job.m, job.w.k, std::move(a.s));
    }
  }
  ForJobRowsAvx2(jobs, count, kQuantBlock, [&](int j, int lo, int hi) {
    Fp8BlocksAvx2(acts[same[j]], jobs[j].m, jobs[j].w, lo / kQuantBlock, CeilDiv(hi, kQuantBlock),
                  jobs[j].y);
  });
}
