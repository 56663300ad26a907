// dsv4 bench --model DIR: prefill and decode speed in one process, the exact bytes each decode step
// touched (weights from the tensor table and the experts actually chosen, plus the caches read), the
// effective bandwidth, and the machine's own read bandwidth measured the same way — with the ratio.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <numeric>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/numeric.h"
#include "command.h"
#include "kernels/cpu/cpu.h"
#include "kernels/kernels.h"
#include "kernels/profile.h"
#include "model/model.h"
#include "model/weights_table.h"
#include "runtime/sequence.h"

namespace dsv4 {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct BenchArgs {
  std::string model;
  int prompt_len = 512, gen = 32, threads = 0, repeat = 3;
  int batch = 1;  // > 1: also decode this many sequences in lockstep (continuous batching)
  int64_t context = 0;  // > 0: decode after a synthetic context of this many tokens (no prefill)
  bool json = false;
  bool profile = false;
};

// Collects the routed experts each block chose during one step.
class ExpertSink : public TraceSink {
 public:
  void Record(const std::string& name, const float* data, const std::vector<int64_t>& shape,
              TraceDType) override {
    if (!name.ends_with("ffn.gate.idx")) return;
    std::set<int>& s = chosen_[name];
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    for (int64_t i = 0; i < n; ++i) s.insert(static_cast<int>(data[i]));
  }
  int64_t distinct() const {
    int64_t n = 0;
    for (const auto& [k, s] : chosen_) n += static_cast<int64_t>(s.size());
    return n;
  }
  void clear() { chosen_.clear(); }

 private:
  std::map<std::string, std::set<int>> chosen_;
};

// Weight bytes of one decode step: everything but the routed experts (from the table's batch-1
// account) plus the experts actually chosen, at their native size.
struct ByteModel {
  int64_t fixed = 0;       // per step, all but routed experts
  int64_t per_expert = 0;  // w1 + w2 + w3 (+ scales) of one routed expert
};

ByteModel MakeByteModel(const ModelConfig& cfg) {
  ByteModel bm;
  const WeightAccount acc = AccountWeights(cfg);
  int64_t routed_bytes = 0, routed_per_token = 0;
  for (const TensorSpec& t : CheckpointTensors(cfg)) {
    if (t.expert >= 0 && t.block < cfg.n_layers) routed_bytes += t.nbytes();
  }
  bm.per_expert = routed_bytes / (static_cast<int64_t>(cfg.n_layers) * cfg.n_routed_experts);
  routed_per_token = bm.per_expert * cfg.n_layers * cfg.n_activated_experts;
  bm.fixed = acc.bytes_per_token - routed_per_token;
  return bm;
}

// Cache bytes one decode step reads (fp32 storage in this build): window, attended compressed
// entries, and every indexer key scored.
int64_t CacheBytesRead(const ModelConfig& cfg, const ModelState& st) {
  int64_t bytes = 0;
  for (int l = 0; l < cfg.n_layers; ++l) {
    const LayerState& ls = st.layers[l];
    const int64_t window = std::min<int64_t>(st.n_tokens, cfg.window_size);
    int64_t rows = window;
    const int r = cfg.compress_ratio(l);
    if (r == 128) rows += ls.cmp.n_entries();
    if (r == 4) {
      rows += std::min<int64_t>(cfg.index_topk, ls.cmp.n_entries());
      bytes += ls.idx.n_entries() * cfg.index_head_dim * static_cast<int64_t>(sizeof(float));
    }
    bytes += rows * cfg.head_dim * static_cast<int64_t>(sizeof(float));
  }
  return bytes;
}

// STREAM-style read bandwidth: sum a buffer much larger than the last-level cache with T threads,
// best of `passes`. Measured after every repeat's decode steps, so each decode time has a probe from
// the same minutes: on a shared VM the bandwidth a neighbour leaves changes by 2x within minutes.
class ReadProbe {
 public:
  double GBs(int threads, int passes) {
    if (buf_.empty()) {
      buf_.resize((size_t{1} << 30) / 8);
      // Distinct contents on every page: pages of identical bytes may be merged (host KSM on a
      // VM), and reading one physical page 262144 times measures a cache, not DRAM (49 GB/s seen).
      for (size_t i = 0; i < buf_.size(); ++i) buf_[i] = i * 0x9E3779B97F4A7C15ull;
    }
    double best = 0;
    for (int rep = 0; rep < passes; ++rep) {
      std::atomic<uint64_t> total{0};
      const auto t0 = Clock::now();
      std::vector<std::thread> pool;
      for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
          const size_t n = buf_.size(), lo = n * t / threads, hi = n * (t + 1) / threads;
          uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
          for (size_t i = lo; i + 4 <= hi; i += 4) {
            s0 += buf_[i];
            s1 += buf_[i + 1];
            s2 += buf_[i + 2];
            s3 += buf_[i + 3];
          }
          total += s0 + s1 + s2 + s3;
        });
      }
      for (auto& th : pool) th.join();
      const double s = Since(t0);
      if (total.load() == 0) std::fprintf(stderr, "impossible\n");
      best = std::max(best, buf_.size() * 8.0 / s / 1e9);
    }
    return best;
  }

 private:
  std::vector<uint64_t> buf_;
};

