#include "stage_file.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/numeric.h"

namespace dsv4 {

bool StageFile::Load(const std::string& dir, std::string* error) {
  std::ifstream mf(dir + "/manifest.json");
  std::ifstream bf(dir + "/stages.bin", std::ios::binary | std::ios::ate);
  if (!mf || !bf) {
    *error = dir + ": manifest.json or stages.bin missing";
    return false;
  }
  std::vector<char> bin(static_cast<size_t>(bf.tellg()));
  bf.seekg(0);
  bf.read(bin.data(), static_cast<std::streamsize>(bin.size()));
  try {
    manifest_ = nlohmann::json::parse(mf);
    for (const auto& t : manifest_.at("tensors")) {
      StageTensor st;
      st.dtype = t.at("dtype").get<std::string>();
      st.shape = t.at("shape").get<std::vector<int64_t>>();
      const size_t offset = t.at("offset").get<size_t>(), nbytes = t.at("nbytes").get<size_t>();
      if (offset + nbytes > bin.size()) {
        *error = "tensor " + t.at("name").get<std::string>() + " lies outside stages.bin";
        return false;
      }
      const char* p = bin.data() + offset;
      const size_t elem = st.dtype == "bf16" ? 2 : 4;
      st.values.resize(nbytes / elem);
      for (size_t i = 0; i < st.values.size(); ++i) {
        if (st.dtype == "bf16") {
          uint16_t h;
          std::memcpy(&h, p + 2 * i, 2);
          st.values[i] = Bf16ToFloat(h);
        } else if (st.dtype == "f32") {
          std::memcpy(&st.values[i], p + 4 * i, 4);
        } else {
          int32_t v;
          std::memcpy(&v, p + 4 * i, 4);
          st.values[i] = static_cast<float>(v);
        }
      }
      tensors_[{t.at("phase").get<std::string>(), t.at("name").get<std::string>()}] = std::move(st);
    }
  } catch (const std::exception& e) {
    *error = dir + "/manifest.json: " + e.what();
    return false;
  }
  return true;
}

const StageTensor* StageFile::Get(const std::string& phase, const std::string& name) const {
  auto it = tensors_.find({phase, name});
  return it == tensors_.end() ? nullptr : &it->second;
}

void StageWriter::Record(const std::string& name, const float* data,
                         const std::vector<int64_t>& shape, TraceDType dtype) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  entries_.push_back(Entry{name, phase_, dtype, shape, std::vector<float>(data, data + n)});
}

bool StageWriter::Write(const std::string& dir, const nlohmann::json& header,
                        std::string* error) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::ofstream bin(dir + "/stages.bin", std::ios::binary);
  if (!bin) {
    *error = "cannot write " + dir + "/stages.bin";
    return false;
  }
  nlohmann::json manifest = header;
  manifest["tensors"] = nlohmann::json::array();
  size_t offset = 0;
  for (const Entry& e : entries_) {
    std::vector<char> bytes;
    for (float v : e.values) {
      char b[4];
      size_t len = 4;
      if (e.dtype == TraceDType::kBf16) {
        const uint16_t h = FloatToBf16(v);
        std::memcpy(b, &h, 2);
        len = 2;
      } else if (e.dtype == TraceDType::kF32) {
        std::memcpy(b, &v, 4);
      } else {
        const int32_t i = static_cast<int32_t>(v);
        std::memcpy(b, &i, 4);
      }
      bytes.insert(bytes.end(), b, b + len);
    }
    bin.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    const char* dt = e.dtype == TraceDType::kBf16 ? "bf16" : e.dtype == TraceDType::kF32 ? "f32" : "i32";
    manifest["tensors"].push_back({{"name", e.name}, {"phase", e.phase}, {"dtype", dt},
                                   {"shape", e.shape}, {"offset", offset}, {"nbytes", bytes.size()}});
    offset += bytes.size();
  }
  std::ofstream(dir + "/manifest.json") << manifest.dump(1);
  return static_cast<bool>(bin);
}

}  // namespace dsv4
