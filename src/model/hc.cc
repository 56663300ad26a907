#include "model/hc.h"

#include <cmath>
#include <vector>

#include "base/numeric.h"
#include "kernels/hc.h"
#include "kernels/thread_pool.h"

namespace dsv4 {
namespace {

float Sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

// Row softmax + eps, then alternate column / row normalization (Sinkhorn) on c [hc, hc].
void Sinkhorn(float* c, int hc, int iters, float eps) {
  for (int j = 0; j < hc; ++j) {
    float* row = c + j * hc;
    float mx = row[0];
    for (int k = 1; k < hc; ++k) mx = std::max(mx, row[k]);
    float sum = 0.0f;
    for (int k = 0; k < hc; ++k) sum += (row[k] = std::exp(row[k] - mx));
    for (int k = 0; k < hc; ++k) row[k] = row[k] / sum + eps;
  }
  auto normalize_columns = [&] {
    for (int k = 0; k < hc; ++k) {
      float sum = 0.0f;
      for (int j = 0; j < hc; ++j) sum += c[j * hc + k];
      for (int j = 0; j < hc; ++j) c[j * hc + k] /= sum + eps;
    }
  };
  normalize_columns();
  for (int it = 1; it < iters; ++it) {
    for (int j = 0; j < hc; ++j) {
      float sum = 0.0f;
      for (int k = 0; k < hc; ++k) sum += c[j * hc + k];
      for (int k = 0; k < hc; ++k) c[j * hc + k] /= sum + eps;
    }
    normalize_columns();
  }
}

}  // namespace

void HcPre(const float* X, int S, const HcWeights& w, const ModelConfig& cfg, float* x, float* post,
           float* comb) {
  const int hc = cfg.hc_mult, D = cfg.dim, mix = (2 + hc) * hc;
  ThreadPool::Global().ParallelFor(S, [&](int s0, int s1) {  // tokens are independent
    std::vector<float> m(mix), pre(hc);
    for (int s = s0; s < s1; ++s) {
      const float* Xs = X + static_cast<size_t>(s) * hc * D;          // [hc, D] = flat [hc·D]
      HcMixes(Xs, hc * D, w.fn.data(), mix, cfg.norm_eps, m.data());  // kernels/hc.h
      for (int j = 0; j < hc; ++j) {
        pre[j] = Sigmoid(m[j] * w.scale[0] + w.base[j]) + cfg.hc_eps;
        post[s * hc + j] = 2.0f * Sigmoid(m[hc + j] * w.scale[1] + w.base[hc + j]);
      }
      float* c = comb + static_cast<size_t>(s) * hc * hc;
      for (int i = 0; i < hc * hc; ++i) c[i] = m[2 * hc + i] * w.scale[2] + w.base[2 * hc + i];
      Sinkhorn(c, hc, cfg.hc_sinkhorn_iters, cfg.hc_eps);
      HcCollapse(Xs, hc, D, pre.data(), x + static_cast<size_t>(s) * D);
    }
  });
}

void HcPost(const float* x, const float* R, const float* post, const float* comb, int S,
            const ModelConfig& cfg, float* out) {
  const int hc = cfg.hc_mult, D = cfg.dim;
  ThreadPool::Global().ParallelFor(S, [&](int s0, int s1) {
    for (int s = s0; s < s1; ++s) {
      const float* Rs = R + static_cast<size_t>(s) * hc * D;
      const float* c = comb + static_cast<size_t>(s) * hc * hc;
      HcPostMix(x + static_cast<size_t>(s) * D, Rs, post + s * hc, c, hc, D,
                out + static_cast<size_t>(s) * hc * D);
    }
  });
}

void HcHead(const float* X, int S, const HcWeights& w, const ModelConfig& cfg, float* y) {
  const int hc = cfg.hc_mult, D = cfg.dim;
  std::vector<float> m(hc);
  for (int s = 0; s < S; ++s) {
    const float* Xs = X + static_cast<size_t>(s) * hc * D;
    HcMixes(Xs, hc * D, w.fn.data(), hc, cfg.norm_eps, m.data());
    for (int j = 0; j < hc; ++j) m[j] = Sigmoid(m[j] * w.scale[0] + w.base[j]) + cfg.hc_eps;
    HcCollapse(Xs, hc, D, m.data(), y + static_cast<size_t>(s) * D);
  }
}

}  // namespace dsv4
