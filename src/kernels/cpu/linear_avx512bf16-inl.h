// FP8 and MXFP4 linear kernels for AVX-512 with BF16 and VBMI (Zen 4, Sapphire Rapids), included
// by linear.cc inside the AVX3_DL target only, entered only when CPUID reports AVX512_BF16.
//
// Idea: e4m3 and e2m1 values (and e4m3 activations) are exact in bf16, and their products are
// exact in fp32, so `vdpbf16ps` (32 products per instruction, fp32 accumulate) computes the
// reference's sums up to summation order. Weights are decoded to bf16 in registers by table
// lookups (vpermi2b on bytes for the 128 e4m3 magnitudes, vpermw on 16-bit lanes for the 16 e2m1
// nibbles); both leave the elements in a fixed permuted order, so the activations are stored once
// per call in that same order instead. Since both scales are powers of two, they are folded into
// the operands wherever that is exact ("folded scales" below: one dot product per output); the
// per-block kernels (partials of 16 blocks reduced to one vector by shuffles, scaled by s_x·s_w 16
// at a time) remain for calls and rows outside that range.
//
// Not a standalone header: no include guard, it lives in linear.cc's per-target namespace.

// The full target string: under clang a function-level target attribute replaces (not extends)
// the one HWY_BEFORE_NAMESPACE pushes, so the AVX3_DL features must be repeated here.
#define DSV4_BF16_ATTR __attribute__((target(HWY_TARGET_STR ",avx512bf16")))

HWY_INLINE bool HasAvx512Bf16() {
  static const bool has = __builtin_cpu_supports("avx512bf16");
  return has;
}

// Exponent bias of the e2m1_biased table (DecodeFp4Folded): its nonzero entries are bf16 of the
// e2m1 value times 2^kE2M1TableBias, so one saturating subtract both applies a block's scale and
// keeps zeros at zero.
constexpr int kE2M1TableBias = 64;

// Tables: bf16 of e4m3 magnitude c (0..127) split into high and low bytes (128 entries each, the
// vpermi2b table pair); bf16 of the 16 e2m1 nibbles, plain and biased.
struct Bf16Tables {
  alignas(64) uint8_t e4m3_hi[128];
  alignas(64) uint8_t e4m3_lo[128];
  alignas(64) uint16_t e2m1[32];         // the 16 nibbles' bf16, twice (a vpermw table)
  alignas(64) uint16_t e2m1_biased[32];  // value·2^kE2M1TableBias; both zeros as +0
};

inline const Bf16Tables& GetBf16Tables() {
  static const Bf16Tables tables = [] {
    Bf16Tables t;
    for (int c = 0; c < 128; ++c) {
      const uint16_t b = FloatToBf16(E4M3ToFloat(static_cast<uint8_t>(c)));  // 0x7f -> NaN
      t.e4m3_hi[c] = static_cast<uint8_t>(b >> 8);
      t.e4m3_lo[c] = static_cast<uint8_t>(b & 0xff);
    }
    for (int i = 0; i < 32; ++i) {
      const float v = E2M1ToFloat(static_cast<uint8_t>(i & 15));
      t.e2m1[i] = FloatToBf16(v);
      t.e2m1_biased[i] = v == 0.0f ? 0 : FloatToBf16(std::ldexp(v, kE2M1TableBias));
    }
    return t;
  }();
  return tables;
}

inline uint64_t ByteMask(int bytes) {
  return bytes >= 64 ? ~uint64_t{0} : bytes <= 0 ? 0 : (uint64_t{1} << bytes) - 1;
}

// 16 e8m0 scale bytes (the first `count`; the rest read as 0) -> fp32 exactly as E8M0ToFloat.
DSV4_BF16_ATTR HWY_INLINE __m512 E8M0x16(const uint8_t* p, int count) {
  const __mmask16 load = count >= 16 ? 0xffff : static_cast<__mmask16>((1u << count) - 1);
  const __m128i bytes = _mm_maskz_loadu_epi8(load, p);
  const __m512i e = _mm512_cvtepu8_epi32(bytes);
  __m512i bits = _mm512_slli_epi32(e, 23);
  // e = 0 (2^-127) and 255 (NaN) do not follow the shift; checked 16 at a time, they are rare.
  const __m128i zero = _mm_setzero_si128();
  if ((_mm_cmpeq_epi8_mask(bytes, zero) | _mm_cmpeq_epi8_mask(bytes, _mm_set1_epi8(-1))) == 0) {
    return _mm512_castsi512_ps(bits);
  }
  bits = _mm512_mask_mov_epi32(bits, _mm512_cmpeq_epi32_mask(e, _mm512_setzero_si512()),
                               _mm512_set1_epi32(0x00400000));  // 2^-127, an fp32 subnormal
  bits = _mm512_mask_mov_epi32(bits, _mm512_cmpeq_epi32_mask(e, _mm512_set1_epi32(0xff)),
                               _mm512_set1_epi32(0x7fc00000));  // NaN
  return _mm512_castsi512_ps(bits);
}

// Per 128-bit lane q: [P0(0+1), P0(2+3), P1(0+1), P1(2+3)] — pairwise sums of two vectors.
DSV4_BF16_ATTR HWY_INLINE __m512 PairSum(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_ps(a, b, 0x88), _mm512_shuffle_ps(a, b, 0xdd));
}

