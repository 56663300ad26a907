#include "tokenizer/bpe.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tokenizer/byte_level.h"

namespace dsv4 {
namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxTokenId = uint64_t{1} << 21;

Status CheckUnsupportedOptions(const json& model) {
  if (model.contains("dropout") && !model["dropout"].is_null() &&
      model["dropout"].get<double>() > 0) {
    return Unimplemented("BPE dropout is random; a deterministic engine does not support it");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && !model[key].is_null() && !model[key].get<std::string>().empty()) {
      return Unimplemented(std::string("BPE option '") + key + "' (not used by byte-level BPE)");
    }
  }
  if (model.value("byte_fallback", false)) {
    return Unimplemented("BPE byte_fallback (not used by byte-level BPE)");
  }
  return Status::Ok();
}

// A merge entry: "left right" (legacy) or ["left", "right"].
Status SplitMerge(const json& m, std::string* left, std::string* right) {
  if (m.is_string()) {
    const std::string s = m.get<std::string>();
    const size_t sp = s.find(' ');
    if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
      return InvalidArgument("merge '" + s + "' is not two tokens separated by one space");
    }
    *left = s.substr(0, sp);
    *right = s.substr(sp + 1);
    return Status::Ok();
  }
  if (!m.is_array() || m.size() != 2)
    return InvalidArgument("merge " + m.dump() + " is not a pair");
  *left = m.at(0).get<std::string>();
  *right = m.at(1).get<std::string>();
  return Status::Ok();
}

// splitmix64's finaliser: pair keys are far from uniform in their low bits.
uint64_t MixKey(uint64_t h) {
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

}  // namespace

Result<int32_t> ReadTokenId(const json& v, const std::string& what) {
  // Reading a float or a negative number as an integer would be undefined or wrong: check first.
  if (!v.is_number_unsigned() || v.get<uint64_t>() > kMaxTokenId) {
    return InvalidArgument(what + " has id " + v.dump() + ", not an integer in [0, 2^21]");
  }
  return static_cast<int32_t>(v.get<uint64_t>());
}

Status BpeModel::Build(const json& model, std::vector<std::string>* text,
                       std::vector<std::string>* bytes) {
  DSV4_RETURN_IF_ERROR(CheckUnsupportedOptions(model));
  ignore_merges_ = model.value("ignore_merges", false);
  fuse_unk_ = model.value("fuse_unk", false);
  const json& vocab = model.at("vocab");
  std::unordered_map<std::string, int32_t> by_text;
  std::unordered_map<std::string, int32_t> by_bytes;
  by_text.reserve(vocab.size());
  by_bytes.reserve(vocab.size());
  std::string raw;
  for (const auto& [piece, id_json] : vocab.items()) {
    DSV4_ASSIGN_OR_RETURN(const int32_t id, ReadTokenId(id_json, "vocab entry '" + piece + "'"));
    if (static_cast<size_t>(id) >= text->size()) {
      text->resize(id + 1);
      bytes->resize(id + 1);
    }
    (*text)[id] = piece;
    by_text[piece] = static_cast<int32_t>(id);
    if (ByteLevelToBytes(piece, &raw)) {
      (*bytes)[id] = raw;
      by_bytes[raw] = static_cast<int32_t>(id);
    } else {
      (*bytes)[id] = piece;  // not byte-level: BPE can never produce it; decodes as its text
    }
  }
  vocab_.Build({by_bytes.begin(), by_bytes.end()});
  for (int b = 0; b < 256; ++b) byte_id_[b] = IdOfBytes(std::string(1, static_cast<char>(b)));
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    auto it = by_text.find(model["unk_token"].get<std::string>());
    if (it == by_text.end()) return InvalidArgument("unk_token is not in the vocabulary");
    unk_id_ = it->second;
  }
  const json& merges = model.at("merges");
  if (!merges.is_array()) return InvalidArgument("model.merges is not an array");
  std::string left, right;
  std::unordered_map<uint64_t, MergeInfo> pairs;
  pairs.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    DSV4_RETURN_IF_ERROR(SplitMerge(merges[rank], &left, &right));
    auto a = by_text.find(left), b = by_text.find(right), ab = by_text.find(left + right);
    if (a == by_text.end() || b == by_text.end() || ab == by_text.end()) {
      return InvalidArgument("merge " + std::to_string(rank) + " ('" + left + "' '" + right +
                             "') uses a token missing from the vocabulary");
    }
    // A pair listed twice keeps its last rank, as HF's HashMap collect does.
    pairs.insert_or_assign(PairKey(a->second, b->second),
                           MergeInfo{static_cast<int32_t>(rank), ab->second});
  }
  BuildMergeTable({pairs.begin(), pairs.end()});
  merges_to_self_.assign(text->size(), false);
  for (const auto& [raw, id] : by_bytes) {
    const std::vector<int32_t> merged = Merge(raw);
    merges_to_self_[id] = merged.size() == 1 && merged[0] == id;
  }
  return Status::Ok();
}

