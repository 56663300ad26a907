// Model: a loaded DeepSeek-V4 checkpoint and its forward pass (spec §2, §9). Stateless with respect
// to sequences: every call takes the sequence's ModelState, so one Model serves many sequences.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/checkpoint.h"
#include "io/config.h"
#include "model/rope.h"
#include "model/state.h"
#include "model/trace.h"
#include "model/weights.h"

namespace dsv4 {

// Everything a sequence carries between forward calls.
struct ModelState {
  std::vector<LayerState> layers;  // one per main block
  std::vector<LayerState> mtp;     // one per MTP block
  int64_t n_tokens = 0;            // main-model positions processed
  int64_t n_mtp_tokens = 0;        // MTP positions processed
  void Reset();
};

struct ForwardResult {
  std::vector<float> logits;   // [V] fp32, last position of the call ([S, V] with all_logits)
  std::vector<float> streams;  // [S, hc, D] final HC streams of every position (the MTP input)
};

// One sequence's part of a batched forward call.
struct BatchItem {
  std::span<const int32_t> tokens;  // at positions state->n_tokens..
  ModelState* state = nullptr;
  ForwardResult* out = nullptr;
  bool all_logits = false;  // logits of every position (speculative verification), not just the last
};

// A run of rows of a batched activation that belongs to one sequence.
struct Segment {
  int offset = 0;           // first row in the batch
  int len = 0;              // rows (tokens)
  int64_t start_pos = 0;    // position of the first row in its sequence
  LayerState* state = nullptr;
};

class Model {
 public:
  static Result<std::unique_ptr<Model>> Load(const std::string& dir, bool progress = false);
  // For tests: a model over an already-open checkpoint.
  static Result<std::unique_ptr<Model>> FromCheckpoint(std::unique_ptr<Checkpoint> ckpt,
                                                       const ModelConfig& config);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const Rope& rope(int compress_ratio) const { return compress_ratio > 0 ? rope_cmp_ : rope_swa_; }

  ModelState NewState() const;

  // Main model over `tokens` at positions state.n_tokens.. (prefill, a prefill chunk, or one decode
  // token — one code path). Errors: empty call, token id out of range.
  Status Forward(std::span<const int32_t> tokens, ModelState& state, ForwardResult* out,
                 TraceSink* trace = nullptr) const;

  // Several sequences in one call (continuous batching): the dense parts (HC, norms, projections,
  // MoE) run on all rows together so each weight is streamed once per step; attention, compressors
  // and indexer run per sequence on its own state. Row-wise numerics make every sequence's result
  // bit-identical to running it alone. All items are validated before any state changes.
  Status ForwardBatch(std::span<const BatchItem> items) const;

  // MTP block at positions state.n_mtp_tokens..: tokens[s] (the token after position s) with the
  // main model's final streams of position s, hidden [S, hc, D]. logits of the last position.
  Status ForwardMtp(std::span<const int32_t> tokens, const float* hidden, ModelState& state,
                    std::vector<float>* logits, TraceSink* trace = nullptr) const;

  // ---- stages, public for the golden checks ----
  // One block over a batch of rows: X [S, hc, D] → out [S, hc, D]; segments say which rows belong
  // to which sequence (attention state). tokens [S] for hash routing.
  void Block(const BlockWeights& blk, const float* X, int S, std::span<const Segment> segments,
             const int32_t* tokens, const Trace& tr, float* out) const;
  // HC head + norm + lm head on the streams of n positions (rows[i] → [hc, D]) → logits[i] [V].
  // The head matrix (the largest one) is streamed once per call, not once per position; the trace
  // records position `traced` (-1: none).
  void Head(std::span<const float* const> rows, const HcWeights& hc_head,
            const std::vector<float>& norm, const Trace& tr, int traced,
            std::span<float* const> logits) const;
  // MTP input: bf16(e_proj(enorm(embed(tokens)))[:, None] + h_proj(hnorm(hidden))) [S, hc, D].
  void MtpInput(const MtpWeights& m, std::span<const int32_t> tokens, const float* hidden,
                const Trace& tr, float* X) const;
  void Embed(std::span<const int32_t> tokens, float* h) const;  // [S, D] bf16 values

 private:
  Model(std::unique_ptr<Checkpoint> ckpt, ModelConfig config, ModelWeights weights);
  Status CheckTokens(std::span<const int32_t> tokens) const;
  Status RunBatch(std::span<const BatchItem> items, TraceSink* trace) const;

  std::unique_ptr<Checkpoint> checkpoint_;  // owns the mappings the weights point into
  ModelConfig config_;
  ModelWeights weights_;
  Rope rope_swa_;  // ratio-0 layers: rope_theta, no YaRN
  Rope rope_cmp_;  // compressed layers: compress_rope_theta + YaRN
};

}  // namespace dsv4
