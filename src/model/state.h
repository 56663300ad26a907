// Per-layer decode state (spec §5.1): the window ring, compressed entries, indexer keys, and the
// compressors' carry-over of the incomplete block. Owned by a runtime Sequence; plain data.
#pragma once

#include <cstdint>
#include <vector>

namespace dsv4 {

// One gated-pooling compressor (attention d=512 or indexer d=128) and the entries it produced.
struct CompressorState {
  int ratio = 0;     // r: 4 (overlapped, c = 2) or 128 (c = 1); 0 = unused
  int head_dim = 0;  // d
  // Carry rows [c·r, c·d] fp32. Overlap: rows 0..r-1 = previous complete block, r..2r-1 = current.
  std::vector<float> carry_kv;
  std::vector<float> carry_score;  // gate logits + ape; -inf = never written
  std::vector<float> entries;      // [n, d] bf16 values: entry i pools positions i·r .. i·r+r-1

  int overlap() const { return ratio == 4 ? 2 : 1; }
  int64_t n_entries() const { return head_dim ? static_cast<int64_t>(entries.size()) / head_dim : 0; }
  const float* entry(int64_t i) const { return entries.data() + i * head_dim; }
  void Init(int r, int d);
  void Reset();  // fresh sequence: values 0, scores -inf, no entries
};

// What a forward call of n tokens from position `pos` may change in a layer, saved so the call can
// be undone (a rejected speculative draft): the ring slots it overwrites, the carries, the entry
// counts. Cheap: O(n·head_dim + carry) no matter how long the context is.
struct LayerSnapshot {
  int64_t pos = 0;
  int n = 0;
  std::vector<float> ring_rows;  // [min(n, window), head_dim]
  std::vector<float> cmp_kv, cmp_score, idx_kv, idx_score;
  int64_t cmp_entries = 0, idx_entries = 0;
};

struct LayerState {
  int window = 0;            // ring size (sliding_window)
  int head_dim = 0;
  std::vector<float> ring;   // [window, head_dim] bf16 values; position p at slot p mod window
  CompressorState cmp;       // ratio > 0
  CompressorState idx;       // ratio == 4 (indexer keys)

  float* slot(int64_t pos) { return ring.data() + (pos % window) * head_dim; }
  const float* slot(int64_t pos) const { return ring.data() + (pos % window) * head_dim; }
  void Reset();
  LayerSnapshot Snapshot(int64_t pos, int n) const;
  void Restore(const LayerSnapshot& snap);
};

}  // namespace dsv4