int32_t BpeModel::IdOfBytes(std::string_view bytes) const { return vocab_.Find(bytes); }

void BpeModel::BuildMergeTable(const std::vector<std::pair<uint64_t, MergeInfo>>& merges) {
  size_t cap = 16;
  while (cap < 2 * merges.size()) cap *= 2;
  merges_.assign(cap, MergeSlot{});
  for (const auto& [key, info] : merges) {
    size_t i = MixKey(key) & (cap - 1);
    while (merges_[i].key != kEmptyKey) i = (i + 1) & (cap - 1);
    merges_[i] = {key, info};
  }
}

const BpeModel::MergeInfo* BpeModel::FindMerge(int32_t a, int32_t b) const {
  const uint64_t key = PairKey(a, b);
  const size_t mask = merges_.size() - 1;
  for (size_t i = MixKey(key) & mask;; i = (i + 1) & mask) {
    const MergeSlot& s = merges_[i];
    if (s.key == key) return &s.info;
    if (s.key == kEmptyKey) return nullptr;
  }
}

std::vector<int32_t> BpeModel::InitialSymbols(std::string_view piece) const {
  std::vector<int32_t> sym;
  sym.reserve(piece.size());
  bool last_unk = false;
  for (unsigned char c : piece) {
    const int32_t id = byte_id_[c];
    if (id >= 0) {
      sym.push_back(id);
      last_unk = false;
    } else if (unk_id_ >= 0 && !(fuse_unk_ && last_unk)) {
      sym.push_back(unk_id_);  // as HF: unknown characters become unk (fused when asked)
      last_unk = true;
    }  // no unk token: HF drops the character
  }
  return sym;
}

std::vector<int32_t> BpeModel::MergeReference(std::string_view piece) const {
  std::vector<int32_t> sym = InitialSymbols(piece);
  while (sym.size() > 1) {
    const MergeInfo* best = nullptr;
    size_t best_pos = 0;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      const MergeInfo* m = FindMerge(sym[i], sym[i + 1]);
      if (m != nullptr && (best == nullptr || m->rank < best->rank)) best = m, best_pos = i;
    }
    if (best == nullptr) break;
    sym[best_pos] = best->new_id;
    sym.erase(sym.begin() + best_pos + 1);
  }
  return sym;
}

std::vector<int32_t> BpeModel::Merge(std::string_view piece) const {
  struct Candidate {
    int32_t rank, pos, new_id;
  };
  // Per-thread buffers: a miss of the piece cache should not cost five allocations.
  thread_local std::vector<int32_t> id, prev, next;
  thread_local std::vector<Candidate> heap;
  id = InitialSymbols(piece);
  const int32_t n = static_cast<int32_t>(id.size());
  if (n < 2) return id;
  // Symbols form a doubly linked list over their original positions; a merged symbol keeps the
  // left position, the right one is unlinked (id -1).
  prev.resize(n);
  next.resize(n);
  for (int32_t i = 0; i < n; ++i) prev[i] = i - 1, next[i] = i + 1 < n ? i + 1 : -1;
  // Min-heap on (rank, pos): the lowest rank first, the leftmost on ties (HF's order).
  auto later = [](const Candidate& x, const Candidate& y) {
    return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos;
  };
  heap.clear();
  auto push = [&](int32_t pos) {
    if (pos < 0 || next[pos] < 0) return;
    if (const MergeInfo* m = FindMerge(id[pos], id[next[pos]])) {
      heap.push_back({m->rank, pos, m->new_id});
      std::push_heap(heap.begin(), heap.end(), later);
    }
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Candidate c = heap.back();
    heap.pop_back();
    // Stale entries: the symbol was absorbed, or its pair changed since the entry was pushed.
    if (id[c.pos] < 0 || next[c.pos] < 0) continue;
    const MergeInfo* m = FindMerge(id[c.pos], id[next[c.pos]]);
    if (m == nullptr || m->rank != c.rank || m->new_id != c.new_id) continue;
    const int32_t right = next[c.pos];
    id[c.pos] = c.new_id;
    id[right] = -1;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  std::vector<int32_t> out;
  for (int32_t i = 0; i >= 0; i = next[i]) out.push_back(id[i]);
  return out;
}

void BpeModel::Tokenize(std::string_view piece, std::vector<int32_t>* out) const {
  if (piece.empty()) return;
  if (const int32_t whole = IdOfBytes(piece);
      whole >= 0 && (ignore_merges_ || merges_to_self_[whole])) {
    out->push_back(whole);
    return;
  }
  const bool cacheable = piece.size() <= kCacheMaxPiece;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (auto it = cache_.find(piece); it != cache_.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids = Merge(piece);
  out->insert(out->end(), ids.begin(), ids.end());
  if (!cacheable) return;
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (cache_.size() >= kCacheEntries) cache_.clear();
  cache_.emplace(std::string(piece), std::move(ids));
}

}  // namespace dsv4
