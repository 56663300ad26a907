#include "model/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>
#include <vector>

#include "base/numeric.h"
#include "kernels/kernels.h"
#include "kernels/thread_pool.h"

namespace dsv4 {
namespace {

constexpr float kSoftplusThreshold = 20.0f;  // PyTorch softplus: x > 20 → x

float SqrtSoftplus(float v) {
  const float sp = v > kSoftplusThreshold ? v : std::log1p(std::exp(v));
  return std::sqrt(sp);
}

float Silu(float v) { return v / (1.0f + std::exp(-v)); }

// Expert linears collected for one parallel pass (a checkpoint's experts are MXFP4 or FP8).
struct ExpertJobs {
  std::vector<Fp4Job> fp4;
  std::vector<Fp8Job> fp8;
  void Add(const ExpertMatrix& w, const float* x, int m, float* y) {
    if (w.fp4) {
      fp4.push_back({x, m, w.fp4_w, y});
    } else {
      fp8.push_back({x, m, w.fp8_w, y});
    }
  }
  void Run() {
    if (!fp4.empty()) LinearFp4Group(fp4.data(), static_cast<int>(fp4.size()));
    if (!fp8.empty()) LinearFp8Group(fp8.data(), static_cast<int>(fp8.size()));
    fp4.clear();
    fp8.clear();
  }
};

// Clamped SwiGLU on the bf16 GEMM outputs g (w1) and u (w3), fp32; optional per-row weight.
// Returns bf16(h) in g, the input of w2.
void SwiGlu(float* g, const float* u, int rows, int inter, float limit, const float* row_weight) {
  for (int r = 0; r < rows; ++r) {
    for (int i = 0; i < inter; ++i) {
      const size_t at = static_cast<size_t>(r) * inter + i;
      float gv = g[at], uv = u[at];
      if (limit > 0.0f) {
        uv = std::clamp(uv, -limit, limit);
        gv = std::min(gv, limit);  // the gate is clamped from above only
      }
      float h = Silu(gv) * uv;
      if (row_weight) h *= row_weight[r];  // routing weight applied before w2
      g[at] = RoundBf16(h);
    }
  }
}

}  // namespace

void Gate(const float* x, int S, const int32_t* tokens, const BlockWeights& blk,
          const ModelConfig& cfg, float* score, int32_t* idx, float* w) {
  const int E = cfg.n_routed_experts, k = cfg.n_activated_experts;
  LinearBf16(x, S, blk.gate.weight, score, /*round_bf16=*/false);  // fp32 x · fp32 W
  std::vector<int32_t> order(E);
  for (int s = 0; s < S; ++s) {
    float* p = score + static_cast<size_t>(s) * E;
    for (int e = 0; e < E; ++e) p[e] = SqrtSoftplus(p[e]);
    int32_t* chosen = idx + static_cast<size_t>(s) * k;
    if (blk.hash_routed) {
      std::copy_n(blk.gate.tid2eid.data() + static_cast<size_t>(tokens[s]) * k, k, chosen);
    } else {
      const float* bias = blk.gate.bias.data();  // selection only
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
        const float va = p[a] + bias[a], vb = p[b] + bias[b];
        return va > vb || (va == vb && a < b);
      });
      std::copy_n(order.begin(), k, chosen);
    }
    float sum = 0.0f;
    for (int j = 0; j < k; ++j) sum += p[chosen[j]];
    for (int j = 0; j < k; ++j) w[s * k + j] = p[chosen[j]] / sum * cfg.route_scale;
  }
}

