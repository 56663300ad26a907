#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace dsv4 {
namespace {

using json = nlohmann::json;

constexpr size_t kCacheLimit = 1 << 16;  // cached pieces before the cache is cleared

// GPT-2 byte-level alphabet: printable bytes map to themselves, the rest to U+0100 upwards.
std::vector<int> ByteToCodepoint() {
  std::vector<int> map(256, -1);
  for (int b = 0; b < 256; ++b) {
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) map[b] = b;
  }
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    if (map[b] < 0) map[b] = next++;
  }
  return map;
}

// Decodes one UTF-8 code point at s[i]; returns its length, 0 when invalid.
size_t DecodeUtf8(std::string_view s, size_t i, uint32_t* cp) {
  const unsigned char c = s[i];
  size_t len;
  uint32_t v, min;
  if (c < 0x80) {
    *cp = c;
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    len = 2, v = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, v = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const unsigned char cc = s[i + k];
    if ((cc & 0xC0) != 0x80) return 0;
    v = (v << 6) | (cc & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

// A byte-level vocabulary string back to the raw bytes it stands for.
bool ByteLevelToBytes(std::string_view s, const std::vector<int>& cp_to_byte, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    const size_t n = DecodeUtf8(s, i, &cp);
    if (n == 0 || cp >= cp_to_byte.size() || cp_to_byte[cp] < 0) return false;
    out->push_back(static_cast<char>(cp_to_byte[cp]));
    i += n;
  }
  return true;
}

uint64_t PairKey(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

size_t FindInvalidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    const size_t n = DecodeUtf8(s, i, &cp);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

size_t CompleteUtf8Prefix(std::string_view s) {
  // Walk back over at most 3 continuation bytes to the last lead byte; keep it only if complete.
  size_t i = s.size();
  size_t back = 0;
  while (i > 0 && back < 4 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) --i, ++back;
  if (i == 0) return back == 0 ? 0 : s.size();  // only continuation bytes: nothing to wait for
  const unsigned char lead = s[i - 1];
  size_t need = 1;
  if ((lead & 0xE0) == 0xC0) need = 2;
  else if ((lead & 0xF0) == 0xE0) need = 3;
  else if ((lead & 0xF8) == 0xF0) need = 4;
  if (need == 1) return s.size();
  return back + 1 >= need ? s.size() : i - 1;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& path_or_dir) {
  namespace fs = std::filesystem;
  fs::path json_path = path_or_dir, config_path;
  if (fs::is_directory(json_path)) {
    config_path = json_path / "tokenizer_config.json";
    json_path /= "tokenizer.json";
  } else {
    config_path = json_path.parent_path() / "tokenizer_config.json";
  }
  DSV4_ASSIGN_OR_RETURN(std::string text, ReadFile(json_path.string()));
  std::string config;
  if (fs::exists(config_path)) {
    DSV4_ASSIGN_OR_RETURN(config, ReadFile(config_path.string()));
  }
  auto t = FromJson(text, config);
  if (!t.ok()) return t.status().Annotate(json_path.string());
  return t;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(std::string_view json_text,
                                                       std::string_view config_text) {
  std::unique_ptr<Tokenizer> t(new Tokenizer);
  DSV4_RETURN_IF_ERROR(t->Build(json_text, config_text));
  return t;
}

Status Tokenizer::Build(std::string_view json_text, std::string_view config_text) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const std::exception& e) {
    return DataLoss(std::string("tokenizer.json is not valid JSON: ") + e.what());
  }
  try {
    const json& model = j.at("model");
    if (model.value("type", "") != "BPE") return Unimplemented("only BPE tokenizer models are supported");
    const std::vector<int> b2c = ByteToCodepoint();
    std::vector<int> c2b(512, -1);
    for (int b = 0; b < 256; ++b) c2b[b2c[b]] = b;
    std::string raw;
    for (const auto& [piece, id_json] : model.at("vocab").items()) {
      const int64_t id = id_json.get<int64_t>();
      if (id < 0 || id > (1 << 24)) return InvalidArgument("vocab id " + std::to_string(id) + " out of range");
      if (static_cast<size_t>(id) >= bytes_.size()) bytes_.resize(id + 1);
      if (!ByteLevelToBytes(piece, c2b, &raw)) raw = piece;  // not byte-level: literal text
      bytes_[id] = raw;
      by_bytes_[raw] = static_cast<int32_t>(id);
    }
    for (int b = 0; b < 256; ++b) {
      auto it = by_bytes_.find(std::string(1, static_cast<char>(b)));
      if (it == by_bytes_.end()) return InvalidArgument("byte-level vocabulary lacks byte " + std::to_string(b));
      byte_token_[b] = it->second;
    }
    int32_t rank = 0;
    std::string l, r;
    for (const json& m : model.at("merges")) {
      std::string left, right;
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos) return InvalidArgument("merge '" + s + "' has no space");
        left = s.substr(0, sp), right = s.substr(sp + 1);
      } else {
        left = m.at(0).get<std::string>(), right = m.at(1).get<std::string>();
      }
      if (!ByteLevelToBytes(left, c2b, &l) || !ByteLevelToBytes(right, c2b, &r)) {
        return InvalidArgument("merge '" + left + " " + right + "' is not byte-level");
      }
      auto a = by_bytes_.find(l), b = by_bytes_.find(r), ab = by_bytes_.find(l + r);
      if (a == by_bytes_.end() || b == by_bytes_.end() || ab == by_bytes_.end()) {
        return InvalidArgument("merge '" + left + " " + right + "' uses tokens missing from the vocab");
      }
      merges_.emplace(PairKey(a->second, b->second), std::make_pair(rank++, ab->second));
    }
    for (const json& a : j.value("added_tokens", json::array())) {
      const int64_t id = a.at("id").get<int64_t>();
      const std::string content = a.at("content").get<std::string>();
      if (id < 0 || id > (1 << 24) || content.empty()) return InvalidArgument("bad added token '" + content + "'");
      if (static_cast<size_t>(id) >= bytes_.size()) bytes_.resize(id + 1);
      bytes_[id] = content;
      added_.push_back({content, static_cast<int32_t>(id)});
      added_by_text_[content] = static_cast<int32_t>(id);
      added_max_len_ = std::max(added_max_len_, content.size());
      added_first_byte_[static_cast<unsigned char>(content[0])] = true;
    }
    std::sort(added_.begin(), added_.end(), [](const Added& x, const Added& y) { return x.content < y.content; });
    // Pre-tokenizer: a Sequence (or a single step) of Split / ByteLevel.
    const json& pre = j.at("pre_tokenizer");
    std::vector<json> steps;
    if (pre.is_null()) {
    } else if (pre.value("type", "") == "Sequence") {
      for (const json& s : pre.at("pretokenizers")) steps.push_back(s);
    } else {
      steps.push_back(pre);
    }
    for (const json& s : steps) {
      const std::string type = s.value("type", "");
      if (type == "ByteLevel") {
        if (s.value("use_regex", true) || s.value("add_prefix_space", false)) {
          return Unimplemented("ByteLevel pre-tokenizer with use_regex/add_prefix_space");
        }
      } else if (type == "Split") {
        if (s.value("behavior", "") != "Isolated" || s.value("invert", false)) {
          return Unimplemented("Split pre-tokenizer behaviour other than Isolated");
        }
        const json& p = s.at("pattern");
        std::string pattern = p.contains("Regex") ? p.at("Regex").get<std::string>() : "";
        if (pattern.empty()) return Unimplemented("Split with a String pattern");
        DSV4_ASSIGN_OR_RETURN(auto re, SplitRegex::Compile(pattern));
        splits_.push_back(std::move(re));
      } else {
        return Unimplemented("pre-tokenizer type '" + type + "'");
      }
    }
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("tokenizer.json has an unexpected structure: ") + e.what());
  }
  // BOS/EOS from tokenizer_config.json when present, else the conventional added tokens.
  auto id_of = [this](const json& v) -> int32_t {
    std::string s = v.is_object() ? v.value("content", "") : (v.is_string() ? v.get<std::string>() : "");
    auto it = added_by_text_.find(s);
    return it == added_by_text_.end() ? -1 : it->second;
  };
  if (!config_text.empty()) {
    try {
      const json c = json::parse(config_text);
      if (c.contains("bos_token")) bos_id_ = id_of(c["bos_token"]);
      if (c.contains("eos_token")) eos_id_ = id_of(c["eos_token"]);
    } catch (const std::exception& e) {
      return DataLoss(std::string("tokenizer_config.json is not valid JSON: ") + e.what());
    }
  }
  if (bos_id_ < 0) bos_id_ = id_of(json("<｜begin▁of▁sentence｜>"));
  if (eos_id_ < 0) eos_id_ = id_of(json("<｜end▁of▁sentence｜>"));
  return Status::Ok();
}

