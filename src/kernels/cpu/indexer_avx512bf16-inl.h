// Lightning-indexer scores with AVX-512 BF16 (Zen 4, Sapphire Rapids), included by indexer.cc
// inside the AVX3_DL target only, entered only when CPUID reports AVX512_BF16.
//
// A block of 16 keys is packed to bf16 and transposed into VNNI pair order: lane i of kp[j] holds
// key i's dimensions (2j, 2j+1). Per head, `vdpbf16ps` against the broadcast query pair adds both
// products into the head's 16 key lanes, 16 heads at a time (16 accumulators); the head terms then
// go into the 16-lane total in head order, exactly as the portable path.
//
// Numerics: FP4-simulated values (e2m1 × 2^e) have at most 2 significant bits, so they are exact in
// bf16 and every product of two is exact in fp32. vdpbf16ps adds products in another order than
// ref (pairs, and its own internal order), and flushes subnormal inputs and results; so a block
// takes this path only when, for every (head, key) pair, every partial sum in any order is an
// exactly representable normal fp32 number (SumsExact): then all orders give ref's bits. Values are
// checked per block (at most 2 significant bits, exponent ranges); a failing block (not FP4 data,
// extreme scale spreads, subnormals, Inf/NaN) is scored by the portable fp32-FMA path instead.
//
// Not a standalone header: no include guard, it lives in indexer.cc's per-target namespace.

#ifndef DSV4_BF16_ATTR
// The full target string: under clang a function-level target attribute replaces (not extends)
// the one HWY_BEFORE_NAMESPACE pushes, so the AVX3_DL features must be repeated here.
#define DSV4_BF16_ATTR __attribute__((target(HWY_TARGET_STR ",avx512bf16")))
#endif

HWY_INLINE bool IndexerBf16Supported(int dim) {
  static const bool has = __builtin_cpu_supports("avx512bf16");
  return has && dim % 32 == 0;  // keys are packed in tiles of 32 values
}

// Biased fp32 exponents of a set of vectors whose values have at most 2 significant bits: a value
// v != 0 with exponent e is then a multiple of 2^(e-128) (unbiased e-127, minus 1) below 2^(e-126).
struct ExpRange {
  int spread = -1000;  // max over vectors of (largest − smallest exponent of its nonzero values)
  int emin = 255;      // smallest exponent of a nonzero value
  int emax = 0;        // largest exponent of any value (255: Inf/NaN)
};

constexpr int kFloatsPerLine = 64 / sizeof(float);        // 64-byte cache lines
constexpr uint32_t kBeyond2SignificantBits = 0x003fffff;  // fp32 mantissa below its top bit

// Whether every partial sum of q_h[d]·k[d] (d < dim, any subset, any order) is an exact, normal
// fp32 number for every head h and key k of the ranges. Products are multiples of 2^(Lq+Lk) below
// 2^(Uq+Uk) (L = emin − 128, U = emax − 126 per vector), so sums of dim of them are multiples of
// the same unit below 2^(Uq+Uk+lg): exact when the span is at most 24 bits; normal when the unit is
// at least 2^-126 and the inputs are normal (vdpbf16ps treats subnormal inputs as zero); finite
// when below 2^127.
inline bool SumsExact(const ExpRange& q, const ExpRange& k, int dim) {
  int lg = 0;
  while ((1 << lg) < dim) ++lg;
  return q.spread + k.spread + 4 + lg <= 24 && q.emin >= 1 && k.emin >= 1 &&
         (q.emin - 128) + (k.emin - 128) >= -126 && (q.emax - 126) + (k.emax - 126) + lg <= 127;
}

// The query's exponent range (false when a value has more than 2 significant bits), and its bf16
// pairs qp [dim/2, heads]: (q[2j] low half, q[2j+1] high half) — exact when the range is valid.
// Pair-major, so the heads of a group broadcast from one cache line per pair.
inline bool PackQueryBf16(const IndexerHeads& query, uint32_t* qp, ExpRange* range) {
  const int dim = query.dim;
  for (int h = 0; h < query.heads; ++h) {
    const float* q = query.q + static_cast<size_t>(h) * dim;
    int emax = 0, emin = 255;
    for (int d = 0; d < dim; ++d) {
      const uint32_t u = FloatBits(q[d]);
      if (u & kBeyond2SignificantBits) return false;
      if ((u & 0x7fffffffu) == 0) continue;
      const int e = static_cast<int>((u >> 23) & 0xff);
      emax = std::max(emax, e), emin = std::min(emin, e);
    }
    if (emin <= emax) {
      range->spread = std::max(range->spread, emax - emin);
      range->emin = std::min(range->emin, emin);
      range->emax = std::max(range->emax, emax);
    }
    for (int j = 0; j < dim / 2; ++j) {
      qp[static_cast<size_t>(j) * query.heads + h] =
          (FloatBits(q[2 * j]) >> 16) | (FloatBits(q[2 * j + 1]) & 0xffff0000u);
    }
  }
  return true;
}

