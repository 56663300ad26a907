// Linear kernels for AVX-512 with BF16 and VBMI (Zen 4, Sapphire Rapids), included by linear.cc
// inside the AVX3_DL target only, entered only when CPUID reports AVX512_BF16. This file: what the
// formats share (tables, lane sums, the folded-scale range check, the dot-product order and the
// register tiles); linear_{fp8,fp4,bf16}_avx512bf16-inl.h: one weight format each, included after
// it.
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

// One vector's lane sum by Reduce16's tree (which never adds lanes of different vectors): pairs,
// then pairs of pairs within each 128-bit lane, then 128-bit lanes 0+1 and 2+3, then those two,
// each add with the lower operand first. 7 instructions where Reduce16 on one vector and 15 zero
// ones spends ~45 (a matrix-vector row at k = 1024 is ~150 cycles of decode and dot products).
DSV4_BF16_ATTR HWY_INLINE float SumLanes1(__m512 v) {
  const __m512 a = _mm512_add_ps(_mm512_shuffle_ps(v, v, 0x88), _mm512_shuffle_ps(v, v, 0xdd));
  const __m512 b = _mm512_add_ps(a, _mm512_shuffle_ps(a, a, 0x55));  // lane 0: a0 + a1
  const __m512 c = _mm512_add_ps(b, _mm512_shuffle_f32x4(b, b, 0xF5));  // 128-bit lanes 0+1, 2+3
  return _mm512_cvtss_f32(_mm512_add_ps(c, _mm512_shuffle_f32x4(c, c, 0x02)));
}

// Horizontal sums of count <= 16 vectors into out[0..count): lane i of Reduce16 is p[i]'s sum by a
// fixed tree that does not depend on the other vectors, so every path that sums its outputs here
// (matrix-vector and GEMM alike) rounds them identically. One transpose-reduce instead of a
// reduce per output; for one or two vectors SumLanes1 each (the same tree).
DSV4_BF16_ATTR HWY_INLINE void SumLanes(const __m512* v, int count, float* out) {
  if (count <= 2) {
    for (int i = 0; i < count; ++i) out[i] = SumLanes1(v[i]);
    return;
  }
  __m512 p[16];
  for (int i = 0; i < 16; ++i) p[i] = i < count ? v[i] : _mm512_setzero_ps();
  alignas(64) float s[16];
  _mm512_store_ps(s, Reduce16(p));
  for (int i = 0; i < count; ++i) out[i] = s[i];
}

DSV4_BF16_ATTR HWY_INLINE __m512 Dp(__m512 acc, __m512i w, const uint16_t* x) {
  return _mm512_dpbf16_ps(acc, (__m512bh)w, (__m512bh)_mm512_loadu_si512(x));
}

// Software prefetch distance for the weight stream (the hardware prefetchers alone leave a single
// thread well below DRAM bandwidth; prefetching past the row end is harmless).
constexpr int kPrefetchBytes = 2048;
// The bf16 matrix-vector rows (DotTileTotals with kPrefetchL2) prefetch into L2 (`_MM_HINT_T1`)
// 8 KiB ahead, one line per 128 bytes: in-process A/B on cold [4096, 4096] weights, alternating
// per call, +10% (15.5 -> 17.0 and 18.2 -> 20.0 GB/s on one thread, 26.2 -> 29.0 and 21.9 -> 26.7
// on two). The same hint 2 KiB ahead into L1 cost a third of a single stream's bandwidth in a
// microbenchmark; MXFP4's pair kernel, compute-bound, keeps its L1 prefetch (T1 was slower there).
constexpr int kPrefetchL2Bytes = 8192;

// ---------------------------------------------------------------------- folded scales (shared)
//
// FP8: s_x and s_w are powers of two (UE8M0, spec §7.2), so a block's partial times s_x·s_w equals the
// sum of the products (x_q·s_x)·(w·s_w) exactly, as long as every operand is a normal bf16 and no
// product or sum leaves fp32's normal range. Then the whole row is one fp32 dot product of exact
// products, i.e. the reference's sum in another order, with no per-block reduction and no scale
// multiply: the activation operand is bf16(x_q·s_x) and s_w goes into whichever operand is
// rebuilt anyway (the activations per 128-row block in the matrix-vector kernel, the decoded
// panel in the GEMM). Both paths add the same exact products in the same order (two chains per
// output: even and odd 32-value vectors, k ascending), so no output depends on the batch size.
// Calls whose scales or activations fall outside the safe range (never in real checkpoints) use
// the per-block kernels. MXFP4 folds the same way (linear_fp4_avx512bf16-inl.h).

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

