#include "model/attention.h"

#include <algorithm>
#include <cmath>

#include "base/numeric.h"
#include "kernels/kernels.h"
#include "kernels/thread_pool.h"
#include "model/compressor.h"
#include "model/indexer.h"

namespace dsv4 {
namespace {

constexpr int kKvSimBlock = 64;  // FP8_sim block of window KV
constexpr int kGroupedMaxTokens = 8;  // OutputProjection: wo_a's groups in one call up to this

// Per-head weightless RMS norm done in bf16 arithmetic like the reference's PyTorch ops:
// square → bf16, mean → bf16, + eps → bf16, rsqrt → bf16, product → bf16.
void HeadRmsNormBf16(float* q, int n, float eps) {
  double ss = 0.0;  // PyTorch's bf16 mean accumulates in (at least) fp32; double rounds once
  for (int i = 0; i < n; ++i) ss += RoundBf16(q[i] * q[i]);
  const float mean = RoundBf16(static_cast<float>(ss / n));
  const float r = RoundBf16(1.0f / std::sqrt(RoundBf16(mean + eps)));
  for (int i = 0; i < n; ++i) q[i] = RoundBf16(q[i] * r);
}

// Window + compressed slot lists for every query of the call, in the reference's order:
// window positions oldest first (padded to `window` slots), then the compressed entries (CSA: top-k
// order; HCA: entry order). `ids` gets the reference's integer encoding for tracing.
struct AttendList {
  int n_slots = 0;
  std::vector<const float*> rows;  // [S, n_slots]
  std::vector<float> ids;          // [S, n_slots] (-1 = unused), for the trace only
};

AttendList BuildAttendList(const float* kv, int S, int64_t start_pos, const LayerState& st,
                           int ratio, const std::vector<int32_t>& topk, int k,
                           const ModelConfig& cfg) {
  const int W = cfg.window_size, hd = cfg.head_dim;
  const int64_t n_cmp = ratio > 0 ? st.cmp.n_entries() : 0;
  const int cmp_slots = ratio == 4 ? k : static_cast<int>(n_cmp);
  const bool prefill = start_pos == 0;
  const int cmp_offset = prefill ? S : W;
  AttendList list;
  list.n_slots = W + cmp_slots;
  list.rows.assign(static_cast<size_t>(S) * list.n_slots, nullptr);
  list.ids.assign(static_cast<size_t>(S) * list.n_slots, -1.0f);
  for (int s = 0; s < S; ++s) {
    const int64_t t = start_pos + s;
    const float** rows = list.rows.data() + static_cast<size_t>(s) * list.n_slots;
    float* ids = list.ids.data() + static_cast<size_t>(s) * list.n_slots;
    int j = 0;
    for (int64_t p = std::max<int64_t>(0, t - W + 1); p <= t; ++p, ++j) {
      rows[j] = p >= start_pos ? kv + static_cast<size_t>(p - start_pos) * hd : st.slot(p);
      ids[j] = static_cast<float>(prefill ? p : p % W);
    }
    for (int c = 0; c < cmp_slots; ++c) {
      const int64_t e = ratio == 4 ? topk[static_cast<size_t>(s) * k + c] : c;
      if (e < 0 || e >= (t + 1) / ratio) continue;
      rows[W + c] = st.cmp.entry(e);
      ids[W + c] = static_cast<float>(cmp_offset + e);
    }
  }
  return list;
}

}  // namespace

void QueryFromQr(const float* qr, int S, int64_t start_pos, const AttentionWeights& w,
                 const Rope& rope, const ModelConfig& cfg, float* q) {
  const int H = cfg.n_heads, hd = cfg.head_dim;
  LinearFp8(qr, S, w.wq_b, q);  // [S, H·hd]
  // Per (token, head) rows split over the pool (serially ~1% of a 512-token prefill on two
  // threads, the other one waiting: S·H·hd values through a scalar bf16 norm).
  ThreadPool::Global().ParallelFor(S * H, [&](int u0, int u1) {
    for (int u = u0; u < u1; ++u)
      HeadRmsNormBf16(q + static_cast<size_t>(u) * hd, hd, cfg.norm_eps);
  });
  ThreadPool::Global().ParallelFor(S, [&](int s0, int s1) {
    for (int s = s0; s < s1; ++s) {
      rope.Apply(q + static_cast<size_t>(s) * H * hd, H, hd, start_pos + s, /*inverse=*/false);
    }
  });
}

void QueryPath(const float* x, int S, int64_t start_pos, const AttentionWeights& w,
               const Rope& rope, const ModelConfig& cfg, float* qr, float* q) {
  std::vector<float> a(static_cast<size_t>(S) * cfg.q_lora_rank);
  LinearFp8(x, S, w.wq_a, a.data());
  RmsNorm(a.data(), S, cfg.q_lora_rank, w.q_norm.data(), cfg.norm_eps, qr);
  QueryFromQr(qr, S, start_pos, w, rope, cfg, q);
}

void KvPath(const float* x, int S, int64_t start_pos, const AttentionWeights& w, const Rope& rope,
            const ModelConfig& cfg, float* kv) {
  const int hd = cfg.head_dim;
  std::vector<float> a(static_cast<size_t>(S) * hd);
  LinearFp8(x, S, w.wkv, a.data());
  RmsNorm(a.data(), S, hd, w.kv_norm.data(), cfg.norm_eps, kv);
  for (int s = 0; s < S; ++s) {
    float* row = kv + static_cast<size_t>(s) * hd;
    rope.Apply(row, 1, hd, start_pos + s, /*inverse=*/false);
    Fp8Sim(row, cfg.nope_head_dim(), kKvSimBlock);
  }
}

void AttendAndDerotate(const float* q, int S, int64_t start_pos,
                       const std::vector<const float*>& rows, int n_slots,
                       const AttentionWeights& w, const Rope& rope, const ModelConfig& cfg,
                       float* o) {
  const int H = cfg.n_heads, hd = cfg.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));  // no YaRN mscale
  ThreadPool::Global().ParallelFor(S, [&](int s0, int s1) {  // queries are independent
    for (int s = s0; s < s1; ++s) {
      float* os = o + static_cast<size_t>(s) * H * hd;
      SparseAttention(q + static_cast<size_t>(s) * H * hd, H, hd,
                      rows.data() + static_cast<size_t>(s) * n_slots, n_slots, w.attn_sink.data(),
                      scale, os);
      rope.Apply(os, H, hd, start_pos + s, /*inverse=*/true);
    }
  });
}

