#include "runtime/sequence.h"

#include <algorithm>

namespace dsv4 {

Sequence::Sequence(const Model& model, SequenceOptions options)
    : model_(model), options_(options), state_(model.NewState()) {}

void Sequence::Reset() {
  state_.Reset();
  tokens_.clear();
  mtp_streams_.clear();
}

Status Sequence::Validate(std::span<const int32_t> tokens) const {
  if (tokens.empty()) return InvalidArgument("no tokens to append");
  const int64_t limit = options_.max_tokens > 0 ? options_.max_tokens
                                                : model_.config().max_position_embeddings;
  if (limit > 0 && length() + static_cast<int64_t>(tokens.size()) > limit) {
    return ResourceExhausted("sequence of " + std::to_string(length()) + " tokens plus " +
                             std::to_string(tokens.size()) + " new exceeds the context limit of " +
                             std::to_string(limit) + " tokens");
  }
  for (size_t i = 0; i < tokens.size(); ++i) {  // validate before touching any state
    if (tokens[i] < 0 || tokens[i] >= model_.config().vocab_size) {
      return InvalidArgument("token id " + std::to_string(tokens[i]) + " is outside the vocabulary");
    }
  }
  return Status::Ok();
}

void Sequence::Record(std::span<const int32_t> tokens, ForwardResult& result) {
  if (options_.mtp) {
    mtp_streams_.insert(mtp_streams_.end(), result.streams.begin(), result.streams.end());
  }
  tokens_.insert(tokens_.end(), tokens.begin(), tokens.end());
}

Status Sequence::Append(std::span<const int32_t> tokens, std::vector<float>* logits,
                        TraceSink* trace) {
  DSV4_RETURN_IF_ERROR(Validate(tokens));
  const size_t chunk = options_.prefill_chunk > 0 ? options_.prefill_chunk : tokens.size();
  ForwardResult result;
  for (size_t at = 0; at < tokens.size(); at += chunk) {
    const auto part = tokens.subspan(at, std::min(chunk, tokens.size() - at));
    DSV4_RETURN_IF_ERROR(model_.Forward(part, state_, &result, trace));
    Record(part, result);
  }
  *logits = std::move(result.logits);
  return Status::Ok();
}

Status Sequence::AppendAll(std::span<const int32_t> tokens, std::vector<float>* logits) {
  DSV4_RETURN_IF_ERROR(Validate(tokens));
  ForwardResult result;
  const BatchItem item{tokens, &state_, &result, /*all_logits=*/true};
  DSV4_RETURN_IF_ERROR(model_.ForwardBatch({&item, 1}));
  Record(tokens, result);
  *logits = std::move(result.logits);
  return Status::Ok();
}

Sequence::Snapshot Sequence::TakeSnapshot(int n) const {
  Snapshot s;
  s.length = length();
  s.n_tokens = state_.n_tokens;
  s.mtp_streams = mtp_streams_.size();
  for (const LayerState& l : state_.layers) s.layers.push_back(l.Snapshot(state_.n_tokens, n));
  return s;
}

void Sequence::Restore(const Snapshot& s) {
  for (size_t l = 0; l < s.layers.size(); ++l) state_.layers[l].Restore(s.layers[l]);
  state_.n_tokens = s.n_tokens;
  tokens_.resize(s.length);
  mtp_streams_.resize(s.mtp_streams);
}

Status Sequence::AppendBatch(std::span<Sequence* const> seqs,
                             std::span<const std::span<const int32_t>> tokens,
                             std::vector<std::vector<float>>* logits) {
  if (seqs.size() != tokens.size() || seqs.empty()) {
    return InvalidArgument("AppendBatch needs one token list per sequence");
  }
  const Model& model = seqs[0]->model_;
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (&seqs[i]->model_ != &model) return InvalidArgument("AppendBatch across different models");
    for (size_t j = 0; j < i; ++j) {
      if (seqs[j] == seqs[i]) return InvalidArgument("AppendBatch with the same sequence twice");
    }
    DSV4_RETURN_IF_ERROR(seqs[i]->Validate(tokens[i]).Annotate("sequence " + std::to_string(i)));
  }
  std::vector<ForwardResult> results(seqs.size());
  std::vector<BatchItem> items;
  for (size_t i = 0; i < seqs.size(); ++i) items.push_back({tokens[i], &seqs[i]->state_, &results[i]});
  DSV4_RETURN_IF_ERROR(model.ForwardBatch(items));
  logits->resize(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    seqs[i]->Record(tokens[i], results[i]);
    (*logits)[i] = std::move(results[i].logits);
  }
  return Status::Ok();
}

Status Sequence::MtpLogits(int32_t next_token, std::vector<float>* logits, TraceSink* trace) {
  if (!options_.mtp) return InvalidArgument("sequence was created without MTP");
  const ModelConfig& cfg = model_.config();
  const size_t per_pos = static_cast<size_t>(cfg.hc_mult) * cfg.dim;
  const int64_t pending = static_cast<int64_t>(mtp_streams_.size() / per_pos);
  if (pending == 0) return InvalidArgument("no new positions for the MTP block");
  std::vector<int32_t> ids(pending);
  const int64_t first = length() - pending;
  for (int64_t i = 0; i + 1 < pending; ++i) ids[i] = tokens_[first + i + 1];
  ids[pending - 1] = next_token;
  DSV4_RETURN_IF_ERROR(model_.ForwardMtp(ids, mtp_streams_.data(), state_, logits, trace));
  mtp_streams_.clear();
  return Status::Ok();
}

}  // namespace dsv4
