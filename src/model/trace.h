// Stage tracing: the model reports named intermediate tensors (the stage names of the golden
// manifests, e.g. "L2.attn.q") to an optional sink. Used by `dsv4 golden --dump-stages` and by
// debugging; a null sink costs nothing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dsv4 {

enum class TraceDType { kBf16, kF32, kI32 };

class TraceSink {
 public:
  virtual ~TraceSink() = default;
  // `data` holds numel(shape) values (int32 stored as float for kI32).
  virtual void Record(const std::string& name, const float* data, const std::vector<int64_t>& shape,
                      TraceDType dtype) = 0;
};

// A sink plus the block prefix ("L3", "mtp"); cheap to pass by value.
struct Trace {
  TraceSink* sink = nullptr;
  std::string block;

  bool on() const { return sink != nullptr; }
  void Rec(const char* name, const float* data, std::vector<int64_t> shape,
           TraceDType dtype = TraceDType::kBf16) const {
    if (sink) sink->Record(block.empty() ? name : block + "." + name, data, shape, dtype);
  }
};

}  // namespace dsv4