// Running exponent range of scaled activations (ScaleActRow), merged into a FoldRange at the end.
struct ScaleStats {
  __m512i emin, emax;  // biased exponents of the nonzero values, per lane
  __mmask16 bad;       // lanes that saw a subnormal, NaN/Inf or non-bf16 value
};

DSV4_BF16_ATTR inline ScaleStats NewScaleStats() {
  return {_mm512_set1_epi32(0xff), _mm512_setzero_si512(), 0};
}

// o[0, k) = q·s_x of one quantized row (s: its kb block scales), the exponents seen into *st.
// Products are exact (q has 4 significant bits, s_x is a power of two) unless they leave the
// normal range, which the range check catches.
DSV4_BF16_ATTR inline void ScaleActRow(const float* q, const float* s, int kb, int k, float* o,
                                       ScaleStats* st) {
  const __m512i exp_mask = _mm512_set1_epi32(0xff), low16 = _mm512_set1_epi32(0xffff),
                magnitude = _mm512_set1_epi32(0x7fffffff);
  __m512i emin = st->emin, emax = st->emax;
  __mmask16 bad = st->bad;
  for (int b = 0; b < kb; ++b) {
    const __m512 sv = _mm512_set1_ps(s[b]);
    const int i1 = std::min(k, (b + 1) * kQuantBlock);
    for (int i = b * kQuantBlock; i < i1; i += 16) {
      const __mmask16 valid = i1 - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (i1 - i)) - 1);
      const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(valid, q + i), sv);
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
  st->emin = emin;
  st->emax = emax;
  st->bad = bad;
}

DSV4_BF16_ATTR inline void MergeScaleStats(const ScaleStats& st, FoldRange* r) {
  if (st.bad) r->ok = false;
  const int lo = _mm512_reduce_min_epi32(st.emin), hi = _mm512_reduce_max_epi32(st.emax);
  if (hi > 0) {  // some nonzero value: its magnitudes are in [2^(lo-127), 2^(hi-126))
    r->a_lo = std::min(r->a_lo, lo - 127);
    r->a_hi = std::max(r->a_hi, hi - 126);
  }
}

// bf16(q·s_x) of m quantized rows, each permuted into a kernel's layout by `permute` (kp values
// per row; split: SplitPanelGemm's layout); their exponent range merged into *range. One pass: a
// row is scaled into a per-thread buffer and permuted while in L1, never stored as a whole (the
// separate m·k fp32 copy of q·s_x was ~8% of a 512-token FP8 linear's time).
using PermuteRowFn = void (*)(const float* q, int k, int kp, uint16_t* o, bool split);
DSV4_BF16_ATTR inline ScratchVector<uint16_t> PermuteScaledActs(const detail::QuantizedRows& a,
                                                                int m, int k, int kp,
                                                                PermuteRowFn permute, bool split,
                                                                FoldRange* range) {
  ScratchVector<uint16_t> out(static_cast<size_t>(m) * kp);
  std::mutex mu;
  detail::ForActRows(m, [&](int r0, int r1) {
    ScratchVector<float> row(static_cast<size_t>(k));
    ScaleStats st = NewScaleStats();
    for (int r = r0; r < r1; ++r) {
      ScaleActRow(a.q.data() + static_cast<size_t>(r) * k, a.s.data() + static_cast<size_t>(r) * a.kb,
                  a.kb, k, row.data(), &st);
      permute(row.data(), k, kp, out.data() + static_cast<size_t>(r) * kp, split);
    }
    std::lock_guard<std::mutex> lock(mu);
    MergeScaleStats(st, range);
  });
  return out;
}

// bf16 lanes v times 2^e, with `add` holding e·128 per 16-bit lane: an add to the exponent field
// of the nonzero lanes (zeros stay zero). Exact only while every result stays a normal bf16, which
// the folding range checks guarantee.
DSV4_BF16_ATTR HWY_INLINE __m512i MulPow2Bf16(__m512i v, __m512i add) {
  return _mm512_mask_add_epi16(v, _mm512_test_epi16_mask(v, _mm512_set1_epi16(0x7fff)), v, add);
}

// Activation rows below which the folded kernels decode weights in registers (one pass over the
// weights for all rows) instead of into panels: the panel decode (with s_w folded in by fp32
// multiplies) is amortized only over m rows, and at m = 4 batched decode cost 4 single steps.
constexpr int kFoldPanelMinRows = 8;

