#include "tokenizer/tokenizer.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tokenizer/byte_level.h"

namespace dsv4 {
namespace {

using json = nlohmann::json;

// When there is no tokenizer_config.json: DeepSeek's conventional BOS/EOS contents, looked up
// among the file's own added tokens (the ids still come from the file).
constexpr char kFallbackBos[] = "<｜begin▁of▁sentence｜>";
constexpr char kFallbackEos[] = "<｜end▁of▁sentence｜>";

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// No normalizer, or a Sequence of none: anything else would change the text before splitting.
bool IsIdentityNormalizer(const json& n) {
  if (n.is_null()) return true;
  if (!n.is_object() || n.value("type", "") != "Sequence") return false;
  for (const json& inner : n.at("normalizers")) {
    if (!IsIdentityNormalizer(inner)) return false;
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::Load(const std::string& path_or_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path json_path = path_or_dir;
  if (fs::is_directory(json_path, ec)) json_path /= "tokenizer.json";
  const fs::path config_path = json_path.parent_path() / "tokenizer_config.json";
  DSV4_ASSIGN_OR_RETURN(std::string text, ReadFile(json_path.string()));
  std::string config;
  if (fs::exists(config_path, ec)) {
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
  // nlohmann throws on a wrong type or a missing key: one catch turns that into a Status here.
  try {
    if (!j.is_object()) return InvalidArgument("tokenizer.json is not a JSON object");
    const json& model = j.at("model");
    if (model.value("type", "BPE") != "BPE") {
      return Unimplemented("model type '" + model.value("type", "") + "' (only BPE)");
    }
    if (!IsIdentityNormalizer(j.value("normalizer", json()))) {
      return Unimplemented("normalizer " + j["normalizer"].dump().substr(0, 200));
    }
    const json decoder = j.value("decoder", json());
    if (!decoder.is_object() || decoder.value("type", "") != "ByteLevel") {
      return Unimplemented("decoder " + decoder.dump().substr(0, 200) + " (only ByteLevel)");
    }
    DSV4_RETURN_IF_ERROR(bpe_.Build(model, &text_, &bytes_));
    for (size_t id = 0; id < text_.size(); ++id) {
      std::string raw;
      if (!text_[id].empty() && !ByteLevelToBytes(text_[id], &raw)) {
        literal_vocab_.emplace(text_[id], static_cast<int32_t>(id));
      }
    }
    DSV4_ASSIGN_OR_RETURN(pre_, PreTokenizer::FromJson(j.value("pre_tokenizer", json())));
    DSV4_RETURN_IF_ERROR(BuildAddedTokens(j.value("added_tokens", json::array())));
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("tokenizer.json has an unexpected structure: ") + e.what());
  }
  return ReadConfig(config_text);
}

Status Tokenizer::BuildAddedTokens(const json& added) {
  for (const json& a : added) {
    AddedToken t;
    t.content = a.at("content").get<std::string>();
    DSV4_ASSIGN_OR_RETURN(t.id, ReadTokenId(a.at("id"), "added token '" + t.content + "'"));
    const size_t id = static_cast<size_t>(t.id);
    t.single_word = a.value("single_word", false);
    t.lstrip = a.value("lstrip", false);
    t.rstrip = a.value("rstrip", false);
    t.normalized = a.value("normalized", true);
    t.special = a.value("special", false);
    if (id >= text_.size()) {
      text_.resize(id + 1);
      bytes_.resize(id + 1);
    }
    text_[id] = t.content;
    // HF passes added tokens through the decoder too: ByteLevel maps their characters back to
    // bytes when all are in the alphabet ("<think>"), else keeps the text ("<｜User｜>").
    if (!ByteLevelToBytes(t.content, &bytes_[id])) bytes_[id] = t.content;
    if (t.special) {
      if (special_.size() <= id) special_.resize(id + 1);
      special_[id] = true;
    }
    added_by_text_[t.content] = t.id;
    added_.Add(std::move(t));
  }
  return Status::Ok();
}

Status Tokenizer::ReadConfig(std::string_view config_text) {
  auto id_of = [this](const json& v) -> int32_t {
    const std::string s = v.is_object() ? v.value("content", std::string())
                                        : (v.is_string() ? v.get<std::string>() : std::string());
    const auto id = s.empty() ? std::nullopt : TokenId(s);
    return id.value_or(-1);
  };
  if (!config_text.empty()) {
    try {
      const json c = json::parse(config_text);
      if (c.contains("bos_token")) bos_id_ = id_of(c["bos_token"]);
      if (c.contains("eos_token")) eos_id_ = id_of(c["eos_token"]);
    } catch (const std::exception& e) {
      return DataLoss(std::string("tokenizer_config.json is not valid: ") + e.what());
    }
    return Status::Ok();
  }
  if (auto it = added_by_text_.find(kFallbackBos); it != added_by_text_.end()) bos_id_ = it->second;
  if (auto it = added_by_text_.find(kFallbackEos); it != added_by_text_.end()) eos_id_ = it->second;
  return Status::Ok();
}

Status Tokenizer::EncodeOrdinary(std::string_view text, std::vector<int32_t>* out) const {
  return pre_->Split(text, [this, out](std::string_view piece) { bpe_.Tokenize(piece, out); });
}

Result<std::vector<int32_t>> Tokenizer::Encode(std::string_view text, bool parse_special) const {
  if (const size_t bad = FindInvalidUtf8(text); bad != std::string_view::npos) {
    return InvalidArgument("text is not valid UTF-8 (byte offset " + std::to_string(bad) + ")");
  }
  std::vector<int32_t> out;
  out.reserve(text.size() / 4);
  std::vector<AddedVocabulary::Segment> segments;
  added_.Split(text, parse_special, &segments);
  for (const auto& s : segments) {
    if (s.id >= 0) {
      out.push_back(s.id);
    } else if (s.end > s.begin) {
      DSV4_RETURN_IF_ERROR(EncodeOrdinary(text.substr(s.begin, s.end - s.begin), &out));
    }
  }
  return out;
}

const std::string& Tokenizer::TokenBytes(int32_t id) const {
  static const std::string kEmpty;
  return id >= 0 && static_cast<size_t>(id) < bytes_.size() ? bytes_[id] : kEmpty;
}

std::string Tokenizer::TokenText(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < text_.size() ? text_[id] : std::string();
}

bool Tokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < special_.size() && special_[id];
}

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string raw;
  for (int32_t id : ids) {
    if (!skip_special_tokens || !IsSpecial(id)) raw += TokenBytes(id);
  }
  return Utf8Lossy(raw);
}

std::optional<int32_t> Tokenizer::TokenId(std::string_view token) const {
  const std::string key(token);
  if (auto it = added_by_text_.find(key); it != added_by_text_.end()) return it->second;
  std::string raw;
  if (ByteLevelToBytes(token, &raw)) {
    if (const int32_t id = bpe_.IdOfBytes(raw); id >= 0) return id;
  }
  if (auto it = literal_vocab_.find(key); it != literal_vocab_.end()) return it->second;
  return std::nullopt;
}

std::string StreamDecoder::Feed(int32_t id) {
  if (skip_special_ && tok_.IsSpecial(id)) return {};
  pending_ += tok_.TokenBytes(id);
  const size_t n = CompleteUtf8Prefix(pending_);
  std::string out = Utf8Lossy(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string StreamDecoder::Flush() {
  std::string out = Utf8Lossy(pending_);
  pending_.clear();
  return out;
}

}  // namespace dsv4
