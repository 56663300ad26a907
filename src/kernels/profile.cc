#include "kernels/profile.h"

#include <array>
#include <atomic>
#include <mutex>

namespace dsv4::kernel_profile {
namespace {

constexpr int kOps = static_cast<int>(KernelOp::kCount);
constexpr const char* kNames[kOps] = {
    "LinearFp8", "LinearFp4", "LinearFp8AsBf16", "LinearBf16",  "Quantize", "SparseAttention",
    "RmsNorm",   "Rope",      "Hadamard",        "IndexerScore"};

std::atomic<bool> g_on{false};
std::mutex g_mu;  // kernels are called from one thread at a time; the lock keeps it safe anyway
std::array<KernelProfileRow, kOps> g_rows;

}  // namespace

void Enable(bool on) { g_on.store(on, std::memory_order_relaxed); }
bool Enabled() { return g_on.load(std::memory_order_relaxed); }

void Reset() {
  std::lock_guard<std::mutex> lock(g_mu);
  g_rows = {};
}

void Add(KernelOp op, double seconds, double bytes) {
  std::lock_guard<std::mutex> lock(g_mu);
  KernelProfileRow& r = g_rows[static_cast<int>(op)];
  ++r.calls;
  r.seconds += seconds;
  r.bytes += bytes;
}

std::vector<KernelProfileRow> Snapshot() {
  std::lock_guard<std::mutex> lock(g_mu);
  std::vector<KernelProfileRow> out;
  for (int i = 0; i < kOps; ++i) {
    if (g_rows[i].calls == 0) continue;
    out.push_back(g_rows[i]);
    out.back().name = kNames[i];
  }
  return out;
}

}  // namespace dsv4::kernel_profile
