// A read-only open-addressing map from byte strings to ids, built once: one contiguous slot array
// and one contiguous key arena, so a lookup costs about one cache miss (the vocabulary lookup of
// every pre-tokenized piece is the hottest path of encoding).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dsv4 {

class FlatStringMap {
 public:
  // Keys must be distinct.
  void Build(const std::vector<std::pair<std::string, int32_t>>& entries);
  // The id of key, or -1.
  int32_t Find(std::string_view key) const;
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t offset = 0;  // into keys_
    uint32_t length = 0;
    int32_t id = -1;  // -1: empty slot
  };
  static uint64_t Hash(std::string_view s);

  std::vector<Slot> slots_;  // power-of-two size, at most half full
  std::string keys_;
  size_t size_ = 0;
  size_t max_length_ = 0;  // longer keys are absent without hashing them
};

}  // namespace dsv4
