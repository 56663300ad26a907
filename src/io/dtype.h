// Element types that appear in DeepSeek-V4 checkpoints (safetensors dtype strings) and their sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace dsv4 {

enum class DType : uint8_t { kBF16, kF16, kF32, kF64, kF8E4M3, kF8E8M0, kI8, kU8, kI16, kI32, kI64, kBool };

// Bytes per element (packed MXFP4 is stored as I8, two nibbles per byte).
size_t DTypeSize(DType dtype);
// The safetensors spelling: "BF16", "F8_E4M3", "F8_E8M0", "I8", "I64", ...
std::string_view DTypeName(DType dtype);
// Parses a safetensors dtype string; false when unknown.
bool ParseDType(std::string_view name, DType* out);

}  // namespace dsv4