// ---- folded GEMM (m >= kFoldPanelMinRows): panels of decoded weight rows (s_w folded in, full K)
// against register tiles of kFoldNR weight rows x kFoldMR activation rows, two chains each.
constexpr int kFoldNR = 4, kFoldMR = 3;
constexpr int kFoldPanelRows = 32;  // rows decoded per panel: 8 tiles share each activation tile

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
// registers made the compiler spill the accumulators around the main loop). kPrefetchL2: the
// weight rows stream from DRAM (matrix-vector), not from a decoded panel in L2.
template <int NR, int MR, bool kAnyK, bool kPrefetchL2 = false>
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
    if constexpr (kPrefetchL2) {
      _mm_prefetch(reinterpret_cast<const char*>(wp + 32 * v) + kPrefetchL2Bytes, _MM_HINT_T1);
    }
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

// A register tile's outputs y[j·y_stride + i] (NR weight rows × MR activation rows) from their
// chain totals (totals[j·NR + i]): lane sums by SumLanes's tree, rounded to bf16 when `round`, 16
// at a time in vector registers, and a full tile's NR = 4 outputs of an activation row stored as
// one 128-bit lane. (The scalar rounding and 12 scalar stores per tile were ~10% of a k = 1024
// tile's time.)
template <int NR, int MR>
DSV4_BF16_ATTR HWY_INLINE void StoreTile(const __m512* totals, float* y, size_t y_stride,
                                         bool round) {
  constexpr int kN = NR * MR;
  for (int t0 = 0; t0 < kN; t0 += 16) {
    __m512 p[16];
    for (int t = 0; t < 16; ++t) p[t] = t0 + t < kN ? totals[t0 + t] : _mm512_setzero_ps();
    __m512 s = Reduce16(p);
    if (round) s = RoundBf16Lanes(hn::Full512<float>(), hn::Vec512<float>{s}).raw;
    alignas(64) float out[16];
    _mm512_store_ps(out, s);
    if constexpr (NR == 4) {  // whole activation rows in this batch of 16: 4 floats each
      for (int t = t0; t < std::min(kN, t0 + 16); t += 4) {
        std::memcpy(y + (t / 4) * y_stride, out + (t - t0), 4 * sizeof(float));
      }
    } else {
      for (int t = t0; t < std::min(kN, t0 + 16); ++t) {
        y[(t / NR) * y_stride + t % NR] = out[t - t0];
      }
    }
  }
}

// y[j·y_stride + i] = Σ w_i · x_j (bf16 when round) for NR weight rows and MR activation rows,
// in the order of DotTileTotals.
template <int NR, int MR, bool kAnyK>
DSV4_BF16_ATTR void FoldedTile(const uint16_t* wp, size_t ws, const uint16_t* xp, size_t xs, int k,
                               float* y, size_t y_stride, bool round) {
  __m512 totals[NR * MR];
  DotTileTotals<NR, MR, kAnyK>(wp, ws, xp, xs, k, totals);
  StoreTile<NR, MR>(totals, y, y_stride, round);
}

using FoldedTileFn = void (*)(const uint16_t*, size_t, const uint16_t*, size_t, int, float*,
                              size_t, bool);
template <int NR, bool kAnyK>
constexpr FoldedTileFn kFoldedTiles[kFoldMR] = {FoldedTile<NR, 1, kAnyK>, FoldedTile<NR, 2, kAnyK>,
                                                FoldedTile<NR, 3, kAnyK>};
// [nr - 1][mr - 1]: for k a multiple of 64 (the decoded panels, most bf16 weights), any k.
constexpr const FoldedTileFn* kFoldedTile[kFoldNR] = {
    kFoldedTiles<1, false>, kFoldedTiles<2, false>, kFoldedTiles<3, false>, kFoldedTiles<4, false>};
constexpr const FoldedTileFn* kFoldedTileAnyK[kFoldNR] = {
    kFoldedTiles<1, true>, kFoldedTiles<2, true>, kFoldedTiles<3, true>, kFoldedTiles<4, true>};

