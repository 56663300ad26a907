#include "model/state.h"

#include <algorithm>
#include <limits>

namespace dsv4 {

void CompressorState::Init(int r, int d) {
  ratio = r;
  head_dim = d;
  const size_t n = static_cast<size_t>(overlap() * r) * overlap() * d;
  carry_kv.assign(n, 0.0f);
  carry_score.assign(n, -std::numeric_limits<float>::infinity());
  entries.clear();
}

void CompressorState::Reset() {
  std::fill(carry_kv.begin(), carry_kv.end(), 0.0f);
  std::fill(carry_score.begin(), carry_score.end(), -std::numeric_limits<float>::infinity());
  entries.clear();
}

void LayerState::Reset() {
  std::fill(ring.begin(), ring.end(), 0.0f);
  cmp.Reset();
  idx.Reset();
}

}  // namespace dsv4
