// A fixed pool of worker threads for the kernels: ParallelFor splits [0, n) into contiguous ranges
// (a few per thread) that the threads claim dynamically, so a late or slow thread never holds up
// the others; each range streams its own slice of a weight matrix.
// Size: DSV4_THREADS, else the hardware concurrency; read once. Work split never changes the
// arithmetic of an output, so results are bit-identical for any thread count.
//
// NUMA (2-socket servers, untestable here): the plan is one pool per socket with threads pinned,
// weights' output rows interleaved per socket at load (first touch), and ParallelFor ranges aligned
// to those rows, so each socket streams only its local memory.
#pragma once

#include <functional>

namespace dsv4 {

class ThreadPool {
 public:
  static ThreadPool& Global();
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return threads_; }
  // fn(begin, end) on disjoint, non-empty ranges covering [0, n), in any order and on any thread
  // (the calling thread takes part); blocks until all ran.
  // Called from inside a worker (nested), it runs serially on the calling thread.
  void ParallelFor(int n, const std::function<void(int, int)>& fn);

 private:
  struct State;
  int threads_;
  State* state_;
};

// Sets the global pool's size before its first use (e.g. from --threads); later calls are ignored.
void SetDefaultThreads(int threads);

}  // namespace dsv4
