#include "golden_stages.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "base/numeric.h"
#include "golden_metrics.h"
#include "kernels/kernels.h"
#include "model/attention.h"
#include "model/compressor.h"
#include "model/hc.h"
#include "model/indexer.h"
#include "model/moe.h"
#include "runtime/sequence.h"
#include "stage_file.h"

namespace dsv4 {
namespace {

using Vec = std::vector<float>;

// Per-stage tolerances (rel-L2), from the golden README "Recommended per-stage tolerances".
double Tolerance(const std::string& stage) {
  static const std::map<std::string, double> kTol = {
      {"attn.hc.x", 5e-3}, {"ffn.hc.x", 5e-3}, {"attn.norm", 5e-3}, {"ffn.norm", 5e-3},
      {"attn.res", 5e-3}, {"out", 5e-3}, {"attn.o", 5e-3}, {"ffn.out", 5e-3},
      {"final.hc_head", 5e-3}, {"final.norm", 5e-3}, {"e", 5e-3}, {"h", 5e-3},
      {"attn.qr", 1e-2}, {"attn.q", 1e-2}, {"attn.kv", 1e-2}, {"attn.out", 1e-2},
      {"attn.idx.q", 1e-2}, {"attn.idx.w", 1e-2}, {"attn.idx.score", 1e-2}, {"ffn.shared", 1e-2},
      {"ffn.routed", 1e-2}, {"attn.cmp", 1e-2}, {"attn.idx.cmp", 1e-2}, {"in", 1e-2},
      {"attn.hc.post", 1e-5}, {"attn.hc.comb", 1e-5}, {"ffn.hc.post", 1e-5},
      {"ffn.hc.comb", 1e-5}, {"ffn.gate.score", 1e-5}, {"ffn.gate.w", 1e-5},
      {"final.logits", 1e-5},
      {"state.window.after", 1e-2}, {"state.cmp.after", 1e-2}, {"state.idx.after", 1e-2},
      {"state.cmp_carry_kv.after", 1e-5}, {"state.cmp_carry_score.after", 1e-5},
      {"state.idx_carry_kv.after", 1e-5}, {"state.idx_carry_score.after", 1e-5},
  };
  auto it = kTol.find(stage);
  return it == kTol.end() ? 1e-2 : it->second;
}

struct StageStat {
  double max_rel = 0;
  int count = 0, failed = 0;
};

class Checker {
 public:
  Checker(const StageFile& file, bool verbose) : file_(file), verbose_(verbose) {}

  // Compares `mine` with golden `block.stage` of `phase`.
  void Compare(const std::string& phase, const std::string& block, const std::string& stage,
               const float* mine, size_t n) {
    const std::string name = block.empty() ? stage : block + "." + stage;
    const StageTensor* g = file_.Get(phase, name);
    StageStat& st = stats_[{stage, phase}];
    ++st.count;
    if (g == nullptr || g->values.size() != n) {
      ++st.failed;
      failures_.push_back(phase + " " + name + ": " +
                          (g ? "size " + std::to_string(n) + " vs golden " + std::to_string(g->values.size()) : "missing in manifest"));
      return;
    }
    const TensorDiff d = CompareTensors(mine, g->data(), n);
    const double tol = Tolerance(stage);
    st.max_rel = std::max(st.max_rel, d.rel_l2);
    const bool ok = d.rel_l2 <= tol && d.pattern_ok;
    if (!ok) {
      ++st.failed;
      char buf[256];
      std::snprintf(buf, sizeof buf, "%s %s: rel-L2 %.3g (tol %.0e)%s", phase.c_str(), name.c_str(),
                    d.rel_l2, tol, d.pattern_ok ? "" : ", inf/-inf pattern differs");
      failures_.push_back(buf);
    }
    if (verbose_) {
      std::printf("    %-8s %-34s rel-L2 %.3e max-abs %.3e %s\n", phase.c_str(), name.c_str(),
                  d.rel_l2, d.max_abs, ok ? "ok" : "FAIL");
    }
  }
  void Compare(const std::string& phase, const std::string& block, const std::string& stage,
               const Vec& mine) {
    Compare(phase, block, stage, mine.data(), mine.size());
  }

