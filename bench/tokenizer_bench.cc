// Tokenizer encode throughput on English text (MB/s of UTF-8 input, one core). Prints numbers only.
#include <benchmark/benchmark.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tokenizer/tokenizer.h"

namespace {

const dsv4::Tokenizer& Tok() {
  static auto t = std::move(dsv4::Tokenizer::Load(std::string(DSV4_SHARED_DIR) + "/tokenizer")).value();
  return *t;
}

// ~4 MB of English: the license and man-page cases of the reference corpus, repeated.
const std::string& EnglishText() {
  static const std::string text = [] {
    std::ifstream in(std::string(DSV4_SHARED_DIR) + "/tokenizer/cases.jsonl");
    std::string line, english;
    while (std::getline(in, line)) {
      const auto c = nlohmann::json::parse(line);
      const std::string src = c.value("source", "");
      if (src.find("common-licenses") != std::string::npos || src.find("/man") != std::string::npos) {
        english += c["text"].get<std::string>();
        english += '\n';
      }
    }
    std::string out;
    while (out.size() < (4u << 20)) out += english;
    return out;
  }();
  return text;
}

void BM_EncodeEnglish(benchmark::State& state) {
  const std::string& text = EnglishText();
  size_t tokens = 0;
  for (auto _ : state) {
    auto ids = Tok().Encode(text);
    tokens = ids->size();
    benchmark::DoNotOptimize(ids);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * text.size());
  state.counters["tokens"] = static_cast<double>(tokens);
}
BENCHMARK(BM_EncodeEnglish)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
