#include "runtime/speculative.h"

#include <algorithm>

namespace dsv4 {
namespace {

int32_t Argmax(const float* logits, int vocab) {
  return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);
}

}  // namespace

Result<std::vector<int32_t>> GreedySpeculative(Sequence& seq, std::span<const int32_t> prompt,
                                               int max_new, int32_t eos_id,
                                               SpeculativeStats* stats, DraftFn draft_fn) {
  if (seq.length() != 0) return InvalidArgument("speculative decoding needs a fresh sequence");
  if (max_new <= 0) return InvalidArgument("max_new must be positive");
  std::vector<int32_t> out;
  std::vector<float> logits, mtp, both;
  if (!draft_fn) {
    draft_fn = [&mtp](Sequence& s, int32_t next) -> Result<int32_t> {
      DSV4_RETURN_IF_ERROR(s.MtpLogits(next, &mtp));
      return Argmax(mtp.data(), static_cast<int>(mtp.size()));
    };
  }
  DSV4_RETURN_IF_ERROR(seq.Append(prompt, &logits));
  const int vocab = static_cast<int>(logits.size());
  int32_t x = Argmax(logits.data(), vocab);  // sampled, not yet fed to the main model
  out.push_back(x);
  auto done = [&] { return static_cast<int>(out.size()) >= max_new || out.back() == eos_id; };
  while (!done()) {
    DSV4_ASSIGN_OR_RETURN(const int32_t draft, draft_fn(seq, x));  // the token after x
    ++stats->drafted;
    const Sequence::Snapshot snap = seq.TakeSnapshot(2);
    const int32_t pair[2] = {x, draft};
    DSV4_RETURN_IF_ERROR(seq.AppendAll(pair, &both));  // [2, V]: after x, after draft
    ++stats->main_calls;
    const int32_t y = Argmax(both.data(), vocab);
    if (y == draft) {
      ++stats->accepted;
      out.push_back(draft);
      if (done()) break;
      x = Argmax(both.data() + vocab, vocab);
      out.push_back(x);
    } else {  // undo the draft and feed x alone: same state as plain decoding
      seq.Restore(snap);
      DSV4_RETURN_IF_ERROR(seq.Append({&x, 1}, &logits));
      ++stats->main_calls;
      x = y;
      out.push_back(x);
    }
  }
  out.resize(std::min<size_t>(out.size(), max_new));
  return out;
}

}  // namespace dsv4
