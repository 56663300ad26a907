#include "kernels/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace dsv4 {
namespace {

std::atomic<int> g_default_threads{0};
thread_local bool t_in_worker = false;

// Waking a blocked thread costs tens of microseconds (a futex wake, and a VM exit on a virtual
// machine: 45-65 us measured per ParallelFor here), as long as a whole decode-sized GEMV. Workers
// therefore spin this long after their last task before blocking; decode issues ParallelFor calls
// back to back, so they rarely block while a model runs.
constexpr auto kSpinBeforeBlock = std::chrono::microseconds(2000);

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

}  // namespace

// Work of one ParallelFor is cut into tasks (a few per thread) that threads claim from a shared
// ticket, so a thread that starts late or runs slower (a noisy neighbour on a shared VM, a worker
// still waking up) takes fewer tasks instead of holding everyone up. The ticket packs the call's
// generation (high 32 bits) with the next task index: claiming is a compare-and-swap that only
// succeeds while that generation is current, so a worker that wakes after its call ended can never
// take a task of the next one with a stale function.
constexpr int kTasksPerThread = 8;

// Large calls are cut in halving levels instead (guided scheduling): level l covers
// [n − n/2^l, n − n/2^(l+1)) in one range per thread, the last level the rest. The first ranges
// are long (one start of each thread's weight stream for half the call), the last ones short
// (n / (2^kGuidedLevels · T)), so the thread that finishes first waits less for the others (in
// expectation half the last range: 1/32 of a call's work on two threads with 8 equal ranges per
// thread, 1/256 with these).
constexpr int kGuidedLevels = 6;
// Below n = this · threads: equal ranges. Session 7 lowered it from 256: FP8 linears split by
// 128-row blocks (n = 32-256 at V4 shapes) ran as 16 equal tasks of up to 16 blocks (8 MiB), and
// the thread that finished first waited on the other's last one (ParallelFor tails over a
// flash-slice decode: 46-65 -> 39-40 ms per 52 forward passes). Ranges that come out empty at
// small n are skipped.
constexpr int kGuidedMinPerThread = 16;

// Start of range i of `count` over [0, n) (end = start of i + 1); a guided call has
// kGuidedLevels + 1 ranges per thread.
int64_t RangeStart(int64_t i, int count, int64_t n, bool guided) {
  if (!guided) return n * i / count;
  if (i >= count) return n;
  const int threads = count / (kGuidedLevels + 1);
  const int64_t level = std::min<int64_t>(i / threads, kGuidedLevels), j = i - level * threads;
  const int64_t begin = n - (n >> level);
  const int64_t end = level == kGuidedLevels ? n : n - (n >> (level + 1));
  return begin + (end - begin) * j / threads;
}

struct ThreadPool::State {
  std::mutex mu;
  std::condition_variable work_cv;
  std::vector<std::thread> workers;
  // A call's parameters live in slot generation % 2, written before the generation is published
  // in `ticket`. Two slots, because a worker reads them before its claim: while the ticket still
  // shows generation g, the next call may already be writing its own parameters, and they must not
  // be mistaken for g's (a task count of the next call would let a claim run past g's last task).
  struct Call {
    std::atomic<const std::function<void(int, int)>*> fn{nullptr};
    std::atomic<int> n{0}, tasks{0};
    std::atomic<bool> guided{false};
  };
  Call calls[2];
  std::atomic<uint64_t> ticket{0};  // generation << 32 | next task index
  std::atomic<int> done{0};         // tasks of the current generation finished
  std::atomic<bool> stop{false};