  // Index sets per row: exact, or differing only in entries whose golden score equals the row's
  // golden k-th largest score (a bf16 tie another rule may break differently).
  void CompareSets(const std::string& what, const std::string& phase, const std::string& name,
                   const std::vector<int32_t>& mine, int k, const StageTensor* golden_score) {
    const StageTensor* g = file_.Get(phase, name);
    SetStat& st = sets_[what];
    if (g == nullptr) {
      failures_.push_back(phase + " " + name + ": missing in manifest");
      return;
    }
    const int64_t rows = g->dim(0);
    for (int64_t r = 0; r < rows; ++r) {
      std::set<int32_t> a, b;
      for (int j = 0; j < k; ++j) {
        if (mine[r * k + j] >= 0) a.insert(mine[r * k + j]);
        if (g->row(r)[j] >= 0) b.insert(static_cast<int32_t>(g->row(r)[j]));
      }
      ++st.rows;
      if (a == b) {
        ++st.exact;
        continue;
      }
      bool tie = golden_score != nullptr;
      if (tie) {
        Vec sc(golden_score->row(r), golden_score->row(r) + golden_score->dim(1));
        Vec sorted = sc;
        std::sort(sorted.rbegin(), sorted.rend());
        const float kth = sorted[std::min<size_t>(k, sorted.size()) - 1];
        for (int32_t e : a) if (!b.count(e) && sc[e] != kth) tie = false;
        for (int32_t e : b) if (!a.count(e) && sc[e] != kth) tie = false;
      }
      if (tie) {
        ++st.ties;
      } else {
        ++st.failed;
        failures_.push_back(phase + " " + name + ": row " + std::to_string(r) + " selects a different set");
      }
    }
  }

  bool Report() const {
    std::printf("stages (max rel-L2 over blocks; tolerance per golden README)\n");
    for (const auto& [key, st] : stats_) {
      std::printf("  %-30s %-8s n=%-3d max rel-L2 %.3e  tol %.0e  %s\n", key.first.c_str(),
                  key.second.c_str(), st.count, st.max_rel, Tolerance(key.first),
                  st.failed ? "FAIL" : "ok");
    }
    for (const auto& [what, st] : sets_) {
      std::printf("  %-30s rows %d: %d identical, %d tie-equivalent, %d different  %s\n",
                  what.c_str(), st.rows, st.exact, st.ties, st.failed, st.failed ? "FAIL" : "ok");
    }
    for (const auto& f : failures_) std::printf("  FAIL %s\n", f.c_str());
    return failures_.empty();
  }

 private:
  struct SetStat {
    int rows = 0, exact = 0, ties = 0, failed = 0;
  };
  const StageFile& file_;
  bool verbose_;
  std::map<std::pair<std::string, std::string>, StageStat> stats_;
  std::map<std::string, SetStat> sets_;
  std::vector<std::string> failures_;
};

std::vector<int32_t> ToInts(const StageTensor& t) {
  return std::vector<int32_t>(t.values.begin(), t.values.end());
}

// Loads a compressor's decode state (.before) from the dump.
void LoadCompressor(const StageFile& f, const std::string& block, const std::string& what,
                    CompressorState* st) {
  st->carry_kv = f.Get("decode", block + ".state." + what + "_carry_kv.before")->values;
  st->carry_score = f.Get("decode", block + ".state." + what + "_carry_score.before")->values;
  st->entries = f.Get("decode", block + ".state." + what + ".before")->values;
}

// One block (L<i> or mtp), one phase, every stage on the reference's inputs.
class BlockCheck {
 public:
  BlockCheck(const Model& model, const StageFile& f, Checker& c, const std::string& phase,
             const std::string& block, const BlockWeights& blk, std::vector<int32_t> tokens,
             int64_t start_pos)
      : cfg_(model.config()), f_(f), c_(c), phase_(phase), block_(block), blk_(blk),
        tokens_(std::move(tokens)), pos_(start_pos), rope_(model.rope(blk.compress_ratio)) {}

  const StageTensor& G(const std::string& stage) const {
    const StageTensor* t = f_.Get(phase_, block_ + "." + stage);
    if (t == nullptr) throw std::runtime_error("golden tensor " + phase_ + " " + block_ + "." + stage + " missing");
    return *t;
  }
  void Cmp(const std::string& stage, const Vec& v) { c_.Compare(phase_, block_, stage, v); }

  void Run() {
    S_ = static_cast<int>(G("in").dim(0));
    HcAndNorm("attn", blk_.hc_attn, blk_.attn_norm, G("in"));
    Attention();
    {  // HC_post(attn.out, in, post, comb) → attn.res
      Vec res(G("in").values.size());
      HcPost(G("attn.out").data(), G("in").data(), G("attn.hc.post").data(), G("attn.hc.comb").data(), S_, cfg_, res.data());
      Cmp("attn.res", res);
    }
    HcAndNorm("ffn", blk_.hc_ffn, blk_.ffn_norm, G("attn.res"));
    Moe();
  }

