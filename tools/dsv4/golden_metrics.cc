#include "golden_metrics.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace dsv4 {

TensorDiff CompareTensors(const float* a, const float* r, size_t n) {
  TensorDiff d;
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const bool fa = std::isfinite(a[i]), fr = std::isfinite(r[i]);
    if (!fr || !fa) {
      if (fa != fr || (!fr && !(a[i] == r[i] || (std::isnan(a[i]) && std::isnan(r[i]))))) {
        d.pattern_ok = false;
      }
      continue;
    }
    const double diff = static_cast<double>(a[i]) - r[i];
    num += diff * diff;
    den += static_cast<double>(r[i]) * r[i];
    d.max_abs = std::max(d.max_abs, std::fabs(diff));
  }
  d.rel_l2 = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  return d;
}

RowMetrics CompareLogits(const float* a, const float* r, int vocab) {
  const TensorDiff d = CompareTensors(a, r, vocab);
  // KL(softmax(r) ‖ softmax(a)) in nats, in double.
  const double ma = *std::max_element(a, a + vocab), mr = *std::max_element(r, r + vocab);
  double za = 0, zr = 0;
  for (int i = 0; i < vocab; ++i) {
    za += std::exp(a[i] - ma);
    zr += std::exp(r[i] - mr);
  }
  double kl = 0;
  for (int i = 0; i < vocab; ++i) {
    const double lr = r[i] - mr - std::log(zr), la = a[i] - ma - std::log(za);
    kl += std::exp(lr) * (lr - la);
  }
  const int arg_a = static_cast<int>(std::max_element(a, a + vocab) - a);
  const int arg_r = static_cast<int>(std::max_element(r, r + vocab) - r);
  return RowMetrics{d.rel_l2, d.max_abs, kl, arg_a == arg_r};
}

FileMetrics Aggregate(const std::vector<RowMetrics>& rows) {
  FileMetrics m;
  m.rows = static_cast<int>(rows.size());
  if (rows.empty()) return m;
  std::vector<double> rel;
  for (const auto& r : rows) {
    rel.push_back(r.rel_l2);
    m.mean_rel += r.rel_l2;
    m.max_rel = std::max(m.max_rel, r.rel_l2);
    m.max_abs = std::max(m.max_abs, r.max_abs);
    m.top1 += r.top1 ? 1 : 0;
    m.mean_kl += r.kl;
    m.max_kl = std::max(m.max_kl, r.kl);
  }
  const size_t n = rel.size();
  size_t worst = 0;
  for (size_t i = 1; i < n; ++i) {
    if (rows[i].kl > rows[worst].kl) worst = i;
  }
  if (n > 1) {
    m.trimmed_mean_rel = (m.mean_rel - rows[worst].rel_l2) / (n - 1);
    m.trimmed_mean_kl = (m.mean_kl - rows[worst].kl) / (n - 1);
  } else {
    m.trimmed_mean_rel = m.mean_rel;
    m.trimmed_mean_kl = m.mean_kl;
  }
  std::sort(rel.begin(), rel.end());
  m.median_rel = n % 2 ? rel[n / 2] : 0.5 * (rel[n / 2 - 1] + rel[n / 2]);
  m.mean_rel /= n;
  m.top1 /= n;
  m.mean_kl /= n;
  return m;
}

bool WithinEndToEndBand(const FileMetrics& m, std::string* why) {
  std::ostringstream out;
  if (m.median_rel > 0.10) out << " median rel-L2 " << m.median_rel << " > 0.10;";
  if (m.trimmed_mean_rel > 0.12) out << " mean rel-L2 " << m.trimmed_mean_rel << " > 0.12;";
  if (m.top1 < 0.75) out << " top-1 agreement " << m.top1 << " < 0.75;";
  if (m.trimmed_mean_kl > 0.06) out << " mean KL " << m.trimmed_mean_kl << " > 0.06;";
  *why = out.str();
  return why->empty();
}

std::vector<float> ReadF32File(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    *error = "cannot open " + path;
    return {};
  }
  const std::streamsize size = in.tellg();
  if (size % 4 != 0) {
    *error = path + ": size " + std::to_string(size) + " is not a multiple of 4";
    return {};
  }
  std::vector<float> v(size / 4);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), size);
  return v;
}

bool WriteF32File(const std::string& path, const std::vector<float>& data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()),
            static_cast<std::streamsize>(data.size() * sizeof(float)));
  return static_cast<bool>(out);
}

}  // namespace dsv4