// 16 vectors -> one vector whose lane i is the sum of p[i]'s 16 lanes.
DSV4_BF16_ATTR HWY_INLINE __m512 Reduce16(const __m512* p) {
  __m512 q[8], r[4];
  for (int i = 0; i < 8; ++i) q[i] = PairSum(p[2 * i], p[2 * i + 1]);
  for (int i = 0; i < 4; ++i)
    r[i] = PairSum(q[2 * i], q[2 * i + 1]);  // lane 4j+e: p[4i+e], 128-bit lane j
  const __m512 u01 =
      _mm512_add_ps(_mm512_shuffle_f32x4(r[0], r[1], 0x88), _mm512_shuffle_f32x4(r[0], r[1], 0xdd));
  const __m512 u23 =
      _mm512_add_ps(_mm512_shuffle_f32x4(r[2], r[3], 0x88), _mm512_shuffle_f32x4(r[2], r[3], 0xdd));
  return _mm512_add_ps(_mm512_shuffle_f32x4(u01, u23, 0x88), _mm512_shuffle_f32x4(u01, u23, 0xdd));
}

// Horizontal sums of count <= 16 vectors into out[0..count): lane i of Reduce16 is p[i]'s sum by a
// fixed tree that does not depend on the other vectors, so every path that sums its outputs here
// (matrix-vector and GEMM alike) rounds them identically. One transpose-reduce instead of a
// reduce per output.
DSV4_BF16_ATTR HWY_INLINE void SumLanes(const __m512* v, int count, float* out) {
  __m512 p[16];
  for (int i = 0; i < 16; ++i) p[i] = i < count ? v[i] : _mm512_setzero_ps();
  alignas(64) float s[16];
  _mm512_store_ps(s, Reduce16(p));
  for (int i = 0; i < count; ++i) out[i] = s[i];
}

DSV4_BF16_ATTR HWY_INLINE __m512 Dp(__m512 acc, __m512i w, const uint16_t* x) {
  return _mm512_dpbf16_ps(acc, (__m512bh)w, (__m512bh)_mm512_loadu_si512(x));
}

// ---------------------------------------------------------------------------------------- FP8

// Software prefetch distance for the weight stream (the hardware prefetchers alone leave a single
// thread well below DRAM bandwidth; prefetching past the row end is harmless).
constexpr int kPrefetchBytes = 2048;

