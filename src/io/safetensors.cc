#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace dsv4 {
namespace {

using Json = nlohmann::json;

constexpr size_t kHeaderLengthBytes = 8;  // little-endian u64 in front of the JSON header
constexpr char kMetadataKey[] = "__metadata__";

std::string Quote(const std::string& s) { return "'" + s + "'"; }

const char* JsonTypeName(const Json& j) { return j.type_name(); }

// A JSON value for an error message, cut short so a hostile header cannot flood the log.
std::string Brief(const Json& j) {
  constexpr size_t kMaxChars = 80;
  std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > kMaxChars) s = s.substr(0, kMaxChars) + "...";
  return s;
}

uint64_t ReadLittleEndian64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A JSON integer >= 0 that fits in uint64 (floats, negatives, strings are rejected).
bool AsNonNegativeInt(const Json& j, uint64_t* out) {
  if (j.is_number_unsigned()) {
    *out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(j.get<int64_t>());
    return true;
  }
  return false;
}

// Parses the JSON text, rejecting duplicate top-level keys (nlohmann would silently keep the last).
Status ParseJsonObject(const char* begin, const char* end, const std::string& path, Json* out) {
  std::set<std::string> seen;
  std::string duplicate;
  auto on_event = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::key && depth == 1 && parsed.is_string()) {
      if (!seen.insert(parsed.get<std::string>()).second && duplicate.empty()) {
        duplicate = parsed.get<std::string>();
      }
    }
    return true;
  };
  *out = Json::parse(begin, end, on_event, /*allow_exceptions=*/false);
  if (out->is_discarded()) {
    return DataLoss(path +
                    ": the safetensors header is not valid JSON — file corrupt or not a "
                    "safetensors file");
  }
  if (!out->is_object()) {
    return DataLoss(path + ": the safetensors header is a JSON " + JsonTypeName(*out) +
                    ", expected an object {tensor name: {dtype, shape, data_offsets}}");
  }
  if (!duplicate.empty()) {
    return DataLoss(path + ": tensor " + Quote(duplicate) + " appears twice in the header");
  }
  return Status::Ok();
}

Status ParseMetadata(const Json& j, const std::string& path,
                     std::map<std::string, std::string>* metadata) {
  if (!j.is_object()) {
    return DataLoss(path + ": '__metadata__' is a JSON " + JsonTypeName(j) +
                    ", expected an object of strings");
  }
  for (const auto& [key, value] : j.items()) {
    if (!value.is_string()) {
      return DataLoss(path + ": '__metadata__' entry " + Quote(key) + " is a JSON " +
                      JsonTypeName(value) + ", expected a string");
    }
    if (metadata != nullptr) (*metadata)[key] = value.get<std::string>();
  }
  return Status::Ok();
}