void Tokenizer::EncodePiece(std::string_view piece_view, std::vector<int32_t>* out) const {
  const std::string piece(piece_view);
  if (auto it = by_bytes_.find(piece); it != by_bytes_.end()) {
    out->push_back(it->second);  // whole piece is a token: no merges needed
    return;
  }
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (auto it = cache_.find(piece); it != cache_.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> sym(piece.size());
  for (size_t i = 0; i < piece.size(); ++i) sym[i] = byte_token_[static_cast<unsigned char>(piece[i])];
  // Merge the lowest-ranked adjacent pair (leftmost on ties) until none is mergeable.
  while (sym.size() > 1) {
    int32_t best_rank = INT32_MAX, best_id = -1;
    size_t best = 0;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      auto it = merges_.find(PairKey(sym[i], sym[i + 1]));
      if (it != merges_.end() && it->second.first < best_rank) {
        best_rank = it->second.first, best_id = it->second.second, best = i;
      }
    }
    if (best_id < 0) break;
    sym[best] = best_id;
    sym.erase(sym.begin() + best + 1);
  }
  out->insert(out->end(), sym.begin(), sym.end());
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (cache_.size() >= kCacheLimit) cache_.clear();
  cache_.emplace(piece, std::move(sym));
}

void Tokenizer::EncodeOrdinary(std::string_view text, std::vector<int32_t>* out) const {
  std::vector<std::string_view> pieces{text}, next;
  for (const auto& re : splits_) {
    next.clear();
    for (std::string_view p : pieces) re->Split(p, &next);
    pieces.swap(next);
  }
  for (std::string_view p : pieces) EncodePiece(p, out);
}