void RoutedExperts(const float* x, int S, const int32_t* idx, const float* w,
                   const BlockWeights& blk, const ModelConfig& cfg, float* routed) {
  const int D = cfg.dim, I = cfg.moe_inter_dim, k = cfg.n_activated_experts;
  std::fill(routed, routed + static_cast<size_t>(S) * D, 0.0f);
  // The tokens routed to each expert, in expert order (the reference's loop order, which is also
  // the order the outputs are summed in).
  struct Active {
    const ExpertWeights* ew;
    std::vector<int> rows;
    std::vector<float> weights, xs, g, u, y;
  };
  std::vector<Active> active;
  for (int e = 0; e < cfg.n_routed_experts; ++e) {
    Active a{&blk.experts[e], {}, {}, {}, {}, {}, {}};
    for (int s = 0; s < S; ++s) {
      for (int j = 0; j < k; ++j) {
        if (idx[s * k + j] == e) {
          a.rows.push_back(s);
          a.weights.push_back(w[s * k + j]);
        }
      }
    }
    if (a.rows.empty()) continue;
    const int m = static_cast<int>(a.rows.size());
    a.xs.resize(static_cast<size_t>(m) * D);
    for (int r = 0; r < m; ++r) {
      std::copy_n(x + static_cast<size_t>(a.rows[r]) * D, D, &a.xs[static_cast<size_t>(r) * D]);
    }
    a.g.resize(static_cast<size_t>(m) * I);
    a.u.resize(static_cast<size_t>(m) * I);
    a.y.resize(static_cast<size_t>(m) * D);
    active.push_back(std::move(a));
  }
  // w1 and w3 of every chosen expert in one pass, then w2 of all of them in another: a decode
  // step's 6 experts become two parallel calls instead of 18 small ones.
  ExpertJobs jobs;
  for (Active& a : active) {
    const int m = static_cast<int>(a.rows.size());
    jobs.Add(a.ew->w1, a.xs.data(), m, a.g.data());
    jobs.Add(a.ew->w3, a.xs.data(), m, a.u.data());
  }
  jobs.Run();
  // SwiGLU of every (expert, token) row, split over the pool (serially ~1.5% of a 512-token
  // prefill on two threads with the other waiting; far more on many cores).
  std::vector<std::pair<Active*, int>> rows;
  for (Active& a : active) {
    for (int r = 0; r < static_cast<int>(a.rows.size()); ++r) rows.emplace_back(&a, r);
  }
  ThreadPool::Global().ParallelFor(static_cast<int>(rows.size()), [&](int i0, int i1) {
    for (int i = i0; i < i1; ++i) {
      Active& a = *rows[i].first;
      const size_t at = static_cast<size_t>(rows[i].second) * I;
      SwiGlu(a.g.data() + at, a.u.data() + at, 1, I, cfg.swiglu_limit,
             a.weights.data() + rows[i].second);
    }
  });
  for (Active& a : active)
    jobs.Add(a.ew->w2, a.g.data(), static_cast<int>(a.rows.size()), a.y.data());
  jobs.Run();
  // Sums in expert order per element, the hidden dimension split over the pool.
  ThreadPool::Global().ParallelFor(D, [&](int d0, int d1) {
    for (const Active& a : active) {
      for (size_t r = 0; r < a.rows.size(); ++r) {
        float* dst = routed + static_cast<size_t>(a.rows[r]) * D;
        for (int d = d0; d < d1; ++d) dst[d] += a.y[r * D + d];
      }
    }
  });
}

void SharedExpert(const float* x, int S, const SharedExpertWeights& sw, const ModelConfig& cfg,
                  float* y) {
  const int I = cfg.moe_inter_dim;
  std::vector<float> g(static_cast<size_t>(S) * I), u(static_cast<size_t>(S) * I);
  const Fp8Job up[2] = {{x, S, sw.w1, g.data()}, {x, S, sw.w3, u.data()}};
  LinearFp8Group(up, 2);
  ThreadPool::Global().ParallelFor(S, [&](int s0, int s1) {
    const size_t at = static_cast<size_t>(s0) * I;
    SwiGlu(g.data() + at, u.data() + at, s1 - s0, I, cfg.swiglu_limit, nullptr);
  });
  LinearFp8(g.data(), S, sw.w2, y);
}

void MoeForward(const float* x, int S, const int32_t* tokens, const BlockWeights& blk,
                const ModelConfig& cfg, const Trace& tr, float* out) {
  const int D = cfg.dim, E = cfg.n_routed_experts, k = cfg.n_activated_experts;
  std::vector<float> score(static_cast<size_t>(S) * E), w(static_cast<size_t>(S) * k);
  std::vector<int32_t> idx(static_cast<size_t>(S) * k);
  Gate(x, S, tokens, blk, cfg, score.data(), idx.data(), w.data());
  std::vector<float> routed(static_cast<size_t>(S) * D), shared(static_cast<size_t>(S) * D);
  RoutedExperts(x, S, idx.data(), w.data(), blk, cfg, routed.data());
  SharedExpert(x, S, blk.shared, cfg, shared.data());
  for (size_t i = 0; i < routed.size(); ++i) out[i] = RoundBf16(routed[i] + shared[i]);
  if (tr.on()) {
    tr.Rec("ffn.gate.score", score.data(), {S, E}, TraceDType::kF32);
    std::vector<float> fi(idx.begin(), idx.end());
    tr.Rec("ffn.gate.idx", fi.data(), {S, k}, TraceDType::kI32);
    tr.Rec("ffn.gate.w", w.data(), {S, k}, TraceDType::kF32);
    tr.Rec("ffn.shared", shared.data(), {S, D});
    tr.Rec("ffn.routed", routed.data(), {S, D}, TraceDType::kF32);
    tr.Rec("ffn.out", out, {S, D});
  }
}

}  // namespace dsv4