// Validates one header entry and fills `view` (except `data`). Offsets are relative to the data
// section, which is `data_size` bytes long.
Status ParseEntry(const std::string& name, const Json& j, const std::string& path,
                  uint64_t data_size, TensorView* view, uint64_t* begin) {
  const std::string where = path + ": tensor " + Quote(name) + ": ";
  if (!j.is_object()) {
    return DataLoss(where + "header entry is a JSON " + JsonTypeName(j) +
                    ", expected {dtype, shape, data_offsets}");
  }
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!j.contains(field)) return DataLoss(where + "header entry has no '" + field + "'");
  }
  const Json& dtype = j["dtype"];
  if (!dtype.is_string()) {
    return DataLoss(where + "'dtype' is a JSON " + JsonTypeName(dtype) + ", expected a string");
  }
  if (!ParseDType(dtype.get<std::string>(), &view->dtype)) {
    return DataLoss(where + "unknown dtype '" + dtype.get<std::string>() +
                    "' (known: BF16 F16 F32 F64 F8_E4M3 F8_E8M0 I8 U8 I16 I32 I64 BOOL)");
  }
  const Json& shape = j["shape"];
  if (!shape.is_array()) {
    return DataLoss(where + "'shape' is a JSON " + JsonTypeName(shape) + ", expected an array");
  }
  uint64_t numel = 1;
  bool overflow = false;
  view->shape.clear();
  for (const Json& d : shape) {
    uint64_t dim = 0;
    if (!AsNonNegativeInt(d, &dim) || dim > static_cast<uint64_t>(INT64_MAX)) {
      return DataLoss(where + "shape " + Brief(shape) +
                      " has an entry that is not a non-negative integer");
    }
    view->shape.push_back(static_cast<int64_t>(dim));
    overflow = overflow || __builtin_mul_overflow(numel, dim, &numel);
  }
  uint64_t nbytes = 0;
  if (overflow || __builtin_mul_overflow(numel, DTypeSize(view->dtype), &nbytes)) {
    return DataLoss(where + "shape " + Brief(shape) + " overflows 64 bits");
  }
  const Json& offsets = j["data_offsets"];
  uint64_t end = 0;
  if (!offsets.is_array() || offsets.size() != 2 || !AsNonNegativeInt(offsets[0], begin) ||
      !AsNonNegativeInt(offsets[1], &end)) {
    return DataLoss(where + "'data_offsets' is " + Brief(offsets) +
                    ", expected [begin, end] with non-negative integers");
  }
  const std::string range =
      "data_offsets [" + std::to_string(*begin) + ", " + std::to_string(end) + "]";
  if (end < *begin) return DataLoss(where + range + " end before begin");
  if (end > data_size) {
    return DataLoss(where + range + " exceed the data section (" + std::to_string(data_size) +
                    " bytes) — file truncated?");
  }
  if (end - *begin != nbytes) {
    return DataLoss(where + range + " hold " + std::to_string(end - *begin) + " bytes, but " +
                    std::string(DTypeName(view->dtype)) + " " + view->ShapeString() + " needs " +
                    std::to_string(nbytes));
  }
  view->name = name;
  view->nbytes = nbytes;
  view->file = path;
  return Status::Ok();
}

// The whole header check; `metadata` may be null.
Status ParseHeaderImpl(const uint8_t* bytes, size_t size, const std::string& path,
                       std::map<std::string, TensorView>* tensors,
                       std::map<std::string, std::string>* metadata) {
  if (size < kHeaderLengthBytes) {
    return DataLoss(path + ": file is " + std::to_string(size) +
                    " bytes, shorter than the 8-byte header length — truncated or not a "
                    "safetensors file");
  }
  const uint64_t header_len = ReadLittleEndian64(bytes);
  if (header_len > kMaxSafetensorsHeaderBytes) {
    return DataLoss(path + ": header length " + std::to_string(header_len) +
                    " is beyond the 100 MB limit — corrupt or not a safetensors file");
  }
  if (header_len > size - kHeaderLengthBytes) {
    return DataLoss(path + ": header length " + std::to_string(header_len) +
                    " runs past the end of the file (" + std::to_string(size) +
                    " bytes) — file truncated?");
  }
  const char* text = reinterpret_cast<const char*>(bytes + kHeaderLengthBytes);
  Json header;
  DSV4_RETURN_IF_ERROR(ParseJsonObject(text, text + header_len, path, &header));

  const uint64_t data_start = kHeaderLengthBytes + header_len;
  const uint64_t data_size = size - data_start;
  std::vector<std::pair<uint64_t, const TensorView*>> ranges;  // (begin, view)
  std::map<std::string, TensorView> out;
  for (const auto& [name, entry] : header.items()) {
    if (name == kMetadataKey) {
      DSV4_RETURN_IF_ERROR(ParseMetadata(entry, path, metadata));
      continue;
    }
    if (name.empty()) return DataLoss(path + ": a tensor has an empty name");
    TensorView view;
    uint64_t begin = 0;
    DSV4_RETURN_IF_ERROR(ParseEntry(name, entry, path, data_size, &view, &begin));
    view.data = bytes + data_start + begin;
    auto [it, inserted] = out.emplace(name, std::move(view));
    ranges.emplace_back(begin, &it->second);
  }
  // Overlap check: sorted by begin, each range must start at or after the previous end.
  std::sort(ranges.begin(), ranges.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second->nbytes < b.second->nbytes;
  });
  for (size_t i = 1; i < ranges.size(); ++i) {
    const auto& [prev_begin, prev] = ranges[i - 1];
    const auto& [cur_begin, cur] = ranges[i];
    if (cur->nbytes == 0 || prev->nbytes == 0) continue;  // empty tensors overlap nothing
    if (cur_begin < prev_begin + prev->nbytes) {
      return DataLoss(path + ": tensor " + Quote(cur->name) + ": data_offsets [" +
                      std::to_string(cur_begin) + ", " + std::to_string(cur_begin + cur->nbytes) +
                      "] overlap tensor " + Quote(prev->name) + " [" + std::to_string(prev_begin) +
                      ", " + std::to_string(prev_begin + prev->nbytes) + "]");
    }
  }
  *tensors = std::move(out);
  return Status::Ok();
}

