// dsv4 make-model --preset NAME --out DIR [--seed S] [--shards N] [--tokenizer PATH]
//                 [--no-tokenizer] [--if-missing]
// Writes a random-weight checkpoint in the official format and checks that it loads.
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "command.h"
#include "model/model.h"
#include "runtime/make_model.h"

namespace dsv4 {
namespace {

namespace fs = std::filesystem;

struct MakeArgs {
  std::string preset, out, tokenizer = "models/tokenizer";
  uint64_t seed = 0;
  int shards = 0;  // 0: the preset's default
  bool copy_tokenizer = true, if_missing = false, help = false;
};

void Usage() {
  std::fprintf(stderr,
               "usage: dsv4 make-model --preset NAME --out DIR [--seed S] [--shards N] "
               "[--tokenizer PATH] [--no-tokenizer] [--if-missing]\n"
               "  --tokenizer PATH  tokenizer.json or its directory (default models/tokenizer);\n"
               "                    copied for presets with the real 129280-token vocabulary\n"
               "  --if-missing      do nothing when DIR already holds this preset and seed, valid\n"
               "presets:\n");
  for (const ModelPreset& p : ModelPresets()) {
    std::fprintf(stderr, "  %-12s %s\n", p.name, p.description);
  }
}

template <typename T>
bool ParseInteger(const std::string& s, T* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// An error message, empty when fine.
std::string Parse(const std::vector<std::string>& args, MakeArgs* a) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& f = args[i];
    const bool has = i + 1 < args.size();
    bool ok = true;
    if (f == "--preset" && has) a->preset = args[++i];
    else if (f == "--out" && has) a->out = args[++i];
    else if (f == "--seed" && has) ok = ParseInteger(args[++i], &a->seed);
    else if (f == "--shards" && has) ok = ParseInteger(args[++i], &a->shards) && a->shards > 0;
    else if (f == "--tokenizer" && has) a->tokenizer = args[++i];
    else if (f == "--no-tokenizer") a->copy_tokenizer = false;
    else if (f == "--if-missing") a->if_missing = true;
    else if (f == "--help" || f == "-h") a->help = true;
    else return "unknown flag or missing value: " + f;
    if (!ok) return "bad value '" + args[i] + "' for " + f;
  }
  if (a->help) return "";
  if (a->preset.empty() || a->out.empty()) return "--preset NAME and --out DIR are required";
  if (FindPreset(a->preset) == nullptr) return "unknown preset '" + a->preset + "'";
  return "";
}

// True when `dir` already holds a loadable model made from this preset and seed (and its
// tokenizer when one is wanted).
bool AlreadyThere(const MakeArgs& a, bool wants_tokenizer) {
  std::ifstream in(fs::path(a.out) / kModelCardFile);
  if (!in) return false;
  try {
    const nlohmann::json card = nlohmann::json::parse(in);
    if (card.value("preset", "") != a.preset || card.value("seed", uint64_t{1} + a.seed) != a.seed) {
      return false;
    }
  } catch (const std::exception&) {
    return false;
  }
  if (wants_tokenizer && !fs::exists(fs::path(a.out) / "tokenizer.json")) return false;
  return Model::Load(a.out).ok();
}

int RunMakeModel(const std::vector<std::string>& args) {
  MakeArgs a;
  if (const std::string error = Parse(args, &a); !error.empty() || a.help) {
    if (!error.empty()) std::fprintf(stderr, "dsv4 make-model: %s\n", error.c_str());
    Usage();
    return error.empty() ? 0 : 2;
  }
  const ModelPreset* preset = FindPreset(a.preset);
  // The real tokenizer only fits the real vocabulary (its special tokens sit near id 128800).
  const bool tokenizer = a.copy_tokenizer && preset->config.vocab_size == kDeepSeekVocab;
  if (a.if_missing && AlreadyThere(a, tokenizer)) {
    std::fprintf(stderr, "dsv4 make-model: %s already holds the %s preset (seed %llu); kept\n",
                 a.out.c_str(), preset->name, static_cast<unsigned long long>(a.seed));
    return 0;
  }
  const MakeModelOptions o{.out_dir = a.out,
                           .seed = a.seed,
                           .shards = a.shards > 0 ? a.shards : preset->shards,
                           .tokenizer = tokenizer ? a.tokenizer : "",
                           .progress = true,
                           .preset_name = preset->name};
  if (Status s = MakeModel(preset->config, o); !s.ok()) {
    std::fprintf(stderr, "dsv4 make-model: %s\n", s.ToString().c_str());
    return 1;
  }
  auto check = Model::Load(a.out);  // the written checkpoint must load and validate
  if (!check.ok()) {
    std::fprintf(stderr, "dsv4 make-model: written model does not load: %s\n",
                 check.status().ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "dsv4 make-model: %s preset written to %s%s (random weights: text is noise)\n",
               preset->name, a.out.c_str(), tokenizer ? " with the DeepSeek tokenizer" : "");
  return 0;
}

const CommandRegistrar kRegistrar{"make-model",
                                  "write a random-weight checkpoint in the official format",
                                  &RunMakeModel};

}  // namespace
}  // namespace dsv4
