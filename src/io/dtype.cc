#include "io/dtype.h"

#include <array>

namespace dsv4 {
namespace {

struct DTypeTraits {
  DType dtype;
  std::string_view name;  // safetensors spelling
  size_t size;            // bytes per element
};

// One row per DType, in enum order (checked by the static_assert below).
constexpr std::array<DTypeTraits, 12> kTraits = {{
    {DType::kBF16, "BF16", 2},
    {DType::kF16, "F16", 2},
    {DType::kF32, "F32", 4},
    {DType::kF64, "F64", 8},
    {DType::kF8E4M3, "F8_E4M3", 1},
    {DType::kF8E8M0, "F8_E8M0", 1},
    {DType::kI8, "I8", 1},
    {DType::kU8, "U8", 1},
    {DType::kI16, "I16", 2},
    {DType::kI32, "I32", 4},
    {DType::kI64, "I64", 8},
    {DType::kBool, "BOOL", 1},
}};

constexpr bool TraitsInEnumOrder() {
  for (size_t i = 0; i < kTraits.size(); ++i) {
    if (static_cast<size_t>(kTraits[i].dtype) != i) return false;
  }
  return true;
}
static_assert(TraitsInEnumOrder(), "kTraits must list DTypes in enum order");

}  // namespace

size_t DTypeSize(DType dtype) { return kTraits[static_cast<size_t>(dtype)].size; }

std::string_view DTypeName(DType dtype) { return kTraits[static_cast<size_t>(dtype)].name; }

bool ParseDType(std::string_view name, DType* out) {
  for (const DTypeTraits& t : kTraits) {
    if (t.name == name) {
      *out = t.dtype;
      return true;
    }
  }
  return false;
}

}  // namespace dsv4
