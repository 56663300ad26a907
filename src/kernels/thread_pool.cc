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

struct ThreadPool::State {
  std::mutex mu;
  std::condition_variable work_cv;
  std::vector<std::thread> workers;
  const std::function<void(int, int)>* fn = nullptr;  // written before `generation` is bumped
  int n = 0, chunks = 0;
  std::atomic<uint64_t> generation{0};
  std::atomic<int> pending{0};
  std::atomic<bool> stop{false};
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
    state_->workers.emplace_back([this, w] {
      t_in_worker = true;
      State& s = *state_;
      uint64_t seen = 0;
      for (;;) {
        // Spin for new work, then block.
        const auto spin_until = std::chrono::steady_clock::now() + kSpinBeforeBlock;
        int polls = 0;
        while (s.generation.load(std::memory_order_acquire) == seen && !s.stop.load()) {
          CpuRelax();
          if (++polls % 256 == 0 && std::chrono::steady_clock::now() > spin_until) {
            std::unique_lock<std::mutex> lock(s.mu);
            s.work_cv.wait(lock, [&] {
              return s.stop.load() || s.generation.load(std::memory_order_acquire) != seen;
            });
          }
        }
        if (s.stop.load()) return;
        seen = s.generation.load(std::memory_order_acquire);
        const int n = s.n, chunks = s.chunks;
        if (w < chunks) {
          (*s.fn)(static_cast<int>(int64_t{n} * w / chunks),
                  static_cast<int>(int64_t{n} * (w + 1) / chunks));
        }
        s.pending.fetch_sub(1, std::memory_order_acq_rel);
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
  const int chunks = std::min(n, threads_);
  if (chunks == 1 || t_in_worker) {
    fn(0, n);
    return;
  }
  static std::mutex one_at_a_time;  // the pool runs one ParallelFor at a time
  std::lock_guard<std::mutex> outer(one_at_a_time);
  State& s = *state_;
  s.fn = &fn;
  s.n = n;
  s.chunks = chunks;
  s.pending.store(threads_ - 1, std::memory_order_relaxed);
  {
    // Under the mutex, so a worker about to block cannot miss the new generation.
    std::lock_guard<std::mutex> lock(s.mu);
    s.generation.fetch_add(1, std::memory_order_release);
  }
  s.work_cv.notify_all();
  t_in_worker = true;  // a nested ParallelFor from the caller's own chunk runs serially
  fn(0, static_cast<int>(int64_t{n} / chunks));
  t_in_worker = false;
  // Chunks are equal, so the others finish about now: spin, yielding if it takes long.
  for (int polls = 0; s.pending.load(std::memory_order_acquire) != 0; ++polls) {
    if (polls < 4096) {
      CpuRelax();
    } else {
      std::this_thread::yield();
    }
  }
}

}  // namespace dsv4