// y[j·y_stride + i] = Σ w_i · x_j (bf16 when round) for `rows` weight rows (stride ws) and m
// activation rows (stride xs), k values each: the GEMMs' loop over register tiles (FP8 and MXFP4
// on a decoded panel, bf16 on the weight rows themselves). (Blocking it over K, so a tile's 4 + 3 rows stay in L1 with
// the chain accumulators kept in a buffer between blocks, gave the same bits but ran slower in
// per-call interleaved runs: MXFP4 m = 192 195-212 against 236 GFLOP/s, FP8 m = 64 147-160
// against 160, for K blocks of 1024-4096 values and 24 or 48 activation rows per pass.)
DSV4_BF16_ATTR void PanelGemm(const uint16_t* w, size_t ws, int rows, const uint16_t* xp, size_t xs,
                              int m, int k, float* y, size_t y_stride, bool round) {
  const FoldedTileFn* const* tiles = k % 64 == 0 ? kFoldedTile : kFoldedTileAnyK;
  for (int j = 0; j < m; j += kFoldMR) {
    const int mr = std::min(kFoldMR, m - j);
    for (int i = 0; i < rows; i += kFoldNR) {
      const int nr = std::min(kFoldNR, rows - i);
      tiles[nr - 1][mr - 1](w + i * ws, ws, xp + j * xs, xs, k, y + j * y_stride + i, y_stride,
                            round);
    }
  }
}

// ---- the same GEMM over a split layout (session 8). The two chains of an output are two
// separate sums (chain h: the 32-value vectors v with v % 2 == h, ascending), so a row can store
// its even vectors first and its odd vectors after them (SplitOffset), and a tile can then run
// chain 0 over the first half and chain 1 over the second as two passes of one accumulator per
// output: 4 weight rows × 6 activation rows (24 accumulators, 10 loads per 24 `vdpbf16ps`, 27
// bytes from L2 per `vdpbf16ps` against the 4×3×2 tile's 37, which is what bounds that tile when
// its rows do not fit L1). Same products, same order, same bits as PanelGemm.
constexpr int kSplitNR = 4, kSplitMR = 6;
// Below this many values per row the 4×3×2 tile's rows nearly fit L1 and it is as fast or faster
// (microbenchmark, 32-row panel, m = 192 and 510: k = 1024 and 2048 0.93-1.0x, 3072 1.10x, 4096
// 1.07-1.14x, 8192 1.13-1.15x).
constexpr size_t kSplitMinK = 3072;
inline bool UseSplitTiles(size_t kp) { return kp >= kSplitMinK; }

// Where vector v (values 32v..32v+31) of a row of kp values (a multiple of 64) is stored.
inline size_t SplitOffset(int v, size_t kp) {
  return static_cast<size_t>(v & 1) * (kp / 2) + static_cast<size_t>(v >> 1) * 32;
}

// y[j·y_stride + i] for NR weight rows × MR activation rows in the split layout, kp values each:
// the sums of DotTileTotals (chain 0 + chain 1, then SumLanes).
template <int NR, int MR>
DSV4_BF16_ATTR void SplitTile(const uint16_t* wp, size_t ws, const uint16_t* xp, size_t xs,
                              size_t kp, float* y, size_t y_stride, bool round) {
  const int steps = static_cast<int>(kp / 64);  // vectors per chain
  __m512 totals[NR * MR];
#pragma GCC unroll 1
  for (int h = 0; h < 2; ++h) {
    __m512 acc[NR][MR];
#pragma GCC unroll 4
    for (int i = 0; i < NR; ++i) {
#pragma GCC unroll 6
      for (int j = 0; j < MR; ++j) acc[i][j] = _mm512_setzero_ps();
    }
    const uint16_t* w = wp + h * (kp / 2);
    const uint16_t* x = xp + h * (kp / 2);
    for (int u = 0; u < steps; ++u) {
      __m512i wv[NR];
#pragma GCC unroll 4
      for (int i = 0; i < NR; ++i) wv[i] = _mm512_loadu_si512(w + i * ws + 32 * u);
#pragma GCC unroll 6
      for (int j = 0; j < MR; ++j) {
        const __m512i xv = _mm512_loadu_si512(x + j * xs + 32 * u);
#pragma GCC unroll 4
        for (int i = 0; i < NR; ++i) {
          acc[i][j] = _mm512_dpbf16_ps(acc[i][j], (__m512bh)wv[i], (__m512bh)xv);
        }
      }
    }
#pragma GCC unroll 6
    for (int j = 0; j < MR; ++j) {
#pragma GCC unroll 4
      for (int i = 0; i < NR; ++i) {
        totals[j * NR + i] = h == 0 ? acc[i][j] : _mm512_add_ps(totals[j * NR + i], acc[i][j]);
      }
    }
  }
  StoreTile<NR, MR>(totals, y, y_stride, round);
}

using SplitTileFn = void (*)(const uint16_t*, size_t, const uint16_t*, size_t, size_t, float*,
                             size_t, bool);
