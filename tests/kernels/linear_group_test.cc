// LinearFp8Group / LinearFp4Group / LinearFp8AsBf16Group: one parallel pass over many linears
// gives every output bit for bit what the single calls give (on every compiled target), including
// empty jobs and row counts that do not divide evenly among threads.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <random>
#include <vector>

#include "base/numeric.h"
#include "kernels/cpu/cpu.h"
#include "kernels/kernels.h"
#include "for_each_target.h"

namespace dsv4 {
namespace {

struct Shape {
  int m, n, k;
};
// Mixed m: the FP4 group splits its pass by work (rows weighted by 1 + m/16), so m = 17 and 40 rows
// weigh 2 and 3.
// Jobs 1, 8 and 9 have the (m, k) of jobs 0, 0 and 7, so they can share an input; job 0 has no
// weight rows (the shared preparation must not depend on the first job having any).
const Shape kShapes[] = {{1, 0, 512},   {1, 256, 512},  {2, 384, 256},
                         {0, 128, 128}, {5, 128, 640},  {1, 1024, 128}, {40, 96, 256},
                         {17, 200, 128}, {1, 128, 512}, {17, 64, 128}};

std::vector<float> Acts(std::mt19937& rng, int m, int k) {
  std::normal_distribution<float> g(0, 1);
  std::vector<float> x(static_cast<size_t>(m) * k);
  for (float& v : x) v = RoundBf16(g(rng));
  return x;
}

// The jobs of kShapes (random codes and scales from `fill`, one weight format) through `group`
// equal them through `single`, bit for bit. shared_inputs: a job whose (m, k) an earlier job has
// takes that job's input array (an expert's w1 and w3: the group prepares it once).
template <class Weight, class Fill, class Single, class Group>
void ExpectGroupEqualsSingleCalls(uint32_t seed, const Fill& fill, const Single& single,
                                  const Group& group, bool shared_inputs = false) {
  std::mt19937 rng(seed);
  std::vector<std::vector<uint8_t>> codes(std::size(kShapes)), scales(std::size(kShapes));
  std::vector<std::vector<float>> xs, ys, singles;
  std::vector<LinearJob<Weight>> jobs;
  for (size_t j = 0; j < std::size(kShapes); ++j) {
    const Shape& s = kShapes[j];
    fill(rng, s, &codes[j], &scales[j]);
    xs.push_back(Acts(rng, s.m, s.k));
    ys.emplace_back(static_cast<size_t>(s.m) * s.n, -7.0f);
    singles.emplace_back(static_cast<size_t>(s.m) * s.n, -7.0f);
  }
  int shared = 0;
  for (size_t j = 0; j < std::size(kShapes); ++j) {
    const Shape& s = kShapes[j];
    const Weight w{codes[j].data(), scales[j].data(), s.n, s.k};
    const float* x = xs[j].data();
    for (size_t i = 0; shared_inputs && i < j; ++i) {
      if (kShapes[i].m == s.m && kShapes[i].k == s.k) {
        x = xs[i].data();
        ++shared;
        break;
      }
    }
    jobs.push_back({x, s.m, w, ys[j].data()});
    single(x, s.m, w, singles[j].data());
  }
  if (shared_inputs) {
    EXPECT_GE(shared, 2);
  }
  group(jobs.data(), static_cast<int>(jobs.size()));
  for (size_t j = 0; j < jobs.size(); ++j) EXPECT_EQ(ys[j], singles[j]) << "job " << j;
}

// MXFP4: any nibbles, e8m0 scales around 2^-2.
void FillFp4(std::mt19937& rng, const Shape& s, std::vector<uint8_t>* codes,
             std::vector<uint8_t>* scales) {
  codes->resize(static_cast<size_t>(s.n) * s.k / 2);
  scales->resize(static_cast<size_t>(s.n) * s.k / 32);
  for (auto& b : *codes) b = static_cast<uint8_t>(rng());
  for (auto& e : *scales) e = static_cast<uint8_t>(115 + rng() % 20);
}

// FP8: any non-NaN e4m3 code, a scale per 128 × 128 block.
void FillFp8(std::mt19937& rng, const Shape& s, std::vector<uint8_t>* codes,
             std::vector<uint8_t>* scales) {
  codes->resize(static_cast<size_t>(s.n) * s.k);
  scales->resize(static_cast<size_t>((s.n + 127) / 128) * ((s.k + 127) / 128));
  for (auto& c : *codes) c = static_cast<uint8_t>(rng() % 0x7f) | (rng() & 0x80);
  for (auto& e : *scales) e = static_cast<uint8_t>(115 + rng() % 20);
}

TEST(LinearGroup, Fp4GroupEqualsSingleCalls) {
  ForEachTarget([] {
    ExpectGroupEqualsSingleCalls<Fp4Weight>(31, FillFp4, cpu::LinearFp4, cpu::LinearFp4Group);
  });
}

// MXFP4 with a few rows whose scales leave the folded range (their outputs come from the
// per-block kernel, which reads the other activation layout of the shared preparation).
void FillFp4SomeUnfoldable(std::mt19937& rng, const Shape& s, std::vector<uint8_t>* codes,
                           std::vector<uint8_t>* scales) {
  FillFp4(rng, s, codes, scales);
  for (int row = 1; row < s.n; row += 37) (*scales)[static_cast<size_t>(row) * s.k / 32] = 200;
}

TEST(LinearGroup, Fp4GroupWithSharedInputsEqualsSingleCalls) {
  ForEachTarget([] {
    ExpectGroupEqualsSingleCalls<Fp4Weight>(34, FillFp4SomeUnfoldable, cpu::LinearFp4,
                                            cpu::LinearFp4Group, /*shared_inputs=*/true);
  });
}

TEST(LinearGroup, Fp8GroupEqualsSingleCalls) {
  ForEachTarget([] {
    ExpectGroupEqualsSingleCalls<Fp8Weight>(32, FillFp8, cpu::LinearFp8, cpu::LinearFp8Group);
  });
}

// FP8 jobs sharing inputs (the shared expert's w1 and w3): prepared once on AVX2.
TEST(LinearGroup, Fp8GroupWithSharedInputsEqualsSingleCalls) {
  ForEachTarget([] {
    ExpectGroupEqualsSingleCalls<Fp8Weight>(35, FillFp8, cpu::LinearFp8, cpu::LinearFp8Group,
                                            /*shared_inputs=*/true);
  });
}

// wo_a's groups at decode (OutputProjection).
TEST(LinearGroup, Fp8AsBf16GroupEqualsSingleCalls) {
  ForEachTarget([] {
    ExpectGroupEqualsSingleCalls<Fp8Weight>(33, FillFp8, cpu::LinearFp8AsBf16,
                                            cpu::LinearFp8AsBf16Group);
  });
}

}  // namespace
}  // namespace dsv4