// Activations in the order of the e4m3 decode: per 64 values, A[8q+t] = x[16q+t] then
// B[8q+t] = x[16q+8+t] (unpacklo/unpackhi of 128-bit lane q); zero beyond k.
DSV4_BF16_ATTR std::vector<uint16_t> PermuteFp8Acts(const detail::QuantizedRows& a, int m, int k) {
  const int kp = a.kb * kQuantBlock;
  std::vector<uint16_t> out(static_cast<size_t>(m) * kp);
  // The high 16 bits of an fp32 e4m3 value are its exact bf16; float i of a pair of vectors is
  // 16-bit lane 2i+1. Per pair (128-bit lanes q, q+1): A of q, A of q+1, B of q, B of q+1.
  alignas(64) uint16_t pick[32];
  for (int l = 0; l < 32; ++l) {
    const int part = l >> 3, t = l & 7;  // part: A q, A q+1, B q, B q+1
    pick[l] = static_cast<uint16_t>(2 * (16 * (part & 1) + 8 * (part >> 1) + t) + 1);
  }
  const __m512i idx = _mm512_load_si512(pick);
  for (int r = 0; r < m; ++r) {
    const float* q = a.q.data() + static_cast<size_t>(r) * k;
    uint16_t* o = out.data() + static_cast<size_t>(r) * kp;
    for (int i0 = 0; i0 < kp; i0 += 64) {
      __m512i v[4];
      for (int j = 0; j < 4; ++j) {
        const int left = k - i0 - 16 * j;
        const __mmask16 mask = left >= 16 ? 0xffff : left <= 0 ? 0 : (1u << left) - 1;
        v[j] = _mm512_castps_si512(_mm512_maskz_loadu_ps(mask, q + i0 + 16 * j));
      }
      const __m512i r01 = _mm512_permutex2var_epi16(v[0], idx, v[1]);
      const __m512i r23 = _mm512_permutex2var_epi16(v[2], idx, v[3]);
      _mm512_storeu_si512(o + i0, _mm512_shuffle_i64x2(r01, r23, 0x44));       // A
      _mm512_storeu_si512(o + i0 + 32, _mm512_shuffle_i64x2(r01, r23, 0xee));  // B
    }
  }
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
constexpr int kBf16RowTile = 8;  // FP4: activation rows sharing one in-register weight decode

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
  std::vector<uint16_t> panel(kPanelRows * kGroupValues);
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

// ---- FP8 with folded scales: one dot product per output instead of per-block partials
//
// s_x and s_w are powers of two (UE8M0, spec §7.2), so a block's partial times s_x·s_w equals the
// sum of the products (x_q·s_x)·(w·s_w) exactly, as long as every operand is a normal bf16 and no
// product or sum leaves fp32's normal range. Then the whole row is one fp32 dot product of exact
// products, i.e. the reference's sum in another order, with no per-block reduction and no scale
// multiply: the activation operand is bf16(x_q·s_x) and s_w goes into whichever operand is
// rebuilt anyway (the activations per 128-row block in the matrix-vector kernel, the decoded
// panel in the GEMM). Both paths add the same exact products in the same order (two chains per
// output: even and odd 32-value vectors, k ascending), so no output depends on the batch size.
// Calls whose scales or activations fall outside the safe range (never in real checkpoints) use
// the per-block kernels above.

// Exponent ranges, unbiased: every nonzero activation operand |x_q·s_x| in [2^a_lo, 2^a_hi),
// every weight scale 2^e with e in [w_lo, w_hi]; e4m3 magnitudes are in [2^-9, 2^9).
struct FoldRange {
  int a_lo = 1000, a_hi = -1000, w_lo = 1000, w_hi = -1000;
  bool ok = true;  // false: NaN/Inf/subnormal operand or an e8m0 0x00/0xff scale
};

// The folded sums are exact sums of exact products (see above) iff these hold; weight codes have
// magnitudes in [2^code_lo, 2^code_hi) (e4m3: [-9, 9), e2m1: [-1, 3)).
inline bool Foldable(const FoldRange& r, int k, int code_lo = -9, int code_hi = 9) {
  if (!r.ok) return false;
  if (r.a_lo > r.a_hi) return r.w_lo <= r.w_hi;  // all activations zero: any normal scale works
  int log2k = 0;
  while ((1 << log2k) < k) ++log2k;
  const bool operands = r.a_lo + r.w_lo >= -126 && r.a_hi + r.w_hi <= 127 &&    // x·s_w (GEMV)
                        r.w_lo + code_lo >= -126 && r.w_hi + code_hi <= 127 &&  // w·s_w
                        r.a_lo >= -126 && r.a_hi <= 127;                         // x
  // Smallest product 2^(a_lo + w_lo + code_lo); 12 bits of margin keep every nonzero partial sum
  // (a multiple of the products' granularity) normal. Largest sum: k products below
  // 2^(a_hi + w_hi + code_hi).
  const bool sums = r.a_lo + r.w_lo + code_lo - 12 >= -126 &&
                    r.a_hi + r.w_hi + code_hi + log2k + 1 <= 127;
  return operands && sums;
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

// q·s_x of m rows (scales 1), and their exponent range. Products are exact (q has 4 significant
// bits, s_x is a power of two) unless they leave the normal range, which the range check catches.
DSV4_BF16_ATTR inline detail::QuantizedRows ScaledActs(const detail::QuantizedRows& a, int m,
                                                      int k, FoldRange* r) {
  detail::QuantizedRows scaled;
  scaled.kb = a.kb;
  scaled.q.resize(a.q.size());
  const __m512i exp_mask = _mm512_set1_epi32(0xff), low16 = _mm512_set1_epi32(0xffff),
                magnitude = _mm512_set1_epi32(0x7fffffff);
  __m512i emin = _mm512_set1_epi32(0xff), emax = _mm512_setzero_si512();
  __mmask16 bad = 0;
  for (int row = 0; row < m; ++row) {
    const float* q = a.q.data() + static_cast<size_t>(row) * k;
    float* o = scaled.q.data() + static_cast<size_t>(row) * k;
    for (int b = 0; b < a.kb; ++b) {
      const __m512 s = _mm512_set1_ps(a.s[static_cast<size_t>(row) * a.kb + b]);
      const int i1 = std::min(k, (b + 1) * kQuantBlock);
      for (int i = b * kQuantBlock; i < i1; i += 16) {
        const __mmask16 valid = i1 - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (i1 - i)) - 1);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(valid, q + i), s);
        _mm512_mask_storeu_ps(o + i, valid, v);
        const __m512i bits = _mm512_castps_si512(v);
        const __mmask16 nonzero = _mm512_test_epi32_mask(bits, magnitude);
        const __m512i e = _mm512_and_si512(_mm512_srli_epi32(bits, 23), exp_mask);
        // Subnormal, NaN/Inf, or not a bf16 value: not foldable.
        bad |= nonzero & (_mm512_cmpeq_epi32_mask(e, _mm512_setzero_si512()) |
                          _mm512_cmpeq_epi32_mask(e, exp_mask) | _mm512_test_epi32_mask(bits, low16));
        emin = _mm512_mask_min_epi32(emin, nonzero, emin, e);
        emax = _mm512_mask_max_epi32(emax, nonzero, emax, e);
      }
    }
  }
  if (bad) r->ok = false;
  const int lo = _mm512_reduce_min_epi32(emin), hi = _mm512_reduce_max_epi32(emax);
  if (hi > 0) {  // some nonzero value: its magnitudes are in [2^(lo-127), 2^(hi-126))
    r->a_lo = std::min(r->a_lo, lo - 127);
    r->a_hi = std::max(r->a_hi, hi - 126);
  }
  scaled.s.assign(a.s.size(), 1.0f);
  return scaled;
}

