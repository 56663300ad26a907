// Per-kernel wall-clock profile: where a forward pass spends its time, by kernel, with the weight
// bytes each kernel streamed (so GB/s per kernel can be set against the machine's read bandwidth).
// Off by default (one relaxed atomic load per kernel call); `dsv4 bench --profile` turns it on.
// Times are measured on the calling thread around the whole parallel call, so they add up to wall
// time, not CPU time.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace dsv4 {

enum class KernelOp {
  kLinearFp8,
  kLinearFp4,
  kLinearFp8AsBf16,
  kLinearBf16,
  kQuantize,
  kSparseAttention,
  kRmsNorm,
  kRope,
  kHadamard,
  kIndexerScore,
  kCount
};

struct KernelProfileRow {
  std::string name;
  int64_t calls = 0;
  double seconds = 0;
  double bytes = 0;  // weight bytes streamed (0 where a kernel reads no weights)
};

namespace kernel_profile {

void Enable(bool on);
bool Enabled();
void Reset();
void Add(KernelOp op, double seconds, double bytes);
// Rows with at least one call, in KernelOp order.
std::vector<KernelProfileRow> Snapshot();

// Times its scope into `op` when profiling is on.
class Scope {
 public:
  Scope(KernelOp op, double bytes) : op_(op), bytes_(bytes), on_(Enabled()) {
    if (on_) t0_ = std::chrono::steady_clock::now();
  }
  ~Scope() {
    if (on_) {
      Add(op_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(),
          bytes_);
    }
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  KernelOp op_;
  double bytes_;
  bool on_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace kernel_profile
}  // namespace dsv4