// c[j] lane i = r[i] lane j, for a 16x16 matrix of 32-bit values.
DSV4_BF16_ATTR HWY_INLINE void Transpose16x16(const __m512i* r, __m512i* c) {
  __m512i t[16], u[16];
  for (int k = 0; k < 8; ++k) {
    t[2 * k] = _mm512_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = _mm512_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
  }
  // u[4k + m], 128-bit lane b: column 4b + m of rows 4k..4k+3.
  for (int k = 0; k < 4; ++k) {
    u[4 * k] = _mm512_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
    u[4 * k + 1] = _mm512_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
    u[4 * k + 2] = _mm512_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
    u[4 * k + 3] = _mm512_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
  }
  // A 4x4 transpose of 128-bit lanes per m.
  for (int m = 0; m < 4; ++m) {
    const __m512i v0 = _mm512_shuffle_i32x4(u[m], u[4 + m], 0x44);
    const __m512i v1 = _mm512_shuffle_i32x4(u[m], u[4 + m], 0xee);
    const __m512i v2 = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0x44);
    const __m512i v3 = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0xee);
    c[m] = _mm512_shuffle_i32x4(v0, v2, 0x88);
    c[4 + m] = _mm512_shuffle_i32x4(v0, v2, 0xdd);
    c[8 + m] = _mm512_shuffle_i32x4(v1, v3, 0x88);
    c[12 + m] = _mm512_shuffle_i32x4(v1, v3, 0xdd);
  }
}

// Packs nb <= 16 keys [nb, dim] into kp [dim/2] (lane i of kp[j]: key i's bf16 pair (2j, 2j+1);
// zero past nb) and measures their exponent range. False when a value has more than 2 significant
// bits (then kp is not exact).
DSV4_BF16_ATTR HWY_INLINE bool PackKeysBf16(const float* keys, int nb, int dim, __m512i* kp,
                                            ExpRange* range) {
  alignas(64) static constexpr uint16_t kOddWords[32] = {1,  3,  5,  7,  9,  11, 13, 15, 17, 19, 21,
                                                         23, 25, 27, 29, 31, 33, 35, 37, 39, 41, 43,
                                                         45, 47, 49, 51, 53, 55, 57, 59, 61, 63};
  const __m512i odd_words = _mm512_load_si512(kOddWords);  // the high halves of 32 floats
  __m512i bits_or = _mm512_setzero_si512();
  for (int t = 0; t < dim / 32; ++t) {
    __m512i r[kKeyBlock];
    for (int i = 0; i < kKeyBlock; ++i) {
      if (i < nb) {
        const float* p = keys + static_cast<size_t>(i) * dim + 32 * t;
        const __m512i a = _mm512_loadu_si512(p), b = _mm512_loadu_si512(p + 16);
        bits_or = _mm512_ternarylogic_epi32(bits_or, a, b, 0xfe);  // | a | b
        r[i] = _mm512_permutex2var_epi16(a, odd_words, b);
      } else {
        r[i] = _mm512_setzero_si512();
      }
    }
    Transpose16x16(r, kp + 16 * t);
  }
  if (_mm512_test_epi32_mask(bits_or, _mm512_set1_epi32(kBeyond2SignificantBits)) != 0) {
    return false;
  }
  // Per key (lane): largest and smallest nonzero bf16 magnitude. As unsigned 16-bit integers the
  // magnitudes order like the values; |v| − 1 wraps zeros to 0xffff, out of the minimum.
  const __m512i abs_mask = _mm512_set1_epi32(0x7fff7fff), one = _mm512_set1_epi16(1);
  __m512i amax = _mm512_setzero_si512(), amin_m1 = _mm512_set1_epi32(-1);
  for (int j = 0; j < dim / 2; ++j) {
    const __m512i a = _mm512_and_si512(kp[j], abs_mask);
    amax = _mm512_max_epu16(amax, a);
    amin_m1 = _mm512_min_epu16(amin_m1, _mm512_sub_epi16(a, one));
  }
  const __m512i low = _mm512_set1_epi32(0xffff);
  amax = _mm512_and_si512(_mm512_max_epu16(amax, _mm512_srli_epi32(amax, 16)), low);
  amin_m1 = _mm512_and_si512(_mm512_min_epu16(amin_m1, _mm512_srli_epi32(amin_m1, 16)), low);
  const __mmask16 keys_in = nb >= kKeyBlock ? 0xffff : static_cast<__mmask16>((1u << nb) - 1);
  const __mmask16 nonzero = _mm512_mask_cmpneq_epi32_mask(keys_in, amin_m1, low);
  if (nonzero == 0) return true;  // all zero: every dot is exactly 0
  const __m512i emax = _mm512_srli_epi32(amax, 7);
  const __m512i emin = _mm512_srli_epi32(_mm512_add_epi32(amin_m1, _mm512_set1_epi32(1)), 7);
  range->spread = _mm512_mask_reduce_max_epi32(nonzero, _mm512_sub_epi32(emax, emin));
  range->emin = _mm512_mask_reduce_min_epi32(nonzero, emin);
  range->emax = _mm512_mask_reduce_max_epi32(nonzero, emax);
  return true;
}

