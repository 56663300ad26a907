// Sequence: one conversation's state on a Model — the per-layer caches (window ring, compressed
// entries, indexer keys, compressor carries), the tokens so far, and what the MTP block still needs.
// Reusable: Reset() returns it to a fresh sequence without reallocating.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "model/model.h"

namespace dsv4 {

struct SequenceOptions {
  int prefill_chunk = 0;  // > 0: feed prompts in chunks of this many tokens (same logits)
  bool mtp = false;       // keep the main streams the MTP block needs (speculative decoding)
  int64_t max_tokens = 0; // context limit (0 = the model's max_position_embeddings)
};

class Sequence {
 public:
  Sequence(const Model& model, SequenceOptions options = {});

  // Appends tokens (a prompt, a prompt continuation, or one decode token) and returns the logits
  // of the last one. Chunked per options.prefill_chunk. On error nothing is appended... except that
  // an error inside the forward pass cannot happen after validation (ids, context length).
  Status Append(std::span<const int32_t> tokens, std::vector<float>* logits,
                TraceSink* trace = nullptr);

  // One batched step over several sequences (continuous batching): seqs[i] appends tokens[i]
  // (no chunking) and gets the logits of its last token in (*logits)[i]. Every sequence is validated
  // first; on error no sequence changes. Results are bit-identical to appending one at a time.
  static Status AppendBatch(std::span<Sequence* const> seqs,
                            std::span<const std::span<const int32_t>> tokens,
                            std::vector<std::vector<float>>* logits);

  // MTP logits predicting the token after `next_token`: runs the MTP block over every position whose
  // streams are pending, pairing position p with token p+1 (next_token for the last position).
  Status MtpLogits(int32_t next_token, std::vector<float>* logits, TraceSink* trace = nullptr);

  // Appends tokens in one call and returns the logits of every one of them ([n, V]) — the
  // verification step of speculative decoding.
  Status AppendAll(std::span<const int32_t> tokens, std::vector<float>* logits);

  // Undo support: Snapshot(n) before appending n tokens, Restore() afterwards returns the sequence
  // exactly to the snapshot (caches, carries, tokens, pending MTP streams). MTP state is not
  // rewound (MTP calls only consume positions that are already final).
  struct Snapshot {
    int64_t length = 0, n_tokens = 0;
    size_t mtp_streams = 0;
    std::vector<LayerSnapshot> layers;
  };
  Snapshot TakeSnapshot(int n) const;
  void Restore(const Snapshot& snap);

  void Reset();
  int64_t length() const { return static_cast<int64_t>(tokens_.size()); }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  const ModelState& state() const { return state_; }
  ModelState& mutable_state() { return state_; }

 private:
  Status Validate(std::span<const int32_t> tokens) const;
  void Record(std::span<const int32_t> tokens, ForwardResult& result);

  const Model& model_;
  SequenceOptions options_;
  ModelState state_;
  std::vector<int32_t> tokens_;
  std::vector<float> mtp_streams_;  // [pending, hc, D] main streams not yet fed to MTP
};

}  // namespace dsv4