void OutputProjection(const float* o, int S, const AttentionWeights& w, const ModelConfig& cfg,
                      float* out) {
  const int G = cfg.o_groups, R = cfg.o_lora_rank;
  const int group_in = cfg.n_heads / G * cfg.head_dim;  // heads of a group, concatenated
  std::vector<float> u(static_cast<size_t>(S) * G * R);  // [S, G·R]
  // Up to kGroupedMaxTokens tokens (decode), the G groups run as one parallel pass: as G calls
  // each left a thread waiting at its end, 8-16 times per layer. Longer inputs keep one call
  // per group with all S rows, where the GEMM needs them.
  const int per_call = S <= kGroupedMaxTokens ? G : 1;
  std::vector<float> og(static_cast<size_t>(S) * per_call * group_in);
  std::vector<float> ug(static_cast<size_t>(S) * per_call * R);
  std::vector<Fp8Job> jobs(per_call);
  for (int g0 = 0; g0 < G; g0 += per_call) {
    for (int j = 0; j < per_call; ++j) {
      float* og_j = og.data() + static_cast<size_t>(j) * S * group_in;
      for (int s = 0; s < S; ++s) {
        std::copy_n(o + (static_cast<size_t>(s) * G + g0 + j) * group_in, group_in,
                    og_j + static_cast<size_t>(s) * group_in);
      }
      jobs[j] = {og_j, S, w.wo_a.Rows((g0 + j) * R, R), ug.data() + static_cast<size_t>(j) * S * R};
    }
    LinearFp8AsBf16Group(jobs.data(), per_call);
    for (int j = 0; j < per_call; ++j) {
      for (int s = 0; s < S; ++s) {
        std::copy_n(ug.data() + (static_cast<size_t>(j) * S + s) * R, R,
                    u.data() + (static_cast<size_t>(s) * G + g0 + j) * R);
      }
    }
  }
  LinearFp8(u.data(), S, w.wo_b, out);
}

