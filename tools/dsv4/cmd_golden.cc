// dsv4 golden CASE_DIR: runs a golden case (shared/golden/README.md) end to end — prefill, every
// teacher-forced decode step, MTP, greedy rows, per-layer hidden states, a chunked-prefill variant —
// and every stage of every layer on the reference's inputs; prints metrics; exits 1 when outside
// tolerance.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/check.h"
#include "command.h"
#include "golden_metrics.h"
#include "golden_stages.h"
#include "model/model.h"
#include "runtime/sequence.h"

namespace dsv4 {
namespace {

using json = nlohmann::json;

struct GoldenArgs {
  std::string case_dir, dump_logits, dump_mtp, dump_hidden, dump_stages;
  int chunk = 37;  // chunk size of the chunked-prefill variant (prime: chunks straddle blocks)
  bool verbose = false, skip_stages = false;
};

// N for a block's output stage "L<N>.out" (shape [S, hc, D]), else -1. Only that exact name: the
// stages inside a block ("L2.attn.out", "L2.ffn.out") also end in ".out" but are [S, D], and
// reading them as block outputs ran past their end (valgrind; a segfault on a CI machine).
int BlockOutputLayer(const std::string& name) {
  if (name.size() < 6 || name[0] != 'L' || !name.ends_with(".out")) return -1;
  const std::string digits = name.substr(1, name.size() - 5);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return -1;
  }
  return std::stoi(digits);
}

// Captures the block outputs at the last position of the prefill (hidden.f32 layout).
class HiddenSink : public TraceSink {
 public:
  HiddenSink(const ModelConfig& cfg) : cfg_(cfg) {}
  void Record(const std::string& name, const float* data, const std::vector<int64_t>& shape,
              TraceDType) override {
    const size_t per_pos = static_cast<size_t>(cfg_.hc_mult) * cfg_.dim;
    if (int layer = BlockOutputLayer(name); layer >= 0) {
      DSV4_CHECK(shape.size() == 3 && static_cast<size_t>(shape[1] * shape[2]) == per_pos);
      const int64_t S = shape[0];
      layers_[layer] = std::vector<float>(data + (S - 1) * per_pos, data + S * per_pos);
    } else if (name == "final.norm") {
      final_norm_.assign(data, data + cfg_.dim);
    }
  }
  std::vector<float> Hidden() const {
    std::vector<float> h;
    for (const auto& [l, v] : layers_) h.insert(h.end(), v.begin(), v.end());
    h.insert(h.end(), final_norm_.begin(), final_norm_.end());
    return h;
  }