bool Parse(const std::vector<std::string>& args, BenchArgs* a) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& f = args[i];
    auto num = [&](int* out) {
      if (i + 1 >= args.size()) return false;
      *out = std::atoi(args[++i].c_str());
      return *out >= 0;
    };
    if (f == "--model" || f == "-m") {
      if (i + 1 >= args.size()) return false;
      a->model = args[++i];
    } else if (f == "--prompt-len") {
      if (!num(&a->prompt_len) || a->prompt_len < 1) return false;
    } else if (f == "--gen") {
      if (!num(&a->gen) || a->gen < 1) return false;
    } else if (f == "--threads" || f == "-t") {
      if (!num(&a->threads)) return false;
    } else if (f == "--repeat") {
      if (!num(&a->repeat) || a->repeat < 1) return false;
    } else if (f == "--context") {
      if (i + 1 >= args.size()) return false;
      a->context = std::atoll(args[++i].c_str());
      if (a->context < 1) return false;
    } else if (f == "--batch") {
      if (!num(&a->batch) || a->batch < 1 || a->batch > 256) return false;
    } else if (f == "--json") {
      a->json = true;
    } else if (f == "--fast-prefill") {
      SetFastPrefill(true);
    } else if (f == "--profile") {
      a->profile = true;
    } else {
      return false;
    }
  }
  return !a->model.empty();
}

// Fills every cache of a fresh sequence as if `n` tokens had been processed (random bf16-valued
// rows; indexer keys FP4-simulated, as stored): decode cost depends on how much state there is, not
// on its values, and a real 64K-token prefill would take hours with scalar kernels on two cores.
// Only `dsv4 bench --context` uses this.
void FillSyntheticContext(const ModelConfig& cfg, int64_t n, ModelState* st) {
  uint64_t x = 0x2545F4914F6CDD1Dull;
  auto next = [&x] {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return RoundBf16(static_cast<float>(static_cast<int64_t>(x % 2001) - 1000) / 1000.0f);
  };
  for (LayerState& ls : st->layers) {
    for (float& v : ls.ring) v = next();
    for (CompressorState* c : {&ls.cmp, &ls.idx}) {
      if (c->ratio == 0) continue;
      c->entries.resize(static_cast<size_t>(n / c->ratio) * c->head_dim);
      for (float& v : c->entries) v = next();
    }
    // Indexer keys in the format the compressor stores (e2m1 × a power-of-two scale per 32), which
    // the indexer kernel's fast path relies on.
    constexpr int kIndexSimBlock = 32;  // as model/compressor.cc
    for (size_t r = 0; r < ls.idx.entries.size(); r += ls.idx.head_dim) {
      Fp4Sim(ls.idx.entries.data() + r, ls.idx.head_dim, kIndexSimBlock);
    }
  }
  st->n_tokens = n;
}