 private:
  void HcAndNorm(const std::string& sub, const HcWeights& hc, const std::vector<float>& norm,
                 const StageTensor& input) {
    const int D = cfg_.dim, n = cfg_.hc_mult;
    Vec x(static_cast<size_t>(S_) * D), post(S_ * n), comb(S_ * n * n), xn(x.size());
    HcPre(input.data(), S_, hc, cfg_, x.data(), post.data(), comb.data());
    Cmp(sub + ".hc.x", x);
    Cmp(sub + ".hc.post", post);
    Cmp(sub + ".hc.comb", comb);
    RmsNorm(G(sub + ".hc.x").data(), S_, D, norm.data(), cfg_.norm_eps, xn.data());
    Cmp(sub + ".norm", xn);
  }

  void Attention() {
    const AttentionWeights& w = blk_.attn;
    const int H = cfg_.n_heads, hd = cfg_.head_dim, ratio = blk_.compress_ratio;
    const float* x = G("attn.norm").data();
    Vec qr(static_cast<size_t>(S_) * cfg_.q_lora_rank), q(static_cast<size_t>(S_) * H * hd);
    Vec kv(static_cast<size_t>(S_) * hd);
    QueryPath(x, S_, pos_, w, rope_, cfg_, qr.data(), q.data());
    Cmp("attn.qr", qr);
    QueryFromQr(G("attn.qr").data(), S_, pos_, w, rope_, cfg_, q.data());
    Cmp("attn.q", q);
    KvPath(x, S_, pos_, w, rope_, cfg_, kv.data());
    Cmp("attn.kv", kv);
    const bool decode = phase_ == "decode";
    if (ratio > 0) Compressor(x, w.compressor, CompressorKind::kAttention, "cmp", "attn.cmp");
    if (ratio == 4) Indexer(x);
    if (decode) {  // window ring after = before with this position's kv
      Vec ring = f_.Get("decode", block_ + ".state.window.before")->values;
      std::copy(kv.begin(), kv.end(), ring.begin() + (pos_ % cfg_.window_size) * hd);
      c_.Compare(phase_, block_, "state.window.after", ring);
    }
    // Sparse attention over the reference's own KV list and index list.
    const StageTensor& idx = G("attn.topk_idxs");
    const int n_slots = static_cast<int>(idx.dim(1));
    const StageTensor* base = decode ? f_.Get("decode", block_ + ".state.window.after") : &G("attn.kv");
    const StageTensor* cmp = decode ? f_.Get("decode", block_ + ".state.cmp.after")
                                    : (ratio > 0 ? &G("attn.cmp") : nullptr);
    const int64_t n_base = decode ? cfg_.window_size : S_;
    std::vector<const float*> rows(static_cast<size_t>(S_) * n_slots, nullptr);
    for (size_t i = 0; i < rows.size(); ++i) {
      const int64_t v = static_cast<int64_t>(idx.values[i]);
      if (v < 0) continue;
      rows[i] = v < n_base ? base->row(v) : cmp->row(v - n_base);
    }
    Vec o(static_cast<size_t>(S_) * H * hd), out(static_cast<size_t>(S_) * cfg_.dim);
    AttendAndDerotate(G("attn.q").data(), S_, pos_, rows, n_slots, w, rope_, cfg_, o.data());
    Cmp("attn.o", o);
    OutputProjection(G("attn.o").data(), S_, w, cfg_, out.data());
    Cmp("attn.out", out);
  }

  void Compressor(const float* x, const CompressorWeights& w, CompressorKind kind,
                  const std::string& state_name, const std::string& stage) {
    CompressorState st;
    st.Init(w.ratio, w.head_dim);
    if (phase_ == "decode") LoadCompressor(f_, block_, state_name, &st);
    const int64_t before = st.n_entries();
    CompressorAppend(x, S_, pos_, w, rope_, cfg_, kind, st);
    c_.Compare(phase_, block_, stage, st.entry(before), (st.n_entries() - before) * w.head_dim);
    if (phase_ == "decode") {
      const std::string s = "state." + state_name;
      c_.Compare(phase_, block_, s + ".after", st.entries);
      c_.Compare(phase_, block_, s + "_carry_kv.after", st.carry_kv);
      c_.Compare(phase_, block_, s + "_carry_score.after", st.carry_score);
    }
  }

