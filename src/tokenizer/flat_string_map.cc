#include "tokenizer/flat_string_map.h"

#include <algorithm>
#include <cstring>

namespace dsv4 {

uint64_t FlatStringMap::Hash(std::string_view s) {
  // FNV-1a over 8-byte words, then a final avalanche (splitmix64): pieces are short.
  constexpr uint64_t kPrime = 0x100000001b3ull;
  uint64_t h = 0xcbf29ce484222325ull ^ s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * kPrime;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, s.data() + i, s.size() - i);
  h = (h ^ tail) * kPrime;
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

void FlatStringMap::Build(const std::vector<std::pair<std::string, int32_t>>& entries) {
  size_t cap = 16;
  while (cap < 2 * entries.size()) cap *= 2;
  slots_.assign(cap, Slot{});
  keys_.clear();
  size_ = entries.size();
  max_length_ = 0;
  for (const auto& [key, id] : entries) {
    const uint64_t h = Hash(key);
    size_t i = h & (cap - 1);
    while (slots_[i].id >= 0) i = (i + 1) & (cap - 1);
    slots_[i] = {h, static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(key.size()), id};
    keys_ += key;
    max_length_ = std::max(max_length_, key.size());
  }
}

int32_t FlatStringMap::Find(std::string_view key) const {
  if (slots_.empty() || key.size() > max_length_) return -1;
  const uint64_t h = Hash(key);
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.id < 0) return -1;
    if (s.hash == h && s.length == key.size() &&
        std::memcmp(keys_.data() + s.offset, key.data(), key.size()) == 0) {
      return s.id;
    }
  }
}

}  // namespace dsv4
