// Memory-mapped safetensors files: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the data.
// Tensors are views into the mapping: nothing is copied or converted at load.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/dtype.h"

namespace dsv4 {

// A read-only view of one tensor inside a mapped file.
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  // Into the mapping; valid while the owning file lives. NOT aligned to the element size (real
  // checkpoints pack tensors back to back), so read multi-byte elements with memcpy.
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  std::string file;  // path of the file that holds it (for error messages)

  int64_t numel() const;
  std::string ShapeString() const;  // "[2048, 256]"
};

// Owns one mmap'ed .safetensors file.
class SafetensorsFile {
 public:
  // Maps `path` and validates the whole header: length within the file, well-formed JSON,
  // known dtypes, offsets in range, sizes = numel * dtype size, no overlapping ranges.
  // Every failure names the file (and tensor) and what was expected.
  static Result<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);

  // Parses a header from memory (the whole file image); used by Open and the fuzz target.
  // `size` (the file size) bounds the data offsets; views point into `bytes`.
  static Result<std::map<std::string, TensorView>> ParseHeader(const uint8_t* bytes, size_t size,
                                                               const std::string& path);

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  size_t file_size() const { return map_size_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Largest JSON header accepted (the official reader's limit): anything bigger is corruption.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// Writes a safetensors file (used by make-model and by tests that build malformed/valid files).
// Tensors are laid out back to back in the given order; the JSON header keeps that order and is
// padded with spaces to a multiple of 8 bytes, as the official writer does.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;
};
Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                        const std::map<std::string, std::string>& metadata = {});

}  // namespace dsv4
