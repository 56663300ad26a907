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

LayerSnapshot LayerState::Snapshot(int64_t pos, int n) const {
  LayerSnapshot s;
  s.pos = pos;
  s.n = n;
  const int rows = std::min(n, window);  // the ring slots the call overwrites
  for (int i = 0; i < rows; ++i) {
    const float* row = slot(pos + n - rows + i);
    s.ring_rows.insert(s.ring_rows.end(), row, row + head_dim);
  }
  s.cmp_kv = cmp.carry_kv;
  s.cmp_score = cmp.carry_score;
  s.idx_kv = idx.carry_kv;
  s.idx_score = idx.carry_score;
  s.cmp_entries = cmp.n_entries();
  s.idx_entries = idx.n_entries();
  return s;
}

void LayerState::Restore(const LayerSnapshot& s) {
  const int64_t first = s.pos + s.n - static_cast<int64_t>(s.ring_rows.size() / head_dim);
  for (size_t i = 0; i < s.ring_rows.size() / head_dim; ++i) {
    std::copy_n(s.ring_rows.data() + i * head_dim, head_dim, slot(first + static_cast<int64_t>(i)));
  }
  cmp.carry_kv = s.cmp_kv;
  cmp.carry_score = s.cmp_score;
  idx.carry_kv = s.idx_kv;
  idx.carry_score = s.idx_score;
  cmp.entries.resize(static_cast<size_t>(s.cmp_entries) * cmp.head_dim);
  idx.entries.resize(static_cast<size_t>(s.idx_entries) * idx.head_dim);
}

}  // namespace dsv4