// bf16 lanes v times 2^e, with `add` holding e·128 per 16-bit lane: an add to the exponent field
// of the nonzero lanes (zeros stay zero). Exact only while every result stays a normal bf16, which
// the folding range checks guarantee.
DSV4_BF16_ATTR HWY_INLINE __m512i MulPow2Bf16(__m512i v, __m512i add) {
  return _mm512_mask_add_epi16(v, _mm512_test_epi16_mask(v, _mm512_set1_epi16(0x7fff)), v, add);
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

// Activation rows below which the folded kernels decode weights in registers (one pass over the
// weights for all rows) instead of into panels: the panel decode (with s_w folded in by fp32
// multiplies) is amortized only over m rows, and at m = 4 batched decode cost 4 single steps.
constexpr int kFoldPanelMinRows = 8;

using Fp8FoldedRowFn = void (*)(const uint8_t*, int, const uint16_t*, size_t, float*, size_t);
constexpr Fp8FoldedRowFn kFp8FoldedRow[kFoldPanelMinRows - 1] = {
    Fp8FoldedRow<1>, Fp8FoldedRow<2>, Fp8FoldedRow<3>, Fp8FoldedRow<4>,
    Fp8FoldedRow<5>, Fp8FoldedRow<6>, Fp8FoldedRow<7>};

// ---- folded GEMM (m >= kFoldPanelMinRows): panels of decoded weight rows (s_w folded in, full K)
// against register tiles of kFoldNR weight rows x kFoldMR activation rows, two chains each.
constexpr int kFoldNR = 4, kFoldMR = 3;
constexpr int kFoldPanelRows = 32;  // rows decoded per panel: 8 tiles share each activation tile

// Rows [0, rows) of the codes at w (row stride k) -> bf16(w·s_w) per 128-block (ws: the rows'
// block-row of scales), in the order of PermuteFp8Acts, kp values per row (zeros past k).
DSV4_BF16_ATTR void DecodeFp8FoldedPanel(const uint8_t* w, int k, int rows, const uint8_t* ws,
                                         size_t kp, uint16_t* out) {
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
        _mm512_storeu_si512(out + r * kp + i0 + 32 * v, (__m512i)folded);
      }
    }
  }
}

// One 32-value vector step of DotTileTotals into chain h: each weight vector (masked when kMasked)
// loaded once for all MR activation rows.
template <int NR, int MR, bool kMasked>
DSV4_BF16_ATTR HWY_INLINE void DotStep(const uint16_t* wp, size_t ws, const uint16_t* xp, size_t xs,
                                       __mmask32 mask, __m512 (&acc)[NR][MR][2], int h) {
  __m512i wv[NR];
#pragma GCC unroll 4
  for (int i = 0; i < NR; ++i) {
    wv[i] = kMasked ? _mm512_maskz_loadu_epi16(mask, wp + i * ws) : _mm512_loadu_si512(wp + i * ws);
  }
#pragma GCC unroll 7
  for (int j = 0; j < MR; ++j) {
    const __m512i xv = _mm512_loadu_si512(xp + j * xs);
#pragma GCC unroll 4
    for (int i = 0; i < NR; ++i)
      acc[i][j][h] = _mm512_dpbf16_ps(acc[i][j][h], (__m512bh)wv[i], (__m512bh)xv);
  }
}

// The dot-product order every bf16-operand path shares (folded FP8/MXFP4, bf16 weights), so no
// output depends on the batch size: per output (weight row i, activation row j), chain h sums the
// 32-value vectors v with v % 2 == h in ascending k (a last partial vector zero-padded: weights
// masked past k, activations stored as zeros there), and total = chain 0 + chain 1, reduced to a
// float by SumLanes. totals[j·NR + i]; NR weight rows (stride ws) × MR activation rows (stride xs).
// kAnyK = false: k is a multiple of 64 (the decoded panels), which leaves out the tail code (its
// registers made the compiler spill the accumulators around the main loop).
template <int NR, int MR, bool kAnyK>
DSV4_BF16_ATTR HWY_INLINE void DotTileTotals(const uint16_t* wp, size_t ws, const uint16_t* xp,
                                             size_t xs, int k, __m512* totals) {
  __m512 acc[NR][MR][2];
#pragma GCC unroll 4
  for (int i = 0; i < NR; ++i) {
#pragma GCC unroll 7
    for (int j = 0; j < MR; ++j) acc[i][j][0] = acc[i][j][1] = _mm512_setzero_ps();
  }
  const int full = k / 32;
  int v = 0;
  for (; v + 2 <= full; v += 2) {
    DotStep<NR, MR, false>(wp + 32 * v, ws, xp + 32 * v, xs, 0, acc, 0);
    DotStep<NR, MR, false>(wp + 32 * (v + 1), ws, xp + 32 * (v + 1), xs, 0, acc, 1);
  }
  if constexpr (kAnyK) {
    if (v < full) {
      DotStep<NR, MR, false>(wp + 32 * v, ws, xp + 32 * v, xs, 0, acc, 0);
      ++v;
    }
    if (k % 32 != 0) {
      DotStep<NR, MR, true>(wp + 32 * v, ws, xp + 32 * v, xs, (__mmask32{1} << (k % 32)) - 1,
                            acc, v & 1);
    }
  }
#pragma GCC unroll 7
  for (int j = 0; j < MR; ++j) {
#pragma GCC unroll 4
    for (int i = 0; i < NR; ++i) totals[j * NR + i] = _mm512_add_ps(acc[i][j][0], acc[i][j][1]);
  }
}