std::string ErrnoText() { return std::strerror(errno); }

}  // namespace

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorView::ShapeString() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Result<std::map<std::string, TensorView>> SafetensorsFile::ParseHeader(const uint8_t* bytes,
                                                                       size_t size,
                                                                       const std::string& path) {
  std::map<std::string, TensorView> tensors;
  DSV4_RETURN_IF_ERROR(ParseHeaderImpl(bytes, size, path, &tensors, nullptr));
  return tensors;
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const bool missing = errno == ENOENT;
    const std::string why = ErrnoText();
    if (missing) return NotFound(path + ": cannot open: " + why);
    return InvalidArgument(path + ": cannot open: " + why);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(path + ": not a regular file");
  }
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  const size_t size = static_cast<size_t>(st.st_size);
  if (size >= kHeaderLengthBytes) {
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      const std::string why = ErrnoText();
      ::close(fd);
      return ResourceExhausted(path + ": mmap of " + std::to_string(size) +
                               " bytes failed: " + why);
    }
    file->map_ = map;
    file->map_size_ = size;
  }
  ::close(fd);  // the mapping stays valid
  static const uint8_t kEmpty[1] = {0};
  const uint8_t* bytes = file->map_ ? static_cast<const uint8_t*>(file->map_) : kEmpty;
  DSV4_RETURN_IF_ERROR(ParseHeaderImpl(bytes, size, path, &file->tensors_, &file->metadata_));
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  uint64_t offset = 0;
  std::set<std::string> names;
  for (const TensorToWrite& t : tensors) {
    const std::string where = path + ": tensor " + Quote(t.name) + ": ";
    if (t.name.empty() || t.name == kMetadataKey || !names.insert(t.name).second) {
      return InvalidArgument(where + "empty, reserved or duplicate name");
    }
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) return InvalidArgument(where + "negative dimension");
      numel *= static_cast<uint64_t>(d);
    }
    if (numel * DTypeSize(t.dtype) != t.nbytes) {
      return InvalidArgument(where + std::to_string(t.nbytes) + " bytes given, shape needs " +
                             std::to_string(numel * DTypeSize(t.dtype)));
    }
    header[t.name] = {{"dtype", std::string(DTypeName(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string text = header.dump(-1, ' ', false, Json::error_handler_t::replace);
  text.append((8 - text.size() % 8) % 8, ' ');
  uint8_t len[kHeaderLengthBytes];
  for (size_t i = 0; i < kHeaderLengthBytes; ++i) len[i] = (text.size() >> (8 * i)) & 0xff;

  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return InvalidArgument(path + ": cannot create: " + ErrnoText());
  bool ok = std::fwrite(len, 1, sizeof(len), f) == sizeof(len) &&
            std::fwrite(text.data(), 1, text.size(), f) == text.size();
  for (const TensorToWrite& t : tensors) {
    if (!ok) break;
    ok = t.nbytes == 0 || std::fwrite(t.data, 1, t.nbytes, f) == t.nbytes;
  }
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) return ResourceExhausted(path + ": write failed (disk full?): " + ErrnoText());
  return Status::Ok();
}

}  // namespace dsv4
