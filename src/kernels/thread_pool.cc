#include "kernels/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace dsv4 {
namespace {
std::atomic<int> g_default_threads{0};
thread_local bool t_in_worker = false;
}  // namespace

struct ThreadPool::State {
  std::mutex mu;
  std::condition_variable work_cv, done_cv;
  std::vector<std::thread> workers;
  const std::function<void(int, int)>* fn = nullptr;
  int n = 0, chunks = 0;
  uint64_t generation = 0;
  int pending = 0;
  bool stop = false;
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
      uint64_t seen = 0;
      for (;;) {
        std::unique_lock<std::mutex> lock(state_->mu);
        state_->work_cv.wait(lock, [&] { return state_->stop || state_->generation != seen; });
        if (state_->stop) return;
        seen = state_->generation;
        const int n = state_->n, chunks = state_->chunks;
        const auto* fn = state_->fn;
        lock.unlock();
        if (w < chunks) (*fn)(static_cast<int>(int64_t{n} * w / chunks), static_cast<int>(int64_t{n} * (w + 1) / chunks));
        lock.lock();
        if (--state_->pending == 0) state_->done_cv.notify_one();
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
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->fn = &fn;
    state_->n = n;
    state_->chunks = chunks;
    state_->pending = threads_ - 1;
    ++state_->generation;
  }
  state_->work_cv.notify_all();
  t_in_worker = true;  // a nested ParallelFor from the caller's own chunk runs serially
  fn(0, static_cast<int>(int64_t{n} / chunks));
  t_in_worker = false;
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->done_cv.wait(lock, [&] { return state_->pending == 0; });
}

}  // namespace dsv4