// y[j·y_stride + i] = Σ w_i · x_j (bf16 when round) for NR weight rows and MR activation rows,
// in the order of DotTileTotals.
template <int NR, int MR, bool kAnyK>
DSV4_BF16_ATTR void FoldedTile(const uint16_t* wp, size_t ws, const uint16_t* xp, size_t xs, int k,
                               float* y, size_t y_stride, bool round) {
  __m512 totals[NR * MR];
  DotTileTotals<NR, MR, kAnyK>(wp, ws, xp, xs, k, totals);
  float sums[NR * MR];
  SumLanes(totals, NR * MR, sums);
  for (int j = 0; j < MR; ++j) {
    for (int i = 0; i < NR; ++i) {
      y[j * y_stride + i] = round ? RoundBf16(sums[j * NR + i]) : sums[j * NR + i];
    }
  }
}

using FoldedTileFn = void (*)(const uint16_t*, size_t, const uint16_t*, size_t, int, float*,
                              size_t, bool);
template <int NR, bool kAnyK>
constexpr FoldedTileFn kFoldedTiles[kFoldMR] = {FoldedTile<NR, 1, kAnyK>, FoldedTile<NR, 2, kAnyK>,
                                                FoldedTile<NR, 3, kAnyK>};
// [nr - 1][mr - 1]: for decoded panels (k a multiple of 64), and for any k (bf16 weights).
constexpr const FoldedTileFn* kFoldedTile[kFoldNR] = {
    kFoldedTiles<1, false>, kFoldedTiles<2, false>, kFoldedTiles<3, false>, kFoldedTiles<4, false>};
constexpr const FoldedTileFn* kFoldedTileAnyK[kFoldNR] = {
    kFoldedTiles<1, true>, kFoldedTiles<2, true>, kFoldedTiles<3, true>, kFoldedTiles<4, true>};

// y[j·y_stride + i] = bf16(Σ panel_i · x_j) for a decoded panel (rows ≤ kFoldPanelRows, kp
// values each, kp a multiple of 64) and m activation rows (xp, stride kp): the FP8 and MXFP4
// GEMMs' loop over register tiles. (Blocking it over K, so a tile's 4 + 3 rows stay in L1 with
// the chain accumulators kept in a buffer between blocks, gave the same bits but ran slower in
// per-call interleaved runs: MXFP4 m = 192 195-212 against 236 GFLOP/s, FP8 m = 64 147-160
// against 160, for K blocks of 1024-4096 values and 24 or 48 activation rows per pass.)
DSV4_BF16_ATTR void PanelGemm(const uint16_t* panel, int rows, const uint16_t* xp, size_t kp, int m,
                              float* y, size_t y_stride) {
  for (int j = 0; j < m; j += kFoldMR) {
    const int mr = std::min(kFoldMR, m - j);
    for (int i = 0; i < rows; i += kFoldNR) {
      const int nr = std::min(kFoldNR, rows - i);
      kFoldedTile[nr - 1][mr - 1](panel + i * kp, kp, xp + j * kp, kp, static_cast<int>(kp),
                                  y + j * y_stride + i, y_stride, /*round=*/true);
    }
  }
}

// One FP8 linear's activations, prepared once per call for every thread.
struct Fp8Acts {
  detail::QuantizedRows a;
  std::vector<uint16_t> xp;  // folded: bf16(q·s_x); else bf16(q); order of PermuteFp8Acts
  bool folded = false;
  size_t kp = 0;
};

