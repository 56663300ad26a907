#include "io/checkpoint.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace dsv4 {
namespace {

using Json = nlohmann::json;

constexpr char kSingleFile[] = "model.safetensors";
constexpr char kIndexFile[] = "model.safetensors.index.json";

bool IsFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool IsDirectory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

// weight_map of the index: tensor name -> shard file name (a plain name inside the directory).
Status ReadIndex(const std::string& path, std::map<std::string, std::string>* weight_map,
                 Json* metadata) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  const Json j = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return DataLoss(path + ": not a JSON object — corrupt index file");
  }
  if (!j.contains("weight_map") || !j["weight_map"].is_object()) {
    return DataLoss(path + ": no 'weight_map' object {tensor name: shard file}");
  }
  for (const auto& [name, file] : j["weight_map"].items()) {
    if (!file.is_string()) {
      return DataLoss(path + ": weight_map entry for tensor '" + name + "' is a JSON " +
                      file.type_name() + ", expected a shard file name");
    }
    const std::string shard = file.get<std::string>();
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..") {
      return DataLoss(path + ": weight_map entry for tensor '" + name + "' names shard '" + shard +
                      "', expected a file name inside the checkpoint directory");
    }
    (*weight_map)[name] = shard;
  }
  if (j.contains("metadata")) *metadata = j["metadata"];
  return Status::Ok();
}

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000.0 && u < 4) {
    bytes /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %s", bytes, units[u]);
  return buf;
}

}  // namespace

Result<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& dir, bool progress) {
  if (!IsDirectory(dir)) return NotFound(dir + ": no such checkpoint directory");
  std::unique_ptr<Checkpoint> ckpt(new Checkpoint());
  ckpt->dir_ = dir;
  const std::string index_path = JoinPath(dir, kIndexFile);
  const std::string single_path = JoinPath(dir, kSingleFile);

  std::map<std::string, std::string> weight_map;  // empty for a single-file checkpoint
  std::vector<std::string> shards;
  Json index_metadata;
  if (IsFile(index_path)) {
    DSV4_RETURN_IF_ERROR(ReadIndex(index_path, &weight_map, &index_metadata));
    std::set<std::string> distinct;
    for (const auto& [name, shard] : weight_map) distinct.insert(shard);
    shards.assign(distinct.begin(), distinct.end());
    for (const std::string& shard : shards) {
      if (!IsFile(JoinPath(dir, shard))) {
        const auto first = std::find_if(weight_map.begin(), weight_map.end(),
                                        [&](const auto& kv) { return kv.second == shard; });
        return NotFound(JoinPath(dir, shard) + ": shard listed in " + kIndexFile +
                        " (e.g. for tensor '" + first->first +
                        "') is missing — incomplete download?");
      }
    }
  } else if (IsFile(single_path)) {
    shards.push_back(kSingleFile);
  } else {
    return NotFound(dir + ": neither " + kSingleFile + " nor " + kIndexFile +
                    " found — not a checkpoint directory (config.json alone has no weights)");
  }

  size_t mapped_bytes = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string path = JoinPath(dir, shards[i]);
    DSV4_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(path));
    for (const auto& [name, view] : file->tensors()) {
      if (!weight_map.empty()) {
        const auto it = weight_map.find(name);
        if (it == weight_map.end()) {
          return DataLoss(path + ": holds tensor '" + name + "' that " + kIndexFile +
                          " does not list — index and shards disagree");
        }
        if (it->second != shards[i]) {
          return DataLoss(path + ": holds tensor '" + name + "' that " + kIndexFile +
                          " places in '" + it->second + "' — index and shards disagree");
        }
      }
      if (!ckpt->index_.emplace(name, &view).second) {
        return DataLoss(path + ": tensor '" + name + "' also appears in " +
                        ckpt->index_[name]->file + " — duplicate tensor across shards");
      }
    }
    mapped_bytes += file->file_size();
    if (progress) {
      std::fprintf(stderr, "dsv4: mapped shard %zu/%zu %s (%zu tensors, %s; %s so far)\n", i + 1,
                   shards.size(), shards[i].c_str(), file->tensors().size(),
                   HumanBytes(static_cast<double>(file->file_size())).c_str(),
                   HumanBytes(static_cast<double>(mapped_bytes)).c_str());
    }
    ckpt->files_.push_back(std::move(file));
  }
  for (const auto& [name, shard] : weight_map) {
    if (ckpt->index_.count(name) == 0) {
      return DataLoss(JoinPath(dir, shard) + ": has no tensor '" + name + "', which " + kIndexFile +
                      " places there — index and shards disagree");
    }
  }
  if (index_metadata.is_object() && index_metadata.contains("total_size") &&
      index_metadata["total_size"].is_number_integer()) {
    const uint64_t expected = index_metadata["total_size"].get<uint64_t>();
    if (expected != ckpt->total_bytes()) {
      return DataLoss(index_path + ": metadata.total_size is " + std::to_string(expected) +
                      " bytes but the shards hold " + std::to_string(ckpt->total_bytes()) +
                      " bytes of tensors — index and shards disagree");
    }
  }
  return ckpt;
}

const TensorView* Checkpoint::Find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

size_t Checkpoint::total_bytes() const {
  size_t total = 0;
  for (const auto& [name, view] : index_) total += view->nbytes;
  return total;
}

}  // namespace dsv4
