// oneDNN matmul for the prefill GEMM (gemm_onednn.h). One primitive per shape, cached: creating
// one runs oneDNN's kernel selection (tens of microseconds to milliseconds), executing it does not.
// Each call runs on the calling thread alone: the engine's own thread pool splits the work over
// weight rows, and oneDNN's OpenMP runtime is held to one thread in every pool thread, so the two
// pools never oversubscribe the cores.
#include "kernels/cpu/gemm_onednn.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#ifdef DSV4_HAVE_ONEDNN
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#endif

namespace dsv4::cpu {
namespace {

std::atomic<int> g_fast{-1};  // -1: not read from the environment yet
std::atomic<int64_t> g_calls{0};

}  // namespace

void SetFastPrefill(bool on) { g_fast.store(on ? 1 : 0); }
int64_t OneDnnGemmCalls() { return g_calls.load(); }

#ifndef DSV4_HAVE_ONEDNN

bool FastGemmEnabled() { return false; }

bool OneDnnGemmBf16(const uint16_t*, size_t, int, const uint16_t*, size_t, int, int, float*) {
  return false;
}

bool OneDnnSgemm(const float*, size_t, int, const float*, size_t, int, int, float*, size_t) {
  return false;
}

#else

bool FastGemmEnabled() {
  int v = g_fast.load(std::memory_order_relaxed);
  if (v < 0) {
    const char* env = std::getenv("DSV4_FAST_PREFILL");
    v = env != nullptr && std::strcmp(env, "") != 0 && std::strcmp(env, "0") != 0 ? 1 : 0;
    int expected = -1;
    g_fast.compare_exchange_strong(expected, v);
    v = g_fast.load();
  }
  return v == 1;
}

namespace {

// oneDNN's OpenMP teams on a pool thread: that thread only (the pool splits the work).
void OneOmpThread() {
  thread_local bool one_thread = [] {
    omp_set_num_threads(1);
    return true;
  }();
  (void)one_thread;
}

// Shape and strides of one GEMM: what a matmul primitive is specialised for.
using Key = std::tuple<int, int, int, size_t, size_t>;  // m, rows, k, ws, xs
constexpr size_t kMaxPrimitives = 4096;

struct Entry {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
};

struct Cache {
  std::mutex mu;
  std::unique_ptr<dnnl::engine> engine;
  // shared_ptr: a thread may still run a primitive that a full cache has just dropped.
  std::map<Key, std::shared_ptr<const Entry>> entries;
};

Cache& GetCache() {
  static Cache* cache = new Cache;  // never destroyed: pool threads may still use it at exit
  return *cache;
}

}  // namespace

bool OneDnnGemmBf16(const uint16_t* w, size_t ws, int rows, const uint16_t* x, size_t xs, int m,
                    int k, float* c) {
  using dnnl::memory;
  using dt = memory::data_type;
  OneOmpThread();
  Cache& cache = GetCache();
  const Key key{m, rows, k, ws, xs};
  std::shared_ptr<const Entry> e;
  {
    std::lock_guard<std::mutex> lock(cache.mu);
    try {
      if (!cache.engine) cache.engine = std::make_unique<dnnl::engine>(dnnl::engine::kind::cpu, 0);
      auto it = cache.entries.find(key);
      if (it == cache.entries.end()) {
        if (cache.entries.size() >= kMaxPrimitives) cache.entries.clear();  // new prompts, new m
        // The weights are oneDNN's "source" and the activations its "weights": C[rows, m] =
        // W[rows, k] · X^T. oneDNN copies its weights operand into a blocked layout on every call;
        // the activations are m x k, the weight rows of a call rows x k, and m <= rows here.
        const memory::desc a({rows, k}, dt::bf16, memory::dims{static_cast<int64_t>(ws), 1});
        const memory::desc b({k, m}, dt::bf16, memory::dims{1, static_cast<int64_t>(xs)});
        const memory::desc c({rows, m}, dt::f32, memory::format_tag::ab);
        // A scratchpad per call (user mode): the same primitive runs on several threads at once.
        dnnl::primitive_attr attr;
        attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, *cache.engine);
        // Only the brgemm kernels are worth it; anything else (a reference loop) is not.
        if (std::string(pd.impl_info_str()).rfind("brg", 0) != 0) return false;
        it = cache.entries.emplace(key, std::make_shared<const Entry>(Entry{pd, dnnl::matmul(pd)}))
                 .first;
      }
      e = it->second;
    } catch (const dnnl::error&) {
      return false;
    }
  }
  const memory::desc sd = e->pd.scratchpad_desc();
  thread_local std::vector<uint8_t> scratch;
  if (scratch.size() < sd.get_size()) scratch.resize(sd.get_size());
  try {
    const dnnl::engine& eng = *cache.engine;
    dnnl::stream stream(eng);
    memory wm(e->pd.src_desc(), eng, const_cast<uint16_t*>(w)),
        xm(e->pd.weights_desc(), eng, const_cast<uint16_t*>(x)), cm(e->pd.dst_desc(), eng, c),
        sm(sd, eng, scratch.data());
    e->prim.execute(stream, {{DNNL_ARG_SRC, wm},
                             {DNNL_ARG_WEIGHTS, xm},
                             {DNNL_ARG_DST, cm},
                             {DNNL_ARG_SCRATCHPAD, sm}});
    stream.wait();
  } catch (const dnnl::error&) {
    return false;
  }
  g_calls.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// Row-major Y[m, rows] = X[m, k] · W[rows, k]^T: sgemm's B operand transposed, so neither operand
// is copied here (sgemm packs its own panels).
bool OneDnnSgemm(const float* w, size_t ws, int rows, const float* x, size_t xs, int m, int k,
                 float* y, size_t ys) {
  OneOmpThread();
  const dnnl_status_t st =
      dnnl_sgemm('N', 'T', m, rows, k, 1.0f, x, static_cast<dnnl_dim_t>(xs), w,
                 static_cast<dnnl_dim_t>(ws), 0.0f, y, static_cast<dnnl_dim_t>(ys));
  if (st != dnnl_success) return false;
  g_calls.fetch_add(1, std::memory_order_relaxed);
  return true;
}

#endif  // DSV4_HAVE_ONEDNN

}  // namespace dsv4::cpu