DSV4_BF16_ATTR Fp8Acts PrepareFp8Acts(detail::QuantizedRows a, int m, const Fp8Weight& w) {
  Fp8Acts p;
  p.kp = static_cast<size_t>(a.kb) * kQuantBlock;
  FoldRange range;
  WeightScaleRange(w, a.kb, &range);
  if (range.ok) {
    std::vector<uint16_t> xp = PermuteFp8Acts(ScaledActs(a, m, w.k, &range), m, w.k);
    if (Foldable(range, w.k)) {
      p.folded = true;
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
    std::vector<uint16_t> xs(static_cast<size_t>(m) * kp);
    for (int b = b0; b < b1; ++b) {
      FoldWeightScales(p.xp.data(), kp, m, w.scale + static_cast<size_t>(b) * kb, kb, xs.data());
      for (int n = b * kQuantBlock; n < std::min(w.n, (b + 1) * kQuantBlock); ++n) {
        kFp8FoldedRow[m - 1](w.w + static_cast<size_t>(n) * k, k, xs.data(), kp, y + n,
                             static_cast<size_t>(w.n));
      }
    }
    return;
  }
  std::vector<uint16_t> panel(kFoldPanelRows * kp);
  for (int b = b0; b < b1; ++b) {
    const int row_end = std::min(w.n, (b + 1) * kQuantBlock);
    for (int n = b * kQuantBlock; n < row_end; n += kFoldPanelRows) {
      const int rows = std::min(kFoldPanelRows, row_end - n);
      DecodeFp8FoldedPanel(w.w + static_cast<size_t>(n) * k, k, rows,
                           w.scale + static_cast<size_t>(b) * kb, kp, panel.data());
      PanelGemm(panel.data(), rows, p.xp.data(), kp, m, y + n, static_cast<size_t>(w.n));
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

// Independent FP8 linears in one parallel pass over all their 128-row blocks.
void LinearFp8GroupBf16(const Fp8Job* jobs, int count) {
  std::vector<Fp8Acts> acts(count);
  std::vector<int> first(count + 1, 0);  // first block of each job in the combined range
  for (int j = 0; j < count; ++j) {
    const Fp8Job& job = jobs[j];
    if (job.m > 0) acts[j] = PrepareFp8Acts(detail::QuantizeRows(job.x, job.m, job.w.k), job.m, job.w);
    first[j + 1] = first[j] + (job.m > 0 ? CeilDiv(job.w.n, kQuantBlock) : 0);
  }
  ThreadPool::Global().ParallelFor(first[count], [&](int b0, int b1) {
    for (int j = 0; j < count; ++j) {
      const int lo = std::max(b0, first[j]), hi = std::min(b1, first[j + 1]);
      if (lo < hi) Fp8Blocks(acts[j], jobs[j].m, jobs[j].w, lo - first[j], hi - first[j], jobs[j].y);
    }
  });
}

// -------------------------------------------------------------------------------------- MXFP4

constexpr int kFp4Chunk = 512;  // values per step: 4 loads of 64 bytes, 16 scale blocks

// Activations in the order of the e2m1 decode: per 128 values, X_j[t] (j = 0..3, 32 each) =
// x[4t + j]; zero beyond k. Scales per chunk of 512 in the order of the
// 4-group reduction: lane 4q+c = s_x of 128-group c.
DSV4_BF16_ATTR void PermuteFp4Acts(const detail::QuantizedRows& a, int m, int k,
                                   std::vector<uint16_t>* xp, std::vector<float>* sx) {
  const int chunks = CeilDiv(k, kFp4Chunk), kp = chunks * kFp4Chunk;
  xp->resize(static_cast<size_t>(m) * kp);
  sx->assign(static_cast<size_t>(m) * chunks * 16, 0.0f);
  // The high 16 bits of an fp32 e4m3 value are its exact bf16 (16-bit lane 2i+1 of float i of a
  // vector pair). A pair holds t = 8p..8p+7 of group p; lanes 8j+t' of the pick = X_j[8p+t'].
  alignas(64) uint16_t pick[32];
  for (int l = 0; l < 32; ++l) pick[l] = static_cast<uint16_t>(2 * (4 * (l & 7) + (l >> 3)) + 1);
  const __m512i idx = _mm512_load_si512(pick);
  for (int r = 0; r < m; ++r) {
    const float* q = a.q.data() + static_cast<size_t>(r) * k;
    uint16_t* o = xp->data() + static_cast<size_t>(r) * kp;
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
      _mm512_storeu_si512(o + i0, _mm512_shuffle_i64x2(a01, a23, 0x88));
      _mm512_storeu_si512(o + i0 + 32, _mm512_shuffle_i64x2(a01, a23, 0xdd));
      _mm512_storeu_si512(o + i0 + 64, _mm512_shuffle_i64x2(b01, b23, 0x88));
      _mm512_storeu_si512(o + i0 + 96, _mm512_shuffle_i64x2(b01, b23, 0xdd));
    }
    float* s = sx->data() + static_cast<size_t>(r) * chunks * 16;
    for (int g = 0; g < a.kb; ++g) {
      for (int lane = 0; lane < 4; ++lane)
        s[(g / 4) * 16 + 4 * lane + g % 4] = a.s[static_cast<size_t>(r) * a.kb + g];
    }
  }
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
constexpr Fp4RowFn kFp4Row[kBf16RowTile] = {Fp4Row<1>, Fp4Row<2>, Fp4Row<3>, Fp4Row<4>,
                                            Fp4Row<5>, Fp4Row<6>, Fp4Row<7>, Fp4Row<8>};

// ---- MXFP4 with folded scales (as FP8 above): e2m1 values times s_w (per 32) are exact bf16,
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

// 128 values of a weight row (64 bytes at wrow + off, `bytes` valid when kTail) -> 4 bf16 vectors
// w·s_w in the element order of PermuteFp4Acts (vector j, lane t: element 4t + j; 128-bit lane q
// holds scale block q, whose e8m0 byte is ws[q]). The biased table gives w·2^64 (zeros as +0,
// which changes no sum: every chain starts at +0); an unsigned saturating subtract of
// (64 - (e - 127))·128 then lowers each nonzero exponent to that of w·2^(e-127), exactly, and
// leaves zeros at zero — one instruction where an exponent add needed a zero test and a masked
// add. Valid for e - 127 in [kFp4ScaleLo, kFp4ScaleHi] (the folded rows).
template <bool kTail>
DSV4_BF16_ATTR HWY_INLINE void DecodeFp4Folded(const uint8_t* w, int bytes, const uint8_t* ws,
                                               __m512i table, __m512i* wv) {
  const __m512i v = kTail ? _mm512_maskz_loadu_epi8(ByteMask(bytes), w) : _mm512_loadu_si512(w);
  wv[0] = _mm512_permutexvar_epi16(v, table);
  wv[1] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 4), table);
  wv[2] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 8), table);
  wv[3] = _mm512_permutexvar_epi16(_mm512_srli_epi16(v, 12), table);
  // 16-bit lane t of 128-bit lane q <- scale byte q (byte 4 of s4 is zero: the high bytes).
  const int scales = kTail ? (bytes + 15) / 16 : 4;
  const __m512i s4 = _mm512_zextsi128_si512(
      _mm_maskz_loadu_epi8(static_cast<__mmask16>((1u << scales) - 1), ws));
  alignas(64) static const uint8_t pick[64] = {
      0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 1, 4, 1, 4, 1, 4, 1, 4, 1, 4, 1, 4,
      1, 4, 1, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 3, 4, 3, 4, 3, 4, 3, 4,
      3, 4, 3, 4, 3, 4, 3, 4};
  const __m512i e = _mm512_permutexvar_epi8(_mm512_load_si512(pick), s4);
  const __m512i lower = _mm512_sub_epi16(_mm512_set1_epi16((127 + kE2M1TableBias) << 7),
                                         _mm512_slli_epi16(e, 7));
  for (int j = 0; j < 4; ++j) wv[j] = _mm512_subs_epu16(wv[j], lower);
}

