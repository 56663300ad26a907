// Speculative decoding with the MTP block (spec §9): the MTP head drafts the token after the next
// one, the main model verifies both in one forward call, a rejected draft is undone exactly
// (Sequence::TakeSnapshot/Restore). Greedy acceptance: the output is token-for-token the plain greedy
// output, with fewer main-model steps whenever drafts are accepted.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/status.h"
#include "runtime/sequence.h"

namespace dsv4 {

struct SpeculativeStats {
  int64_t main_calls = 0;  // main-model forward calls after the prefill
  int64_t drafted = 0;     // MTP drafts proposed
  int64_t accepted = 0;    // drafts the main model confirmed
};

// Proposes the token after `next` (the token about to be fed). Default: the MTP block's argmax.
using DraftFn = std::function<Result<int32_t>(Sequence& seq, int32_t next)>;

// `seq` must be fresh and created with SequenceOptions{.mtp = true} (unless `draft` needs no MTP).
// Generates up to max_new tokens (stopping after eos_id when >= 0) greedily.
Result<std::vector<int32_t>> GreedySpeculative(Sequence& seq, std::span<const int32_t> prompt,
                                               int max_new, int32_t eos_id,
                                               SpeculativeStats* stats, DraftFn draft = nullptr);

}  // namespace dsv4