 private:
  const ModelConfig& cfg_;
  std::map<int, std::vector<float>> layers_;
  std::vector<float> final_norm_;
};

struct E2EResult {
  std::vector<float> logits, mtp, greedy, hidden;
  double prefill_s = 0, decode_s = 0;  // main model only (MTP excluded)
  size_t prefill_tokens = 0, decode_tokens = 0;
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Rows exactly as case.json defines them.
Status RunEndToEnd(const Model& model, const json& c, int chunk, E2EResult* r) {
  const auto prompt = c["prompt_ids"].get<std::vector<int32_t>>();
  const auto decode = c["decode_ids"].get<std::vector<int32_t>>();
  Sequence seq(model, SequenceOptions{.prefill_chunk = chunk, .mtp = true});
  std::vector<float> logits, mtp;
  HiddenSink hidden(model.config());
  auto t0 = std::chrono::steady_clock::now();
  DSV4_RETURN_IF_ERROR(seq.Append(prompt, &logits, chunk == 0 ? &hidden : nullptr));
  r->prefill_s = Seconds(t0);
  r->prefill_tokens = prompt.size();
  r->hidden = hidden.Hidden();
  r->logits.insert(r->logits.end(), logits.begin(), logits.end());
  for (size_t k = 0; k < decode.size(); ++k) {
    DSV4_RETURN_IF_ERROR(seq.MtpLogits(decode[k], &mtp));  // MTP row k
    r->mtp.insert(r->mtp.end(), mtp.begin(), mtp.end());
    const int32_t tok = decode[k];
    t0 = std::chrono::steady_clock::now();
    DSV4_RETURN_IF_ERROR(seq.Append({&tok, 1}, &logits));  // logits row k + 1
    r->decode_s += Seconds(t0);
    ++r->decode_tokens;
    r->logits.insert(r->logits.end(), logits.begin(), logits.end());
  }
  return Status::Ok();
}

Status RunGreedy(const Model& model, const json& c, const json& greedy, E2EResult* r) {
  const auto prompt = c["prompt_ids"].get<std::vector<int32_t>>();
  const auto tokens = greedy["greedy_tokens"].get<std::vector<int32_t>>();
  Sequence seq(model);
  std::vector<float> logits;
  DSV4_RETURN_IF_ERROR(seq.Append(prompt, &logits));
  r->greedy = logits;
  for (size_t j = 0; j + 1 < tokens.size(); ++j) {  // teacher-forced with the golden tokens
    DSV4_RETURN_IF_ERROR(seq.Append({&tokens[j], 1}, &logits));
    r->greedy.insert(r->greedy.end(), logits.begin(), logits.end());
  }
  return Status::Ok();
}

// Compares a [rows, V] block with the golden file; prints the aggregate line; returns pass/fail.
bool CheckFile(const std::string& label, const std::vector<float>& mine, const std::string& path,
               int vocab) {
  std::string err;
  const std::vector<float> ref = ReadF32File(path, &err);
  if (!err.empty() || ref.size() != mine.size()) {
    std::printf("  %-18s FAIL: %s (golden %zu values, computed %zu)\n", label.c_str(), err.c_str(),
                ref.size(), mine.size());
    return false;
  }
  std::vector<RowMetrics> rows;
  for (size_t r = 0; r * vocab < ref.size(); ++r) {
    rows.push_back(CompareLogits(&mine[r * vocab], &ref[r * vocab], vocab));
    std::printf("    %s row %3zu  rel-L2 %.4f  max-abs %.3f  KL %.5f  top-1 %s\n", label.c_str(), r,
                rows.back().rel_l2, rows.back().max_abs, rows.back().kl,
                rows.back().top1 ? "same" : "differs");
  }
  const FileMetrics m = Aggregate(rows);
  std::string why;
  const bool ok = WithinEndToEndBand(m, &why);
  std::printf("  %-18s rows %3d  rel-L2 mean %.4f (w/o worst row %.4f) median %.4f max %.4f"
              "  max-abs %.3f  top-1 %5.1f%%  KL mean %.5f (w/o worst row %.5f) max %.4f"
              "  row0 rel-L2 %.4f  %s%s\n",
              label.c_str(), m.rows, m.mean_rel, m.trimmed_mean_rel, m.median_rel, m.max_rel,
              m.max_abs, 100 * m.top1, m.mean_kl, m.trimmed_mean_kl, m.max_kl,
              rows.empty() ? 0.0 : rows[0].rel_l2, ok ? "ok" : "FAIL:", why.c_str());
  return ok;
}

bool ParseArgs(const std::vector<std::string>& args, GoldenArgs* a) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& f = args[i];
    auto next = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    std::string v;
    if (f == "--dump-logits") { if (!next(&a->dump_logits)) return false; }
    else if (f == "--dump-mtp") { if (!next(&a->dump_mtp)) return false; }
    else if (f == "--dump-hidden") { if (!next(&a->dump_hidden)) return false; }
    else if (f == "--dump-stages") { if (!next(&a->dump_stages)) return false; }
    else if (f == "--chunk") { if (!next(&v)) return false; a->chunk = std::atoi(v.c_str()); }
    else if (f == "--verbose" || f == "-v") a->verbose = true;
    else if (f == "--skip-stages") a->skip_stages = true;
    else if (!f.empty() && f[0] != '-' && a->case_dir.empty()) a->case_dir = f;
    else return false;
  }
  return !a->case_dir.empty() && a->chunk > 0;
}