Result<std::vector<int32_t>> Tokenizer::Encode(std::string_view text, bool parse_special) const {
  if (const size_t bad = FindInvalidUtf8(text); bad != std::string_view::npos) {
    return InvalidArgument("text is not valid UTF-8 (byte offset " + std::to_string(bad) + ")");
  }
  std::vector<int32_t> out;
  size_t start = 0, i = 0;
  while (parse_special && !added_.empty() && i < text.size()) {
    if (!added_first_byte_[static_cast<unsigned char>(text[i])]) {
      ++i;
      continue;
    }
    // Longest added token starting at i (candidates share the first byte; the list is sorted).
    const Added* match = nullptr;
    auto it = std::lower_bound(added_.begin(), added_.end(), text.substr(i, 1),
                               [](const Added& a, std::string_view v) { return a.content < v; });
    for (; it != added_.end() && it->content[0] == text[i]; ++it) {
      if (text.compare(i, it->content.size(), it->content) == 0 &&
          (match == nullptr || it->content.size() > match->content.size())) {
        match = &*it;
      }
    }
    if (match == nullptr) {
      ++i;
      continue;
    }
    if (i > start) EncodeOrdinary(text.substr(start, i - start), &out);
    out.push_back(match->id);
    i += match->content.size();
    start = i;
  }
  if (start < text.size()) EncodeOrdinary(text.substr(start), &out);
  return out;
}

const std::string& Tokenizer::TokenBytes(int32_t id) const {
  static const std::string kEmpty;
  return id >= 0 && static_cast<size_t>(id) < bytes_.size() ? bytes_[id] : kEmpty;
}

std::string Tokenizer::Decode(std::span<const int32_t> ids) const {
  std::string s;
  for (int32_t id : ids) s += TokenBytes(id);
  return s;
}

std::optional<int32_t> Tokenizer::TokenId(std::string_view token) const {
  if (auto it = added_by_text_.find(std::string(token)); it != added_by_text_.end()) return it->second;
  if (auto it = by_bytes_.find(std::string(token)); it != by_bytes_.end()) return it->second;
  return std::nullopt;
}

namespace {
// Bytes that cannot be part of valid UTF-8 (a model can emit any token order) become U+FFFD, so
// the stream is always valid UTF-8.
std::string Sanitize(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    const size_t n = DecodeUtf8(s, i, &cp);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}
}  // namespace

std::string StreamDecoder::Feed(int32_t id) {
  pending_ += tok_.TokenBytes(id);
  const size_t n = CompleteUtf8Prefix(pending_);
  std::string out = Sanitize(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string StreamDecoder::Flush() {
  std::string out = Sanitize(pending_);
  pending_.clear();
  return out;
}

}  // namespace dsv4
