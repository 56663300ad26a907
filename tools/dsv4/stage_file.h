// Reader/writer of the stage-golden layout: manifest.json + stages.bin (raw little-endian tensors;
// bf16 as uint16 bit patterns, f32, i32). Values are returned as fp32 (i32 converted).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "model/trace.h"

namespace dsv4 {

struct StageTensor {
  std::string dtype;  // "bf16" | "f32" | "i32"
  std::vector<int64_t> shape;
  std::vector<float> values;
  int64_t dim(int i) const { return shape[i]; }
  const float* data() const { return values.data(); }
  const float* row(int64_t r) const { return values.data() + r * (values.size() / shape[0]); }
};

class StageFile {
 public:
  bool Load(const std::string& dir, std::string* error);
  const nlohmann::json& manifest() const { return manifest_; }
  // nullptr when the manifest has no such tensor.
  const StageTensor* Get(const std::string& phase, const std::string& name) const;

 private:
  nlohmann::json manifest_;
  std::map<std::pair<std::string, std::string>, StageTensor> tensors_;
};

// Collects traced tensors per phase and writes them in the same layout.
class StageWriter : public TraceSink {
 public:
  void set_phase(std::string phase) { phase_ = std::move(phase); }
  void Record(const std::string& name, const float* data, const std::vector<int64_t>& shape,
              TraceDType dtype) override;
  bool Write(const std::string& dir, const nlohmann::json& header, std::string* error) const;

 private:
  struct Entry {
    std::string name, phase;
    TraceDType dtype;
    std::vector<int64_t> shape;
    std::vector<float> values;
  };
  std::string phase_ = "prefill";
  std::vector<Entry> entries_;
};

}  // namespace dsv4