void AttentionForward(const float* x, int S, int64_t start_pos, const BlockWeights& blk,
                      const Rope& rope, const ModelConfig& cfg, LayerState& st, const Trace& tr,
                      float* out) {
  const AttentionWeights& w = blk.attn;
  const int H = cfg.n_heads, hd = cfg.head_dim, ratio = blk.compress_ratio;
  std::vector<float> qr(static_cast<size_t>(S) * cfg.q_lora_rank);
  std::vector<float> q(static_cast<size_t>(S) * H * hd), kv(static_cast<size_t>(S) * hd);
  QueryPath(x, S, start_pos, w, rope, cfg, qr.data(), q.data());
  KvPath(x, S, start_pos, w, rope, cfg, kv.data());
  tr.Rec("attn.qr", qr.data(), {S, cfg.q_lora_rank});
  tr.Rec("attn.q", q.data(), {S, H, hd});
  tr.Rec("attn.kv", kv.data(), {S, hd});

  std::vector<int32_t> topk;
  int k = 0;
  if (ratio == 4) {  // the indexer runs before the compressor, like the reference
    const int Hi = cfg.index_n_heads, dI = cfg.index_head_dim;
    std::vector<float> qi(static_cast<size_t>(S) * Hi * dI), hw(static_cast<size_t>(S) * Hi);
    IndexerQuery(qr.data(), S, start_pos, w.indexer, rope, cfg, qi.data());
    IndexerHeadWeights(x, S, w.indexer, cfg, hw.data());
    const int64_t before = st.idx.n_entries();
    CompressorAppend(x, S, start_pos, w.indexer.compressor, rope, cfg, CompressorKind::kIndexer,
                     st.idx);
    const int64_t n = st.idx.n_entries();
    std::vector<float> score(static_cast<size_t>(S) * n);
    IndexerScores(qi.data(), hw.data(), st.idx.entries.data(), n, S, start_pos, cfg, ratio,
                  score.data());
    k = static_cast<int>(std::min<int64_t>(cfg.index_topk, n));
    topk.resize(static_cast<size_t>(S) * k);
    IndexerTopK(score.data(), S, n, k, topk.data());
    if (tr.on()) {
      tr.Rec("attn.idx.q", qi.data(), {S, Hi, dI});
      tr.Rec("attn.idx.cmp", st.idx.entry(before), {n - before, dI});
      tr.Rec("attn.idx.kv", st.idx.entries.data(), {n, dI});
      tr.Rec("attn.idx.w", hw.data(), {S, Hi});
      tr.Rec("attn.idx.score", score.data(), {S, n});
      std::vector<float> ti(topk.begin(), topk.end());
      tr.Rec("attn.idx.topk", ti.data(), {S, k}, TraceDType::kI32);
    }
  }
  if (ratio > 0) {
    const int64_t before = st.cmp.n_entries();
    CompressorAppend(x, S, start_pos, w.compressor, rope, cfg, CompressorKind::kAttention, st.cmp);
    tr.Rec("attn.cmp", st.cmp.entry(before), {st.cmp.n_entries() - before, hd});
  }

  AttendList list = BuildAttendList(kv.data(), S, start_pos, st, ratio, topk, k, cfg);
  tr.Rec("attn.topk_idxs", list.ids.data(), {S, list.n_slots}, TraceDType::kI32);
  std::vector<float> o(static_cast<size_t>(S) * H * hd);
  AttendAndDerotate(q.data(), S, start_pos, list.rows, list.n_slots, w, rope, cfg, o.data());
  tr.Rec("attn.o", o.data(), {S, H, hd});
  OutputProjection(o.data(), S, w, cfg, out);
  tr.Rec("attn.out", out, {S, cfg.dim});

  // The window ring keeps the last `window` positions (after attention read the older ones).
  for (int s = std::max(0, S - cfg.window_size); s < S; ++s) {
    std::copy_n(kv.data() + static_cast<size_t>(s) * hd, hd, st.slot(start_pos + s));
  }
}

}  // namespace dsv4
