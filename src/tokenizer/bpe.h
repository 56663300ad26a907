// The BPE model of HF `tokenizers` over byte-level pieces. Pieces arrive as raw bytes: the
// ByteLevel byte→unicode mapping is folded into the vocabulary at load time (vocabulary strings are
// converted back to the bytes they stand for), so no per-piece re-encoding is needed.
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "tokenizer/flat_string_map.h"

namespace dsv4 {

// A token id from tokenizer.json: an integer in [0, 2^21] (far above any real vocabulary; bounds
// the memory a file can make us allocate). `what` names the entry in the error.
Result<int32_t> ReadTokenId(const nlohmann::json& v, const std::string& what);

class BpeModel {
 public:
  // `model` is the "model" object of tokenizer.json (type BPE). Fills id → token text and
  // id → raw bytes for every vocabulary entry (byte-level strings decoded; others kept literal).
  Status Build(const nlohmann::json& model, std::vector<std::string>* text,
               std::vector<std::string>* bytes);

  // Appends the ids of one pre-tokenized piece (raw bytes). Cached per piece; thread-safe.
  void Tokenize(std::string_view piece, std::vector<int32_t>* out) const;

  // The merge loop, O(n log n): a min-heap of (rank, position) over a linked list of symbols.
  std::vector<int32_t> Merge(std::string_view piece) const;
  // The plain twin (executable spec): repeatedly merge the lowest-ranked adjacent pair, leftmost
  // first on ties, O(n^2). Tests compare the two.
  std::vector<int32_t> MergeReference(std::string_view piece) const;

  // Id of a byte-level vocabulary entry given by its raw bytes.
  int32_t IdOfBytes(std::string_view bytes) const;

 private:
  struct MergeInfo {
    int32_t rank;
    int32_t new_id;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  const MergeInfo* FindMerge(int32_t a, int32_t b) const;
  // Initial symbols: one per byte; bytes without a vocabulary entry become unk or are dropped.
  std::vector<int32_t> InitialSymbols(std::string_view piece) const;

  FlatStringMap vocab_;  // raw bytes → id, byte-level entries only (the only ones BPE produces)
  // (left id, right id) → rank, merged id: open addressing, power-of-two size, half full at most.
  struct MergeSlot {
    uint64_t key = kEmptyKey;
    MergeInfo info{};
  };
  static constexpr uint64_t kEmptyKey = ~uint64_t{0};  // PairKey(-1, -1): ids are never negative
  void BuildMergeTable(const std::vector<std::pair<uint64_t, MergeInfo>>& merges);
  std::vector<MergeSlot> merges_;
  int32_t byte_id_[256];  // single-byte tokens, -1 when absent
  int32_t unk_id_ = -1;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;  // a piece that is a vocabulary entry is one token, merges unused
  // Entries whose own merge gives back just themselves (checked at load): such a piece needs no
  // cache and no merge. Exact, unlike assuming it for every entry (merges may split one).
  std::vector<bool> merges_to_self_;

  static constexpr size_t kCacheEntries = 1 << 16;  // cleared when full
  static constexpr size_t kCacheMaxPiece = 256;     // longer pieces are not cached
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

}  // namespace dsv4
