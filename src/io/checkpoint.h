// A checkpoint directory: config.json plus either model.safetensors or sharded files listed in
// model.safetensors.index.json ({"weight_map": {tensor: file}}). All shards are mapped; every tensor
// is findable by its official name.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "io/safetensors.h"

namespace dsv4 {

class Checkpoint {
 public:
  // Opens every shard. Errors: missing directory / index / shard, a tensor listed in the index
  // but absent from its shard (or present in another), duplicate tensor names across shards.
  // Prints progress per shard to stderr when `progress` is set (real checkpoints have 46+ shards).
  static Result<std::unique_ptr<Checkpoint>> Open(const std::string& dir, bool progress = false);

  const std::string& dir() const { return dir_; }
  // nullptr when absent.
  const TensorView* Find(const std::string& name) const;
  const std::map<std::string, const TensorView*>& tensors() const { return index_; }
  size_t total_bytes() const;

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> index_;
};

}  // namespace dsv4
