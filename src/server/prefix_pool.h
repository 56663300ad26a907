// Finished sequences kept for prefix reuse: a new prompt that extends one of them (a conversation's
// next turn, a retried request) continues that sequence — window, compressed caches, compressor
// carries — instead of prefilling from scratch. Keyed by the token ids each sequence holds; a small
// LRU, owned by the engine thread (not thread-safe).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "runtime/sequence.h"

namespace dsv4 {

struct PooledSequence {
  std::unique_ptr<Sequence> seq;
  std::vector<float> logits;  // of the sequence's last token: an identical prompt needs no forward
};

class PrefixPool {
 public:
  explicit PrefixPool(int capacity) : capacity_(capacity) {}

  // Removes and returns the entry whose tokens are the longest prefix of `prompt` (equal included);
  // nullopt when none is.
  std::optional<PooledSequence> Take(std::span<const int32_t> prompt);
  // Adds an entry as the most recently used; the least recently used beyond capacity are freed.
  void Put(PooledSequence entry);

  int size() const { return static_cast<int>(entries_.size()); }
  int64_t tokens() const;  // held by all entries

 private:
  int capacity_;
  std::list<PooledSequence> entries_;  // most recently used first
};

}  // namespace dsv4
