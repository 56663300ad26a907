// Vectors whose data starts on a cache line (64 bytes), for the buffers the SIMD kernels read one
// 64-byte vector at a time (decoded weight panels, prepared activations). From malloc a large
// std::vector starts 16 bytes past a page boundary, so every such load spanned two cache lines:
// the prefill GEMM tile ran 8-12% slower on those than on aligned rows (docs/kernels.md).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace dsv4 {

constexpr std::size_t kCacheLine = 64;

template <class T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}  // NOLINT: rebinding, as std::allocator
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{kCacheLine}));
  }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t{kCacheLine}); }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const {
    return true;
  }
};

template <class T>
using AlignedVector = std::vector<T, CacheLineAllocator<T>>;

}  // namespace dsv4