// Matrix-vector (R < kFoldPanelMinRows activation rows, xs: bf16(q·s_x), stride kp):
// y[r·y_stride]. At R = 1 this also waits on vdpbf16ps latency (4 per 64-byte load, two per
// chain). Measured and not adopted: 4 chains (10-15% faster from cache, but the GEMM must add in
// the same order, and its 4-chain tiles, 2x3 for 24 accumulators, ran the prefill expert shape
// 22% slower); two adjacent weight rows at once (10-20% faster from cache, ~1.5x slower from DRAM
// in the model: two streams that jump every row).
template <int R>
DSV4_BF16_ATTR void Fp4FoldedRow(const uint8_t* wrow, const uint8_t* ws, int k, const uint16_t* xs,
                                 size_t kp, float* y, size_t y_stride) {
  const __m512i table = _mm512_load_si512(GetBf16Tables().e2m1_biased);
  const int row_bytes = k / 2, full = k / 128, chunks = CeilDiv(k, 128);
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int c = 0; c < chunks; ++c) {
    _mm_prefetch(reinterpret_cast<const char*>(wrow + c * 64 + kPrefetchBytes), _MM_HINT_T0);
    __m512i wv[4];
    if (c < full) {
      DecodeFp4Folded<false>(wrow + c * 64, 64, ws + c * 4, table, wv);
    } else {
      DecodeFp4Folded<true>(wrow + c * 64, row_bytes - c * 64, ws + c * 4, table, wv);
    }
#pragma GCC unroll 7
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j)
        acc[r][j & 1] = Dp(acc[r][j & 1], wv[j], xs + r * kp + c * 128 + 32 * j);
    }
  }
  __m512 total[R];
  for (int r = 0; r < R; ++r) total[r] = _mm512_add_ps(acc[r][0], acc[r][1]);
  float sums[R];
  SumLanes(total, R, sums);
  for (int r = 0; r < R; ++r) y[r * y_stride] = RoundBf16(sums[r]);
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
                                             size_t kp, uint16_t* out) {
  const __m512i table = _mm512_load_si512(GetBf16Tables().e2m1_biased);
  const int row_bytes = k / 2, k32 = k / kFp4Block, full = k / 128, chunks = CeilDiv(k, 128);
  uint64_t bad = 0;
  for (int r = 0; r < rows; ++r) {
    const uint8_t* wrow = w + static_cast<size_t>(r) * row_bytes;
    const uint8_t* srow = ws + static_cast<size_t>(r) * k32;
    if (!Fp4RowScalesFoldable(srow, k32)) bad |= uint64_t{1} << r;
    uint16_t* o = out + r * kp;
    for (int c = 0; c < chunks; ++c) {
      __m512i wv[4];
      if (c < full) {
        DecodeFp4Folded<false>(wrow + c * 64, 64, srow + c * 4, table, wv);
      } else {
        DecodeFp4Folded<true>(wrow + c * 64, row_bytes - c * 64, srow + c * 4, table, wv);
      }
      for (int j = 0; j < 4; ++j) _mm512_storeu_si512(o + c * 128 + 32 * j, wv[j]);
    }
    std::fill(o + static_cast<size_t>(chunks) * 128, o + kp, uint16_t{0});
  }
  return bad;
}