// Seconds inside the linear kernels in a kernel profile.
double LinearSeconds(const std::vector<KernelProfileRow>& prof) {
  double s = 0;
  for (const KernelProfileRow& r : prof) {
    if (r.name.rfind("Linear", 0) == 0) s += r.seconds;
  }
  return s;
}

// The process's resident set now and at its peak (MB), from /proc/self/status; 0 where absent.
std::pair<double, double> ResidentMb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  double rss = 0, hwm = 0;
  while (std::getline(in, line)) {
    const double kb = std::atof(line.c_str() + std::min<size_t>(line.size(), 6));
    if (line.rfind("VmRSS:", 0) == 0) rss = kb / 1024;
    if (line.rfind("VmHWM:", 0) == 0) hwm = kb / 1024;
  }
  return {rss, hwm};
}

// Sums profile rows by kernel name (one snapshot per run into a total).
void AddProfile(std::vector<KernelProfileRow>* total, const std::vector<KernelProfileRow>& add) {
  for (const KernelProfileRow& r : add) {
    auto it = std::find_if(total->begin(), total->end(),
                           [&](const KernelProfileRow& t) { return t.name == r.name; });
    if (it == total->end()) {
      total->push_back(r);
    } else {
      it->calls += r.calls, it->seconds += r.seconds, it->bytes += r.bytes;
    }
  }
}

nlohmann::json ProfileJson(const std::vector<KernelProfileRow>& rows, double per) {
  nlohmann::json out = nlohmann::json::array();
  for (const KernelProfileRow& r : rows) {
    out.push_back({{"kernel", r.name}, {"calls_per_token", r.calls / per},
                   {"ms_per_token", r.seconds / per * 1e3}, {"bytes_per_token", r.bytes / per},
                   {"gbs", r.seconds > 0 ? r.bytes / r.seconds / 1e9 : 0.0}});
  }
  return out;
}