int RunGolden(const std::vector<std::string>& args) {
  // Line-buffered even into a pipe (the golden tests capture it): if a run dies, what it printed
  // up to then survives and shows how far it got (session 11's CI crash printed nothing).
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  GoldenArgs a;
  if (!ParseArgs(args, &a)) {
    std::fprintf(stderr,
                 "usage: dsv4 golden CASE_DIR [--dump-logits F] [--dump-mtp F] [--dump-hidden F]\n"
                 "                    [--dump-stages DIR] [--chunk N] [--skip-stages] [--verbose]\n");
    return 2;
  }
  std::ifstream cf(a.case_dir + "/case.json");
  if (!cf) {
    std::fprintf(stderr, "dsv4 golden: %s/case.json not found\n", a.case_dir.c_str());
    return 2;
  }
  json c, greedy;
  try {
    c = json::parse(cf);
    std::ifstream gf(a.case_dir + "/greedy.json");
    if (gf) greedy = json::parse(gf);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsv4 golden: malformed case files: %s\n", e.what());
    return 2;
  }
  auto loaded = Model::Load(a.case_dir + "/model");
  if (!loaded.ok()) {
    std::fprintf(stderr, "dsv4 golden: %s\n", loaded.status().ToString().c_str());
    return 2;
  }
  const Model& model = **loaded;
  const int V = model.config().vocab_size;
  std::printf("golden case %s\n", a.case_dir.c_str());

  E2EResult e2e, chunked;
  Status st = RunEndToEnd(model, c, 0, &e2e);
  if (st.ok()) st = RunEndToEnd(model, c, a.chunk, &chunked);
  if (st.ok() && !greedy.is_null()) st = RunGreedy(model, c, greedy, &e2e);
  if (!st.ok()) {
    std::fprintf(stderr, "dsv4 golden: %s\n", st.ToString().c_str());
    return 1;
  }
  std::printf("speed (main model, this build's kernels): prefill %zu tokens %.1f tok/s, "
              "decode %zu steps %.1f tok/s\n", e2e.prefill_tokens,
              e2e.prefill_tokens / std::max(e2e.prefill_s, 1e-9), e2e.decode_tokens,
              e2e.decode_tokens / std::max(e2e.decode_s, 1e-9));
  bool ok = true;
  std::printf("end to end (band: median rel-L2 <= 0.10, mean <= 0.12, top-1 >= 75%%, mean KL <= 0.06;\n"
              "             means without the single worst row)\n");
  ok &= CheckFile("logits.f32", e2e.logits, a.case_dir + "/logits.f32", V);
  ok &= CheckFile("mtp_logits.f32", e2e.mtp, a.case_dir + "/mtp_logits.f32", V);
  if (!greedy.is_null()) {
    ok &= CheckFile("greedy_logits.f32", e2e.greedy, a.case_dir + "/greedy_logits.f32", V);
  }
  {  // hidden.f32: per-layer streams at the last prompt position — informational (debug aid)
    std::string err;
    const std::vector<float> ref = ReadF32File(a.case_dir + "/hidden.f32", &err);
    const size_t per_layer = static_cast<size_t>(model.config().hc_mult) * model.config().dim;
    if (err.empty() && ref.size() == e2e.hidden.size()) {
      std::printf("  hidden.f32         per-layer rel-L2:");
      for (int l = 0; l < model.config().n_layers; ++l) {
        std::printf(" L%d %.4f", l, CompareTensors(&e2e.hidden[l * per_layer], &ref[l * per_layer], per_layer).rel_l2);
      }
      const size_t off = model.config().n_layers * per_layer;
      std::printf("  final %.4f (informational)\n",
                  CompareTensors(&e2e.hidden[off], &ref[off], model.config().dim).rel_l2);
    }
  }
  // Chunked prefill must reproduce the one-shot run: same math, same rounding points.
  const TensorDiff cl = CompareTensors(chunked.logits.data(), e2e.logits.data(), e2e.logits.size());
  const TensorDiff cm = CompareTensors(chunked.mtp.data(), e2e.mtp.data(), e2e.mtp.size());
  const bool chunk_ok = chunked.logits.size() == e2e.logits.size() && cl.rel_l2 <= 1e-6 &&
                        cm.rel_l2 <= 1e-6 && cl.pattern_ok;
  std::printf("chunked prefill (chunks of %d) vs one-shot: logits rel-L2 %.2e max-abs %.2e, "
              "mtp rel-L2 %.2e  %s\n", a.chunk, cl.rel_l2, cl.max_abs, cm.rel_l2,
              chunk_ok ? "ok" : "FAIL (must agree to 1e-6)");
  ok &= chunk_ok;

  if (!a.dump_logits.empty()) WriteF32File(a.dump_logits, e2e.logits);
  if (!a.dump_mtp.empty()) WriteF32File(a.dump_mtp, e2e.mtp);
  if (!a.dump_hidden.empty()) WriteF32File(a.dump_hidden, e2e.hidden);

  const std::string stages = a.case_dir + "/stages";
  if (!a.skip_stages && std::ifstream(stages + "/manifest.json")) {
    std::string err;
    const bool stages_ok = RunStageChecks(model, stages, StageCheckOptions{.verbose = a.verbose}, &err);
    if (!err.empty()) std::printf("stages: %s\n", err.c_str());
    ok &= stages_ok;
    if (!a.dump_stages.empty() && !DumpStages(model, stages, a.dump_stages, &err)) {
      std::fprintf(stderr, "dsv4 golden: --dump-stages: %s\n", err.c_str());
      ok = false;
    }
  } else if (!a.dump_stages.empty()) {
    std::fprintf(stderr, "dsv4 golden: --dump-stages needs the case's stages/ manifest\n");
  }
  std::printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

const CommandRegistrar kRegistrar{"golden", "run a golden case: logits, MTP, chunked prefill, stages",
                                  &RunGolden};

}  // namespace
}  // namespace dsv4
