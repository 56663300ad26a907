// libFuzzer target: arbitrary bytes as a whole safetensors file image. ParseHeader must return a
// Status for every input — never crash, hang, or read outside [data, data + size) (ASan checks).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A private copy, exactly `size` bytes long, so any read past the end is a heap overflow.
  std::vector<uint8_t> image(data, data + size);
  auto result = dsv4::SafetensorsFile::ParseHeader(image.data(), image.size(), "fuzz.safetensors");
  if (result.ok()) {
    for (const auto& [name, view] : result.value()) {
      // Every accepted view lies inside the image.
      if (view.nbytes > 0 &&
          (view.data < image.data() || view.data + view.nbytes > image.data() + image.size())) {
        __builtin_trap();
      }
    }
  } else if (result.status().message().find("fuzz.safetensors") == std::string::npos) {
    __builtin_trap();  // every error names the file
  }
  return 0;
}
