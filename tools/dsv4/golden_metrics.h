// Comparison metrics of the golden checks (shared/golden/README.md "How to compare").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dsv4 {

// ‖a − r‖₂ / ‖r‖₂ over entries where r is finite; `pattern_ok` is false when a and r disagree on
// which entries are ±inf/NaN (masked scores, −inf carries).
struct TensorDiff {
  double rel_l2 = 0.0;
  double max_abs = 0.0;
  bool pattern_ok = true;
};
TensorDiff CompareTensors(const float* a, const float* r, size_t n);

struct RowMetrics {
  double rel_l2, max_abs, kl;
  bool top1;
};
RowMetrics CompareLogits(const float* a, const float* r, int vocab);

struct FileMetrics {
  int rows = 0;
  double mean_rel = 0, median_rel = 0, max_rel = 0, max_abs = 0, top1 = 0, mean_kl = 0, max_kl = 0;
  // Means without the single worst row (by KL): one chaotic row (rel-L2 0.8, KL 2.5, as the golden
  // README measured for the official code's own alternate kernels) must not decide a 40-row file.
  double trimmed_mean_rel = 0, trimmed_mean_kl = 0;
};
FileMetrics Aggregate(const std::vector<RowMetrics>& rows);

// The band a correct engine lands in (golden README "Realistic tolerance"): median rel-L2 ≤ 0.10,
// mean ≤ 0.12, top-1 agreement ≥ 75 %, mean KL ≤ 0.06 — "do not gate on per-row maxima", so the
// means are taken without the single worst row. (Untrimmed, the README's own "harness fp32acc"
// run of the official code has mean KL 0.080 on pro-tiny MTP because of one row.)
bool WithinEndToEndBand(const FileMetrics& m, std::string* why);

std::vector<float> ReadF32File(const std::string& path, std::string* error);
bool WriteF32File(const std::string& path, const std::vector<float>& data);

}  // namespace dsv4
