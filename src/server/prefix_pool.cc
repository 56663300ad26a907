#include "server/prefix_pool.h"

#include <algorithm>

namespace dsv4 {

std::optional<PooledSequence> PrefixPool::Take(std::span<const int32_t> prompt) {
  auto best = entries_.end();
  size_t best_len = 0;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const std::vector<int32_t>& t = it->seq->tokens();
    if (t.empty() || t.size() > prompt.size() || t.size() <= best_len) continue;
    if (!std::equal(t.begin(), t.end(), prompt.begin())) continue;
    best = it;
    best_len = t.size();
  }
  if (best == entries_.end()) return std::nullopt;
  PooledSequence out = std::move(*best);
  entries_.erase(best);
  return out;
}

void PrefixPool::Put(PooledSequence entry) {
  if (capacity_ <= 0 || entry.seq == nullptr || entry.seq->length() == 0) return;
  entries_.push_front(std::move(entry));
  while (static_cast<int>(entries_.size()) > capacity_) entries_.pop_back();
}

int64_t PrefixPool::tokens() const {
  int64_t n = 0;
  for (const PooledSequence& e : entries_) n += e.seq->length();
  return n;
}

}  // namespace dsv4