struct Fp4Acts {
  std::vector<uint16_t> xp;  // bf16(q), PermuteFp4Acts order (the per-block kernel)
  std::vector<float> sx;
  std::vector<uint16_t> xf;  // bf16(q·s_x), same order (folded kernels); empty: not foldable
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
  const detail::QuantizedRows scaled = ScaledActs(a, m, k, &range);
  if (Foldable(range, k, -1, 3)) {
    std::vector<float> unused;
    PermuteFp4Acts(scaled, m, k, &p.xf, &unused);
  }
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
      for (int r = mt; r < mt_end; r += kBf16RowTile) {
        const int rows = std::min(kBf16RowTile, mt_end - r);
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
    for (int n = n0; n < n1; ++n) {
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
  std::vector<uint16_t> panel(kFoldPanelRows * kp);
  for (int n = n0; n < n1; n += kFoldPanelRows) {
    const int rows = std::min(kFoldPanelRows, n1 - n);
    const uint64_t bad = DecodeFp4FoldedPanel(w.w + static_cast<size_t>(n) * (k / 2),
                                              w.scale + static_cast<size_t>(n) * k32, k, rows, kp,
                                              panel.data());
    PanelGemm(panel.data(), rows, p.xf.data(), kp, m, y + n, static_cast<size_t>(w.n));
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
  std::vector<int64_t> first(count + 1, 0), weight(count, 1);
  for (int j = 0; j < count; ++j) {
    const Fp4Job& job = jobs[j];
    if (job.m > 0) acts[j] = PrepareFp4Acts(detail::QuantizeRows(job.x, job.m, job.w.k), job.m, job.w.k);
    weight[j] = 1 + job.m / 16;
    first[j + 1] = first[j] + (job.m > 0 ? job.w.n * weight[j] : 0);
  }
  DSV4_CHECK(first[count] < (int64_t{1} << 31));
  ThreadPool::Global().ParallelFor(static_cast<int>(first[count]), [&](int u0, int u1) {
    for (int j = 0; j < count; ++j) {
      if (jobs[j].m <= 0) continue;
      // Rows whose unit first[j] + r·weight[j] lies in [u0, u1).
      auto row_at = [&](int64_t u) {
        const int64_t r = (u - first[j] + weight[j] - 1) / weight[j];
        return static_cast<int>(std::clamp<int64_t>(r, 0, jobs[j].w.n));
      };
      const int lo = row_at(u0), hi = row_at(u1);
      if (lo < hi) Fp4Rows(acts[j], jobs[j].m, jobs[j].w, lo, hi, jobs[j].y);
    }
  });
}

// ------------------------------------------------------------------------------- BF16 weights
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
  const __m512i low = _mm512_set1_epi32(0xffff);
  __mmask16 inexact = 0;
  for (int r = 0; r < m; ++r) {
    const float* row = x + static_cast<size_t>(r) * k;
    uint16_t* o = out + r * kp;
    for (int i = 0; i < static_cast<int>(kp); i += 16) {
      const int left = k - i;
      const __mmask16 mask = left >= 16 ? 0xffff : left <= 0 ? 0 : (1u << left) - 1;
      const __m512i v = _mm512_castps_si512(_mm512_maskz_loadu_ps(mask, row + i));
      inexact |= _mm512_test_epi32_mask(v, low);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + i),
                          _mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16)));
    }
  }
  return inexact == 0;
}

// Weight rows [n0, n1) against m bf16 activation rows (xb, stride kp).
DSV4_BF16_ATTR void Bf16DotRows(const uint16_t* xb, size_t kp, int m, const Bf16Weight& w, int n0,
                                int n1, float* y, bool round) {
  const size_t k = static_cast<size_t>(w.k), yn = static_cast<size_t>(w.n);
  if (m < kFoldPanelMinRows) {
    // One weight row at a time (a single DRAM stream per thread), all m activation rows per
    // weight load; the totals of up to 16 outputs reduced together.
    using TotalsFn = void (*)(const uint16_t*, size_t, const uint16_t*, size_t, int, __m512*);
    static constexpr TotalsFn kRow[kFoldPanelMinRows - 1] = {
        DotTileTotals<1, 1, true>, DotTileTotals<1, 2, true>, DotTileTotals<1, 3, true>,
        DotTileTotals<1, 4, true>, DotTileTotals<1, 5, true>, DotTileTotals<1, 6, true>,
        DotTileTotals<1, 7, true>};
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
  // Panels of kFoldPanelRows weight rows (kept in L2) against register tiles.
  for (int n = n0; n < n1; n += kFoldPanelRows) {
    const int rows = std::min(kFoldPanelRows, n1 - n);
    for (int j = 0; j < m; j += kFoldMR) {
      const int mr = std::min(kFoldMR, m - j);
      for (int i = 0; i < rows; i += kFoldNR) {
        const int nr = std::min(kFoldNR, rows - i);
        kFoldedTileAnyK[nr - 1][mr - 1](w.w + (n + i) * k, k, xb + j * kp, kp, w.k,
                                    y + j * yn + n + i, yn, round);
      }
    }
  }
}

// False (nothing written) when an activation is not a bf16 value.
DSV4_BF16_ATTR bool LinearBf16Dot(const float* x, int m, const Bf16Weight& w, float* y,
                                  bool round) {
  const size_t kp = static_cast<size_t>(CeilDiv(w.k, 64)) * 64;
  std::vector<uint16_t> xb(static_cast<size_t>(m) * kp);
  if (!PackBf16Acts(x, m, w.k, kp, xb.data())) return false;
  ThreadPool::Global().ParallelFor(w.n, [&](int n0, int n1) {
    Bf16DotRows(xb.data(), kp, m, w, n0, n1, y, round);
  });
  return true;
}