template <int NR>
constexpr SplitTileFn kSplitTiles[kSplitMR] = {SplitTile<NR, 1>, SplitTile<NR, 2>,
                                               SplitTile<NR, 3>, SplitTile<NR, 4>,
                                               SplitTile<NR, 5>, SplitTile<NR, 6>};
constexpr const SplitTileFn* kSplitTile[kSplitNR] = {kSplitTiles<1>, kSplitTiles<2>,
                                                     kSplitTiles<3>, kSplitTiles<4>};

// PanelGemm over rows (weights: `rows`, stride ws; activations: m, stride xs) in the split layout.
DSV4_BF16_ATTR void SplitPanelGemm(const uint16_t* w, size_t ws, int rows, const uint16_t* xp,
                                   size_t xs, int m, size_t kp, float* y, size_t y_stride,
                                   bool round) {
  for (int j = 0; j < m; j += kSplitMR) {
    const int mr = std::min(kSplitMR, m - j);
    for (int i = 0; i < rows; i += kSplitNR) {
      const int nr = std::min(kSplitNR, rows - i);
      kSplitTile[nr - 1][mr - 1](w + i * ws, ws, xp + j * xs, xs, kp, y + j * y_stride + i,
                                 y_stride, round);
    }
  }
}

// ---- prefill GEMM on oneDNN (m >= kFastGemmMinRows in fast-prefill mode;
// gemm_onednn.h). The weight rows of a thread's range are decoded into one buffer and handed to
// oneDNN 256-1024 rows a call, not a 32-row panel at a time (docs/kernels.md has the measurements).
inline bool UseFastGemm(int m) { return m >= kFastGemmMinRows && FastGemmEnabled(); }

// Weight rows per oneDNN call: ~4 MiB of decoded bf16 rows (kp values each), 256-1024 rows. Each
// call copies the activations into oneDNN's layout, so fewer rows cost more per row (one thread,
// M = 512, K = 8192: 0.52 of the core's peak with 128 rows a call, 0.87-0.89 with 256-512).
inline int FastGemmRows(size_t kp) {
  const size_t rows = (size_t{4} << 20) / (2 * kp) / 128 * 128;
  return static_cast<int>(std::clamp<size_t>(rows, 256, 1024));
}

// This thread's buffer for decoded weight rows, grown as needed and kept: a fresh 4 MiB allocation
// per call would be fresh pages, each a page fault (~4 µs on this VM) plus zeroing.
inline uint16_t* FastGemmScratch(size_t values) {
  thread_local AlignedVector<uint16_t> scratch;
  if (scratch.size() < values) scratch.resize(values);
  return scratch.data();
}

// dst[j·ds + i] = src[i·ss + j] for i, j < 16: unpacks and shuffles within 128-bit lanes, then of
// whole lanes.
DSV4_BF16_ATTR HWY_INLINE void Transpose16(const float* src, size_t ss, float* dst, size_t ds) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ss);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
  }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
  }
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * ds, r[i]);
}

// y[j·y_stride + i] = Σ w_i · x_j (bf16 when round), as PanelGemm, on oneDNN; falls back to
// PanelGemm's register tiles where oneDNN declines the shape. oneDNN writes the transpose (a
// transposed destination runs its reference loop), turned around here 16 × 16 at a time.
DSV4_BF16_ATTR void FastGemm(const uint16_t* w, size_t ws, int rows, const uint16_t* xp, size_t xs,
                             int m, int k, float* y, size_t y_stride, bool round) {
  thread_local AlignedVector<float> c;  // rows × m
  if (c.size() < static_cast<size_t>(rows) * m) c.resize(static_cast<size_t>(rows) * m);
  if (!OneDnnGemmBf16(w, ws, rows, xp, xs, m, k, c.data())) {
    return PanelGemm(w, ws, rows, xp, xs, m, k, y, y_stride, round);
  }
  const size_t ms = static_cast<size_t>(m);
  const int rows16 = rows / 16 * 16, m16 = m / 16 * 16;
  for (int i = 0; i < rows16; i += 16) {
    for (int j = 0; j < m16; j += 16) {
      Transpose16(c.data() + i * ms + j, ms, y + j * y_stride + i, y_stride);
    }
    for (int j = m16; j < m; ++j) {
      for (int t = i; t < i + 16; ++t) y[j * y_stride + t] = c[t * ms + j];
    }
  }
  for (int j = 0; j < m; ++j) {
    for (int t = rows16; t < rows; ++t) y[j * y_stride + t] = c[t * ms + j];
    if (round) ScaleRoundBf16(y + j * y_stride, rows, 1.0f);
  }
}
