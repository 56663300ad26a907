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

Status Sequence::Append(std::span<const int32_t> tokens, std::vector<float>* logits,
                        TraceSink* trace) {
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
  const size_t chunk = options_.prefill_chunk > 0 ? options_.prefill_chunk : tokens.size();
  ForwardResult result;
  for (size_t at = 0; at < tokens.size(); at += chunk) {
    const auto part = tokens.subspan(at, std::min(chunk, tokens.size() - at));
    DSV4_RETURN_IF_ERROR(model_.Forward(part, state_, &result, trace));
    if (options_.mtp) {
      mtp_streams_.insert(mtp_streams_.end(), result.streams.begin(), result.streams.end());
    }
    tokens_.insert(tokens_.end(), part.begin(), part.end());
  }
  *logits = std::move(result.logits);
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
