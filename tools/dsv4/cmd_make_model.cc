// dsv4 make-model --preset NAME --out DIR [--seed S] [--shards N] [--tokenizer DIR]
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "command.h"
#include "model/model.h"
#include "runtime/make_model.h"

namespace dsv4 {
namespace {

void Usage() {
  std::fprintf(stderr, "usage: dsv4 make-model --preset NAME --out DIR [--seed S] [--shards N] "
                       "[--tokenizer DIR] [--no-tokenizer]\npresets:\n");
  for (const ModelPreset& p : ModelPresets()) std::fprintf(stderr, "  %-12s %s\n", p.name, p.description);
}

int RunMakeModel(const std::vector<std::string>& args) {
  std::string preset_name, out, tokenizer = "models/tokenizer";
  uint64_t seed = 0;
  int shards = 0;
  bool copy_tokenizer = true;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& f = args[i];
    const bool has = i + 1 < args.size();
    if (f == "--preset" && has) preset_name = args[++i];
    else if (f == "--out" && has) out = args[++i];
    else if (f == "--seed" && has) seed = std::strtoull(args[++i].c_str(), nullptr, 10);
    else if (f == "--shards" && has) shards = std::atoi(args[++i].c_str());
    else if (f == "--tokenizer" && has) tokenizer = args[++i];
    else if (f == "--no-tokenizer") copy_tokenizer = false;
    else {
      Usage();
      return 2;
    }
  }
  const ModelPreset* preset = FindPreset(preset_name);
  if (preset == nullptr || out.empty() || shards < 0) {
    if (!preset_name.empty() && preset == nullptr) {
      std::fprintf(stderr, "dsv4 make-model: unknown preset '%s'\n", preset_name.c_str());
    }
    Usage();
    return 2;
  }
  // A vocabulary that is not the real tokenizer's gets no tokenizer.json.
  if (preset->config.vocab_size != 129280) copy_tokenizer = false;
  MakeModelOptions o{.out_dir = out,
                     .seed = seed,
                     .shards = shards > 0 ? shards : preset->shards,
                     .tokenizer_dir = copy_tokenizer ? tokenizer : "",
                     .progress = true};
  if (Status s = MakeModel(preset->config, o); !s.ok()) {
    std::fprintf(stderr, "dsv4 make-model: %s\n", s.ToString().c_str());
    return 1;
  }
  auto check = Model::Load(out);  // the written checkpoint must load and validate
  if (!check.ok()) {
    std::fprintf(stderr, "dsv4 make-model: written model does not load: %s\n",
                 check.status().ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "dsv4 make-model: %s preset written to %s (random weights: its text is noise)\n",
               preset->name, out.c_str());
  return 0;
}

const CommandRegistrar kRegistrar{"make-model", "write a random-weight checkpoint in the official format",
                                  &RunMakeModel};

}  // namespace
}  // namespace dsv4