// RoundBf16 per lane (as RoundBf16V).
DSV4_BF16_ATTR HWY_INLINE __m512 RoundBf16x16(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd));
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  r = _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x00400000));
  return _mm512_castsi512_ps(_mm512_and_si512(r, _mm512_set1_epi32(0xffff0000u)));
}

// Adds the terms bf16(relu(bf16(dot_h)) · w[h]) of G heads (qp: their query pairs, pair j of
// head g at qp[j · heads + g]) to the 16 keys' total, in head order.
template <int G>
DSV4_BF16_ATTR HWY_INLINE __m512 HeadGroupBf16(const uint32_t* qp, int heads, const float* w,
                                               int pairs, const __m512i* kp, __m512 total) {
  __m512 acc[G];
#pragma GCC unroll 16
  for (int g = 0; g < G; ++g) acc[g] = _mm512_setzero_ps();
  for (int j = 0; j < pairs; ++j) {
    const __m512bh k = (__m512bh)_mm512_load_si512(kp + j);
    const uint32_t* qj = qp + static_cast<size_t>(j) * heads;
#pragma GCC unroll 16
    for (int g = 0; g < G; ++g) {
      const __m512i qv = _mm512_set1_epi32(static_cast<int>(qj[g]));
      acc[g] = _mm512_dpbf16_ps(acc[g], k, (__m512bh)qv);
    }
  }
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int g = 0; g < G; ++g) {
    const __m512 d = RoundBf16x16(acc[g]);
    // std::max(d, 0.0f): NaN and -0 pass through.
    const __m512 relu = _mm512_maskz_mov_ps(~_mm512_cmp_ps_mask(d, zero, _CMP_LT_OQ), d);
    total = _mm512_add_ps(total, RoundBf16x16(_mm512_mul_ps(relu, _mm512_set1_ps(w[g]))));
  }
  return total;
}

// Blocks [b0, b1) of the n keys: vdpbf16ps where SumsExact holds (q_range == nullptr: never),
// else the portable path.
DSV4_BF16_ATTR void ScoreBlocksBf16(const IndexerHeads& query, const uint32_t* qp,
                                    const ExpRange* q_range, const float* keys, int64_t n,
                                    int64_t b0, int64_t b1, float* score) {
  const int H = query.heads, dim = query.dim, pairs = dim / 2;
  // (Not std::vector<__m512i>: template arguments drop the type's 64-byte alignment.)
  const auto kp_bytes = hwy::AllocateAligned<uint32_t>(static_cast<size_t>(pairs) * kKeyBlock);
  __m512i* kp = reinterpret_cast<__m512i*>(kp_bytes.get());
  std::vector<float> kt;
  alignas(64) float out[kKeyBlock];
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t i0 = b * kKeyBlock;
    const int nb = static_cast<int>(std::min<int64_t>(kKeyBlock, n - i0));
    const float* block = keys + i0 * dim;
    // The next block's keys (8 KiB at the model's shape) stream in while this one is scored: a
    // share of its cache lines before each group of heads (a burst of them would stall on the
    // core's few outstanding-miss slots).
    const char* next = reinterpret_cast<const char*>(block + nb * dim);
    const int64_t next_lines = std::min<int64_t>(kKeyBlock, n - i0 - nb) * dim / kFloatsPerLine;
    const int groups = std::max(1, H / 16);
    int64_t line = 0;
    auto prefetch_share = [&](int group) {
      for (const int64_t until = next_lines * (group + 1) / groups; line < until; ++line) {
        _mm_prefetch(next + line * 64, _MM_HINT_T0);
      }
    };
    ExpRange k_range;
    if (q_range != nullptr && PackKeysBf16(block, nb, dim, kp, &k_range) &&
        SumsExact(*q_range, k_range, dim)) {
      __m512 total = _mm512_setzero_ps();
      int h = 0;
      for (; h + 16 <= H; h += 16) {
        prefetch_share(h / 16);
        total = HeadGroupBf16<16>(qp + h, H, query.weights + h, pairs, kp, total);
      }
      for (; h < H; ++h) {
        total = HeadGroupBf16<1>(qp + h, H, query.weights + h, pairs, kp, total);
      }
      _mm512_store_ps(out, RoundBf16x16(total));
    } else {
      prefetch_share(groups - 1);
      kt.resize(static_cast<size_t>(dim) * kKeyBlock);
      detail::TransposeKeys(block, nb, dim, kt.data());
      ScoreBlockFma(query, kt.data(), out);
    }
    std::copy(out, out + nb, score + i0);
  }
}

inline void IndexerScoreBf16(const IndexerHeads& query, const float* keys, int64_t n,
                             float* score) {
  std::vector<uint32_t> qp(static_cast<size_t>(query.heads) * (query.dim / 2));
  ExpRange q_range;
  const bool q_exact = PackQueryBf16(query, qp.data(), &q_range);
  const int blocks = static_cast<int>((n + kKeyBlock - 1) / kKeyBlock);
  ThreadPool::Global().ParallelFor(blocks, [&](int b0, int b1) {
    ScoreBlocksBf16(query, qp.data(), q_exact ? &q_range : nullptr, keys, n, b0, b1, score);
  });
}