  // Claims and runs tasks of generation `gen` until none is left.
  void RunTasks(uint64_t gen) {
    const Call& call = calls[gen & 1];
    for (;;) {
      uint64_t t = ticket.load(std::memory_order_acquire);
      if ((t >> 32) != gen) return;
      // Slot gen % 2 is rewritten only by generation gen + 2, after the ticket moved past gen, so
      // a successful claim below proves these were gen's.
      const auto* f = call.fn.load(std::memory_order_relaxed);
      const int count = call.tasks.load(std::memory_order_relaxed);
      const int total = call.n.load(std::memory_order_relaxed);
      const bool guided = call.guided.load(std::memory_order_relaxed);
      const int i = static_cast<int>(t & 0xffffffffu);
      if (i >= count) return;
      if (!ticket.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel)) continue;
      const int begin = static_cast<int>(RangeStart(i, count, total, guided)),
                end = static_cast<int>(RangeStart(i + 1, count, total, guided));
      if (begin < end) (*f)(begin, end);
      done.fetch_add(1, std::memory_order_release);
    }
  }
};

void SetDefaultThreads(int threads) { g_default_threads = threads; }

ThreadPool& ThreadPool::Global() {
  static ThreadPool pool([] {
    int t = g_default_threads.load();
    if (t <= 0) {
      if (const char* env = std::getenv("DSV4_THREADS")) t = std::atoi(env);
    }
    if (t <= 0) t = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return t;
  }());
  return pool;
}

ThreadPool::ThreadPool(int threads) : threads_(std::max(1, threads)), state_(new State) {
  for (int w = 1; w < threads_; ++w) {
    state_->workers.emplace_back([this] {
      t_in_worker = true;
      State& s = *state_;
      uint64_t seen = 0;  // the last generation this worker joined
      auto gen = [&s] { return s.ticket.load(std::memory_order_acquire) >> 32; };
      for (;;) {
        // Spin for new work, then block.
        const auto spin_until = std::chrono::steady_clock::now() + kSpinBeforeBlock;
        int polls = 0;
        while (gen() == seen && !s.stop.load()) {
          CpuRelax();
          if (++polls % 256 == 0 && std::chrono::steady_clock::now() > spin_until) {
            std::unique_lock<std::mutex> lock(s.mu);
            s.work_cv.wait(lock, [&] { return s.stop.load() || gen() != seen; });
          }
        }
        if (s.stop.load()) return;
        seen = gen();
        s.RunTasks(seen);
      }
    });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stop = true;
  }
  state_->work_cv.notify_all();
  for (auto& t : state_->workers) t.join();
  delete state_;
}

void ThreadPool::ParallelFor(int n, const std::function<void(int, int)>& fn) {
  if (n <= 0) return;
  if (threads_ == 1 || n == 1 || t_in_worker) {
    fn(0, n);
    return;
  }
  static std::mutex one_at_a_time;  // the pool runs one ParallelFor at a time
  std::lock_guard<std::mutex> outer(one_at_a_time);
  State& s = *state_;
  const bool guided = n >= kGuidedMinPerThread * threads_;
  const int tasks =
      guided ? threads_ * (kGuidedLevels + 1) : std::min(n, threads_ * kTasksPerThread);
  const uint64_t gen = (s.ticket.load(std::memory_order_relaxed) >> 32) + 1;
  State::Call& call = s.calls[gen & 1];
  call.fn.store(&fn, std::memory_order_relaxed);
  call.n.store(n, std::memory_order_relaxed);
  call.tasks.store(tasks, std::memory_order_relaxed);
  call.guided.store(guided, std::memory_order_relaxed);
  s.done.store(0, std::memory_order_relaxed);
  {
    // Under the mutex, so a worker about to block cannot miss the new generation.
    std::lock_guard<std::mutex> lock(s.mu);
    s.ticket.store(gen << 32, std::memory_order_release);
  }
  s.work_cv.notify_all();
  t_in_worker = true;  // a nested ParallelFor from the caller's own tasks runs serially
  s.RunTasks(gen);
  t_in_worker = false;
  // Every task is claimed; wait for the ones still running elsewhere.
  for (int polls = 0; s.done.load(std::memory_order_acquire) != tasks; ++polls) {
    if (polls < 4096) {
      CpuRelax();
    } else {
      std::this_thread::yield();
    }
  }
}

}  // namespace dsv4