  void Indexer(const float* x) {
    const IndexerWeights& w = blk_.attn.indexer;
    const int Hi = cfg_.index_n_heads, dI = cfg_.index_head_dim;
    Vec qi(static_cast<size_t>(S_) * Hi * dI), hw(static_cast<size_t>(S_) * Hi);
    IndexerQuery(G("attn.qr").data(), S_, pos_, w, rope_, cfg_, qi.data());
    Cmp("attn.idx.q", qi);
    IndexerHeadWeights(x, S_, w, cfg_, hw.data());
    Cmp("attn.idx.w", hw);
    Compressor(x, w.compressor, CompressorKind::kIndexer, "idx", "attn.idx.cmp");
    const StageTensor& keys = G("attn.idx.kv");
    const int64_t n = keys.dim(0);
    Vec score(static_cast<size_t>(S_) * n);
    IndexerScores(G("attn.idx.q").data(), G("attn.idx.w").data(), keys.data(), n, S_, pos_, cfg_, 4,
                  score.data());
    Cmp("attn.idx.score", score);
    const int k = static_cast<int>(std::min<int64_t>(cfg_.index_topk, n));
    std::vector<int32_t> topk(static_cast<size_t>(S_) * k);
    IndexerTopK(G("attn.idx.score").data(), S_, n, k, topk.data());
    c_.CompareSets("indexer top-k", phase_, block_ + ".attn.idx.topk", topk, k, &G("attn.idx.score"));
  }

  void Moe() {
    const int D = cfg_.dim, E = cfg_.n_routed_experts, k = cfg_.n_activated_experts;
    const float* x = G("ffn.norm").data();
    Vec score(static_cast<size_t>(S_) * E), w(static_cast<size_t>(S_) * k);
    std::vector<int32_t> idx(static_cast<size_t>(S_) * k);
    Gate(x, S_, tokens_.data(), blk_, cfg_, score.data(), idx.data(), w.data());
    Cmp("ffn.gate.score", score);
    c_.CompareSets(blk_.hash_routed ? "experts (hash layers)" : "experts (score-routed)", phase_,
                   block_ + ".ffn.gate.idx", idx, k, nullptr);
    // Weights in the golden's expert order (the sets match, possibly in another order).
    const std::vector<int32_t> gidx = ToInts(G("ffn.gate.idx"));
    Vec w_aligned(w.size());
    for (int s = 0; s < S_; ++s) {
      for (int j = 0; j < k; ++j) {
        for (int jj = 0; jj < k; ++jj) {
          if (idx[s * k + jj] == gidx[s * k + j]) w_aligned[s * k + j] = w[s * k + jj];
        }
      }
    }
    Cmp("ffn.gate.w", w_aligned);
    Vec routed(static_cast<size_t>(S_) * D), shared(routed.size()), out(routed.size());
    RoutedExperts(x, S_, gidx.data(), G("ffn.gate.w").data(), blk_, cfg_, routed.data());
    Cmp("ffn.routed", routed);
    SharedExpert(x, S_, blk_.shared, cfg_, shared.data());
    Cmp("ffn.shared", shared);
    for (size_t i = 0; i < out.size(); ++i) {
      out[i] = RoundBf16(G("ffn.routed").values[i] + G("ffn.shared").values[i]);
    }
    Cmp("ffn.out", out);
    Vec streams(G("attn.res").values.size());
    HcPost(G("ffn.out").data(), G("attn.res").data(), G("ffn.hc.post").data(),
           G("ffn.hc.comb").data(), S_, cfg_, streams.data());
    Cmp("out", streams);
  }

  const ModelConfig& cfg_;
  const StageFile& f_;
  Checker& c_;
  std::string phase_, block_;
  const BlockWeights& blk_;
  std::vector<int32_t> tokens_;
  int64_t pos_;
  const Rope& rope_;
  int S_ = 0;
};

// HC head → final norm → lm head, each on the reference's own input.
void CheckHead(const Model& model, const StageFile& f, Checker& c, const std::string& phase,
               const std::string& prefix, const std::string& last_block, const HcWeights& hc_head,
               const std::vector<float>& norm) {
  const ModelConfig& cfg = model.config();
  const int D = cfg.dim;
  const StageTensor* out = f.Get(phase, last_block + ".out");
  const StageTensor* hc = f.Get(phase, prefix + "final.hc_head");
  const StageTensor* nm = f.Get(phase, prefix + "final.norm");
  if (!out || !hc || !nm) return;
  Vec y(D), yn(D), logits(cfg.vocab_size);
  HcHead(out->row(out->dim(0) - 1), 1, hc_head, cfg, y.data());
  RmsNorm(hc->data(), 1, D, norm.data(), cfg.norm_eps, yn.data());
  LinearBf16(nm->data(), 1, model.weights().head, logits.data(), /*round_bf16=*/false);
  const std::string block = prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1);
  c.Compare(phase, block, "final.hc_head", y);
  c.Compare(phase, block, "final.norm", yn);
  c.Compare(phase, block, "final.logits", logits);
}

}  // namespace