// Per token: calls, ms, MB, GB/s and its ratio to the machine's read bandwidth; "rest" is the
// mean token time outside the named kernels (routing, compressor pooling, norms of q, thread
// handoffs). Kernels called from pool threads (prefill attention, one query per thread) add
// their time per thread, so in prefill their rows can exceed wall time.
void PrintProfile(const char* title, const std::vector<KernelProfileRow>& rows, double per,
                  double token_s, double read_gbs) {
  double in_kernels = 0;
  std::printf("%s profile (wall time per token, calling thread):\n", title);
  std::printf("  %-16s %8s %10s %10s %8s %9s\n", "kernel", "calls", "ms", "MB", "GB/s", "of read");
  for (const KernelProfileRow& r : rows) {
    const double gbs = r.seconds > 0 ? r.bytes / r.seconds / 1e9 : 0;
    in_kernels += r.seconds / per;
    std::printf("  %-16s %8.1f %10.3f %10.2f %8.2f %9.3f\n", r.name.c_str(), r.calls / per,
                r.seconds / per * 1e3, r.bytes / per / 1e6, gbs, gbs / read_gbs);
  }
  std::printf("  %-16s %8s %10.3f\n", "rest", "", (token_s - in_kernels) * 1e3);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int RunBench(const std::vector<std::string>& args) {
  BenchArgs a;
  if (!Parse(args, &a)) {
    std::fprintf(stderr, "usage: dsv4 bench --model DIR [--prompt-len L | --context N] [--gen N] "
                         "[--threads T] [--repeat R] [--batch B] [--fast-prefill] [--json] "
                         "[--profile]\n");
    return 2;
  }
  const int threads = a.threads > 0 ? a.threads
                                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  setenv("DSV4_THREADS", std::to_string(threads).c_str(), 1);  // read by the kernel thread pool
  auto loaded = Model::Load(a.model, /*progress=*/!a.json);
  if (!loaded.ok()) {
    std::fprintf(stderr, "dsv4 bench: %s\n", loaded.status().ToString().c_str());
    return 1;
  }
  const Model& model = **loaded;
  const ModelConfig& cfg = model.config();
  const ByteModel bm = MakeByteModel(cfg);
  const WeightAccount acc = AccountWeights(cfg);

  std::vector<int32_t> prompt(a.prompt_len);
  uint64_t x = 0x9E3779B97F4A7C15ull;  // fixed pseudo-random prompt
  for (int32_t& t : prompt) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    t = static_cast<int32_t>(x % static_cast<uint64_t>(cfg.vocab_size));
  }
  std::vector<double> prefill_s, decode_s, step_bytes, read_gbs_runs, ratio_runs, peak_runs;
  std::vector<double> linear_s_runs;  // time inside the linear kernels, per prefill
  cpu::DotPeak peak;
  ReadProbe probe;
  std::pair<double, double> resident{0, 0};
  ExpertSink sink;
  std::vector<KernelProfileRow> prefill_prof, decode_prof;
  for (int rep = 0; rep < a.repeat; ++rep) {
    Sequence seq(model);
    std::vector<float> logits;
    kernel_profile::Reset();
    kernel_profile::Enable(a.context == 0);  // prefill: always (the linear layers' share)
    auto t0 = Clock::now();
    if (a.context > 0) {
      FillSyntheticContext(cfg, a.context, &seq.mutable_state());
      logits.assign(cfg.vocab_size, 0.0f);
    } else if (Status s = seq.Append(prompt, &logits); !s.ok()) {
      std::fprintf(stderr, "dsv4 bench: %s\n", s.ToString().c_str());
      return 1;
    }
    prefill_s.push_back(Since(t0));
    kernel_profile::Enable(false);
    const std::vector<KernelProfileRow> prof = kernel_profile::Snapshot();
    AddProfile(&prefill_prof, prof);
    if (a.context == 0) {
      // The dot-product ceiling in the same minutes as this prefill (see cpu/peak.cc).
      linear_s_runs.push_back(LinearSeconds(prof));
      peak = cpu::MeasureDotPeak(threads);
      peak_runs.push_back(peak.gflops);
    }
    kernel_profile::Reset();
    double total = 0, bytes = 0;
    for (int i = 0; i < a.gen; ++i) {
      const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      const int64_t cache = CacheBytesRead(cfg, seq.state());
      sink.clear();
      kernel_profile::Enable(a.profile);  // decode steps only
      t0 = Clock::now();
      if (Status s = seq.Append({&next, 1}, &logits, &sink); !s.ok()) {
        std::fprintf(stderr, "dsv4 bench: %s\n", s.ToString().c_str());
        return 1;
      }
      total += Since(t0);
      kernel_profile::Enable(false);
      bytes += static_cast<double>(bm.fixed + bm.per_expert * sink.distinct() + cache);
    }
    decode_s.push_back(total / a.gen);
    step_bytes.push_back(bytes / a.gen);
    AddProfile(&decode_prof, kernel_profile::Snapshot());
    // Before the probe's 1 GiB buffer exists: what the model run itself holds (mapped weights that
    // were touched count as resident, the rest of the mapping does not).
    if (rep == 0) resident = ResidentMb();
    read_gbs_runs.push_back(probe.GBs(threads, 3));
    ratio_runs.push_back(bytes / a.gen / decode_s.back() / 1e9 / read_gbs_runs.back());
  }
  // Batched decode: `batch` sequences (the prompt shifted by b, so each routes its own way) decode
  // `gen` steps in lockstep, one ForwardBatch per step, as the server's continuous batching does.
  double batch_step = 0;
  if (a.batch > 1 && a.context == 0) {
    std::vector<std::unique_ptr<Sequence>> seqs;
    std::vector<std::vector<float>> logits(a.batch);
    for (int b = 0; b < a.batch; ++b) {
      std::vector<int32_t> p(prompt);
      for (int32_t& t : p) t = static_cast<int32_t>((t + b) % cfg.vocab_size);
      seqs.push_back(std::make_unique<Sequence>(model));
      if (Status st = seqs.back()->Append(p, &logits[b]); !st.ok()) {
        std::fprintf(stderr, "dsv4 bench: %s\n", st.ToString().c_str());
        return 1;
      }
    }
    std::vector<Sequence*> ptrs;
    for (auto& sq : seqs) ptrs.push_back(sq.get());
    std::vector<int32_t> next(a.batch);
    std::vector<std::span<const int32_t>> toks(a.batch);
    const auto t0 = Clock::now();
    for (int i = 0; i < a.gen; ++i) {
      for (int b = 0; b < a.batch; ++b) {
        next[b] = static_cast<int32_t>(std::max_element(logits[b].begin(), logits[b].end()) -
                                       logits[b].begin());
        toks[b] = std::span<const int32_t>(&next[b], 1);
      }
      if (Status st = Sequence::AppendBatch(ptrs, toks, &logits); !st.ok()) {
        std::fprintf(stderr, "dsv4 bench: %s\n", st.ToString().c_str());
        return 1;
      }
    }
    batch_step = Since(t0) / a.gen;
  }
  const auto [rss_mb, peak_mb] = resident;
  const double read_gbs = Median(read_gbs_runs), ratio = Median(ratio_runs);
  const double prefill = Median(prefill_s), step = Median(decode_s), bytes = Median(step_bytes);
  // Linear-layer FLOPs of the prompt: every active weight once per token, except that the head
  // runs for the last position only (and the embedding is a row lookup, not a product).
  auto active_params = [&](TensorKind kind) {
    const auto it = acc.active_params_by_kind.find(kind);
    return it == acc.active_params_by_kind.end() ? 0.0 : static_cast<double>(it->second);
  };
  const double head = active_params(TensorKind::kHead), embed = active_params(TensorKind::kEmbed);
  const double per_token_params = static_cast<double>(acc.params_active) - head - embed;
  const double flops = 2.0 * (per_token_params * a.prompt_len + head);
  // Time inside the linear kernels during prefill (summed over repeats, like prefill_s).
  const double linear_s = LinearSeconds(prefill_prof);
  const double prefill_total = std::accumulate(prefill_s.begin(), prefill_s.end(), 0.0);
  const double linear_gflops = linear_s > 0 ? flops * a.repeat / linear_s / 1e9 : 0;
  // Against the measured peak: the median over runs of each prefill's linear GFLOP/s divided by the
  // peak measured right after it (as decode_bandwidth_ratio pairs each decode with its probe).
  std::vector<double> peak_ratio_runs;
  for (size_t i = 0; i < linear_s_runs.size(); ++i) {
    if (linear_s_runs[i] > 0 && peak_runs[i] > 0) {
      peak_ratio_runs.push_back(flops / linear_s_runs[i] / 1e9 / peak_runs[i]);
    }
  }
  const double peak_gflops = peak_runs.empty() ? 0.0 : Median(peak_runs);
  const double peak_ratio = peak_ratio_runs.empty() ? 0.0 : Median(peak_ratio_runs);
  const double eff = bytes / step / 1e9;
  nlohmann::json out = {
      {"model", a.model},
      {"threads", threads},
      {"prompt_len", a.prompt_len},
      {"gen", a.gen},
      {"context", a.context > 0 ? a.context : a.prompt_len},
      {"repeat", a.repeat},
      {"prefill_tok_s", a.context > 0 ? 0.0 : a.prompt_len / prefill},
      {"prefill_gflops", a.context > 0 ? 0.0 : flops / prefill / 1e9},
      {"prefill_linear_gflops", a.context > 0 ? 0.0 : linear_gflops},
      {"prefill_linear_share", a.context > 0 || prefill_total <= 0 ? 0.0 : linear_s / prefill_total},
      {"machine_dot_gflops", peak_gflops},
      {"machine_dot_op", peak.op},
      {"prefill_peak_ratio", peak_ratio},
      {"fast_prefill", FastPrefill()},
      {"decode_tok_s", 1.0 / step},
      {"decode_bytes_per_token", static_cast<int64_t>(bytes)},
      {"decode_effective_gbs", eff},
      {"machine_read_gbs", read_gbs},
      {"decode_bandwidth_ratio", ratio},
      {"batch", a.batch},
      {"batch_decode_tok_s", batch_step > 0 ? a.batch / batch_step : 0.0},
      {"batch_step_ms", batch_step * 1e3},
      {"resident_mb", rss_mb},
      {"resident_peak_mb", peak_mb},
  };
  const double steps = static_cast<double>(a.gen) * a.repeat;
  const double prompt_tokens = static_cast<double>(a.prompt_len) * a.repeat;
  if (a.profile) {
    out["decode_profile"] = ProfileJson(decode_prof, steps);
    if (a.context == 0) out["prefill_profile"] = ProfileJson(prefill_prof, prompt_tokens);
  }
  if (a.json) {
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  std::printf("model %s, %d threads, medians of %d runs\n", a.model.c_str(), threads, a.repeat);
  if (a.context > 0) std::printf("synthetic context of %lld tokens (no prefill)\n", static_cast<long long>(a.context));
  else {
    std::printf("prefill  %d tokens: %.1f tok/s = %.2f GFLOP/s of linear-layer work over the whole prefill\n"
                "         (2 x %.3g params/token, head once); inside the linear kernels %.2f GFLOP/s"
                " (%.0f%% of prefill time)\n",
                a.prompt_len, a.prompt_len / prefill, flops / prefill / 1e9, per_token_params,
                linear_gflops, prefill_total > 0 ? 100.0 * linear_s / prefill_total : 0.0);
    std::printf("         vs the machine's dot-product peak %.1f GFLOP/s (%s, %d threads, measured after"
                " each prefill): ratio %.3f\n         GEMMs: %s\n",
                peak_gflops, peak.op, threads, peak_ratio,
                FastPrefill() ? "oneDNN from 64 rows (--fast-prefill)"
                              : "register tiles, batch-invariant (default)");
  }
  std::printf("decode   %d steps: %.2f tok/s, %.1f ms/token\n", a.gen, 1.0 / step, step * 1e3);
  std::printf("         bytes touched per token: %.3f MB (weights: %.3f MB fixed + chosen experts x %.3f MB; caches)\n",
              bytes / 1e6, bm.fixed / 1e6, bm.per_expert / 1e6);
  std::printf("         effective bandwidth %.2f GB/s vs machine read %.2f GB/s (%d threads): ratio %.3f\n"
              "         (ratio: median over runs of each run's decode vs the probe right after it)\n",
              eff, read_gbs, threads, ratio);
  if (batch_step > 0) {
    std::printf("batched  %d sequences x %d steps: %.2f tok/s aggregate, %.1f ms/step = %.2fx the "
                "single-sequence rate (one run)\n",
                a.batch, a.gen, a.batch / batch_step, batch_step * 1e3, a.batch / batch_step * step);
  }
  std::printf("memory   resident %.0f MB (peak %.0f MB): touched weights + caches + scratch\n", rss_mb,
              peak_mb);
  if (a.profile) {
    if (a.context == 0) {
      // Means, like the profile's sums (a median step minus mean kernel times can go negative).
      const double mean_prefill = std::accumulate(prefill_s.begin(), prefill_s.end(), 0.0);
      PrintProfile("prefill", prefill_prof, prompt_tokens, mean_prefill / prompt_tokens, read_gbs);
    }
    const double mean_step = std::accumulate(decode_s.begin(), decode_s.end(), 0.0) / a.repeat;
    PrintProfile("decode", decode_prof, steps, mean_step, read_gbs);
  }
  return 0;
}

const CommandRegistrar kRegistrar{"bench", "prefill/decode speed, bytes per token, bandwidth ratio",
                                  &RunBench};

}  // namespace
}  // namespace dsv4
