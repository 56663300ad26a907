// Tokenizer throughput, one core: encode MB/s of UTF-8 input (English; the whole multilingual
// reference corpus) and decode MB/s of output text. Prints numbers only, never asserts on time.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "tokenizer/tokenizer.h"

namespace {

constexpr size_t kCorpusBytes = 4u << 20;  // a few MB: well past any cache effect per call

const dsv4::Tokenizer& Tok() {
  static auto t =
      std::move(dsv4::Tokenizer::Load(std::string(DSV4_SHARED_DIR) + "/tokenizer")).value();
  return *t;
}

// Texts of the reference corpus; english_only: the license and man-page cases.
std::vector<std::string> CaseTexts(bool english_only) {
  std::ifstream in(std::string(DSV4_SHARED_DIR) + "/tokenizer/cases.jsonl");
  std::string line;
  std::vector<std::string> texts;
  while (std::getline(in, line)) {
    const auto c = nlohmann::json::parse(line);
    const std::string src = c.value("source", "");
    const bool english =
        src.find("common-licenses") != std::string::npos || src.find("/man") != std::string::npos;
    if (!english_only || english) texts.push_back(c["text"].get<std::string>());
  }
  return texts;
}

// The texts shuffled and repeated up to kCorpusBytes.
std::string Corpus(bool english_only) {
  std::vector<std::string> texts = CaseTexts(english_only);
  std::mt19937 rng(1);
  std::string out;
  while (out.size() < kCorpusBytes) {
    std::shuffle(texts.begin(), texts.end(), rng);
    for (const auto& t : texts) out += t + "\n";
  }
  return out;
}

void EncodeBench(benchmark::State& state, const std::string& text) {
  size_t tokens = 0;
  for (auto _ : state) {
    auto ids = Tok().Encode(text);
    tokens = ids->size();
    benchmark::DoNotOptimize(ids);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["bytes/token"] = static_cast<double>(text.size()) / tokens;
}

void BM_EncodeEnglish(benchmark::State& state) {
  static const std::string text = Corpus(/*english_only=*/true);
  EncodeBench(state, text);
}
BENCHMARK(BM_EncodeEnglish)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_EncodeAllCases(benchmark::State& state) {
  static const std::string text = Corpus(/*english_only=*/false);
  EncodeBench(state, text);
}
BENCHMARK(BM_EncodeAllCases)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_DecodeAllCases(benchmark::State& state) {
  static const std::string text = Corpus(/*english_only=*/false);
  static const std::vector<int32_t> ids = *Tok().Encode(text);
  for (auto _ : state) benchmark::DoNotOptimize(Tok().Decode(ids));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_DecodeAllCases)->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