bool RunStageChecks(const Model& model, const std::string& stages_dir,
                    const StageCheckOptions& options, std::string* error) {
  StageFile f;
  if (!f.Load(stages_dir, error)) return false;
  const ModelConfig& cfg = model.config();
  const auto& man = f.manifest();
  Checker c(f, options.verbose);
  const std::string last = "L" + std::to_string(cfg.n_layers - 1);
  try {
    for (const std::string phase : {"prefill", "decode"}) {
      const bool prefill = phase == "prefill";
      const int64_t pos = prefill ? 0 : man.at("decode_position").get<int64_t>();
      std::vector<int32_t> main_tokens, mtp_tokens;
      if (prefill) {
        main_tokens = man.at("prompt_ids").get<std::vector<int32_t>>();
        mtp_tokens = man.at("mtp_prefill_ids").get<std::vector<int32_t>>();
      } else {
        main_tokens = {man.at("decode_token").get<int32_t>()};
        mtp_tokens = {man.at("mtp_decode_token").get<int32_t>()};
      }
      for (int l = 0; l < cfg.n_layers; ++l) {
        BlockCheck(model, f, c, phase, "L" + std::to_string(l), model.weights().blocks[l],
                   main_tokens, pos).Run();
      }
      CheckHead(model, f, c, phase, "", last, model.weights().hc_head, model.weights().norm);
      if (!model.weights().mtp.empty() && f.Get(phase, "mtp.in") != nullptr) {
        const MtpWeights& mw = model.weights().mtp[0];
        const StageTensor* hidden = f.Get(phase, last + ".out");
        Vec X(hidden->values.size());
        StageWriter mtp_trace;  // captures mtp.e / mtp.h computed inside MtpInput
        model.MtpInput(mw, mtp_tokens, hidden->data(), Trace{&mtp_trace, "mtp"}, X.data());
        c.Compare(phase, "mtp", "in", X);
        BlockCheck(model, f, c, phase, "mtp", mw.block, mtp_tokens, pos).Run();
        CheckHead(model, f, c, phase, "mtp.", "mtp", mw.hc_head, mw.norm);
        // e and h: recompute directly for the comparison.
        const int S = static_cast<int>(mtp_tokens.size()), D = cfg.dim;
        Vec h(static_cast<size_t>(S) * D), e(h.size()), hn(hidden->values.size());
        model.Embed(mtp_tokens, h.data());
        RmsNorm(h.data(), S, D, mw.enorm.data(), cfg.norm_eps, e.data());
        RmsNorm(hidden->data(), S * cfg.hc_mult, D, mw.hnorm.data(), cfg.norm_eps, hn.data());
        c.Compare(phase, "mtp", "e", e);
        c.Compare(phase, "mtp", "h", hn);
      }
    }
  } catch (const std::exception& e) {
    *error = e.what();
    return false;
  }
  return c.Report();
}

bool DumpStages(const Model& model, const std::string& stages_dir, const std::string& out_dir,
                std::string* error) {
  StageFile f;
  if (!f.Load(stages_dir, error)) return false;
  const auto& man = f.manifest();
  const auto prompt = man.at("prompt_ids").get<std::vector<int32_t>>();
  const auto decode = man.at("decode_ids").get<std::vector<int32_t>>();
  const int32_t token = man.at("decode_token").get<int32_t>();
  const int32_t mtp_token = man.at("mtp_decode_token").get<int32_t>();
  const auto mtp_prefill = man.at("mtp_prefill_ids").get<std::vector<int32_t>>();
  StageWriter w;
  Sequence seq(model, SequenceOptions{.mtp = true});
  std::vector<float> logits;
  w.set_phase("prefill");
  Status st = seq.Append(prompt, &logits, &w);
  if (st.ok()) st = seq.MtpLogits(mtp_prefill.back(), &logits, &w);
  for (size_t k = 0; st.ok() && k < decode.size(); ++k) {  // untraced steps
    st = seq.Append({&decode[k], 1}, &logits);
    if (st.ok()) st = seq.MtpLogits(k + 1 < decode.size() ? decode[k + 1] : token, &logits);
  }
  w.set_phase("decode");
  if (st.ok()) st = seq.Append({&token, 1}, &logits, &w);
  if (st.ok()) st = seq.MtpLogits(mtp_token, &logits, &w);
  if (!st.ok()) {
    *error = st.ToString();
    return false;
  }
  nlohmann::json header = man;
  header.erase("tensors");
  header["producer"] = "dsv4 golden --dump-stages (this engine's own chained run)";
  return w.Write(out_dir, header, error);
}

}  // namespace dsv4
