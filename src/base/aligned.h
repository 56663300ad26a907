// Vectors whose data starts on a cache line (64 bytes), for the buffers the SIMD kernels read one
// 64-byte vector at a time (decoded weight panels, prepared activations). From malloc a large
// std::vector starts 16 bytes past a page boundary, so every such load spanned two cache lines:
// the prefill GEMM tile ran 8-12% slower on those than on aligned rows (docs/kernels.md).
#pragma once

#include <cstddef>
#include <new>
#include <utility>
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

// As CacheLineAllocator, but `resize(n)` leaves new elements default-initialized (for float and
// the other scalars: not written at all). For scratch that is written in full before it is read
// (prepared activations): value-initializing it first was a serial memset of every byte, ~12% of
// a 512-token FP8 linear's time with the other threads waiting (docs/kernels.md).
template <class T>
struct ScratchAllocator : CacheLineAllocator<T> {
  ScratchAllocator() = default;
  template <class U>
  ScratchAllocator(const ScratchAllocator<U>&) {}  // NOLINT: rebinding, as std::allocator
  template <class U>
  void construct(U* p) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

template <class T>
using ScratchVector = std::vector<T, ScratchAllocator<T>>;

}  // namespace dsv4
