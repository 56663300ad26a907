// `dsv4 info --model DIR [--json]`: what a DeepSeek-V4 checkpoint is, from its config.json alone
// (weights optional): layer schedule, parameter counts, bytes in native formats, bytes a decoded
// token reads, and KV-cache bytes per token of context. With weights present it also validates
// them against the tensor table and reports the bytes actually on disk.
#include <sys/stat.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "command.h"
#include "io/checkpoint.h"
#include "io/config.h"
#include "model/weights_table.h"

namespace dsv4 {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kKvFp8SimBlock = 64;  // one power-of-two scale per 64 non-rope KV values (§7.3)
constexpr int kFp4SimBlock = 32;    // one power-of-two scale per 32 indexer-key values (§7.3)
constexpr int kBf16Bytes = 2;
constexpr int kF32Bytes = 4;
constexpr int kOverlapRows = 8;  // ratio-4 compressor carry: previous + current block of 4

struct InfoArgs {
  std::string model_dir;
  bool json = false;
};

// Per-token and per-sequence cache bytes (PERF.md "Caches"). Per token of context: one
// compressed entry per r tokens in each ratio>0 layer, plus one indexer key per 4 tokens in CSA
// layers. Fixed per sequence: every block's 128-token window and the compressor carries.
struct CacheAccount {
  double bf16_per_token = 0;    // entries stored in bf16
  double stored_per_token = 0;  // nope dims e4m3 + scale per 64, rope bf16; indexer keys e2m1
  int64_t fixed_per_sequence = 0;
};

CacheAccount AccountCache(const ModelConfig& c) {
  CacheAccount a;
  const int hd = c.head_dim, rd = c.rope_head_dim, ihd = c.index_head_dim;
  const double kv_stored = (hd - rd) + rd * kBf16Bytes + (hd - rd) / kKvFp8SimBlock;
  const double key_stored = ihd / 2.0 + ihd / kFp4SimBlock;
  for (int b = 0; b < c.n_blocks(); ++b) {
    const int r = c.compress_ratio(b);
    a.fixed_per_sequence += static_cast<int64_t>(c.window_size) * hd * kBf16Bytes;
    if (r == 0) continue;  // (the MTP block is ratio 0 in every published config)
    a.bf16_per_token += static_cast<double>(hd) * kBf16Bytes / r;
    a.stored_per_token += kv_stored / r;
    // Carries (fp32 values + scores): overlap [8, 2d] for ratio 4, [r, d] otherwise.
    const int64_t carry_rows = r == 4 ? kOverlapRows : r;
    const int64_t carry_width = r == 4 ? 2 * hd : hd;
    a.fixed_per_sequence += 2 * carry_rows * carry_width * kF32Bytes;
    if (r != 4) continue;
    a.bf16_per_token += static_cast<double>(ihd) * kBf16Bytes / r;
    a.stored_per_token += key_stored / r;
    a.fixed_per_sequence += 2 * kOverlapRows * (2 * ihd) * kF32Bytes;
  }
  return a;
}

bool HasWeights(const std::string& dir) {
  struct stat st {};
  return ::stat((dir + "/model.safetensors").c_str(), &st) == 0 ||
         ::stat((dir + "/model.safetensors.index.json").c_str(), &st) == 0;
}

std::string Count(double n) {
  const char* units[] = {"", "K", "M", "B", "T"};
  int u = 0;
  while (n >= 1000.0 && u < 4) {
    n /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f%s" : "%.2f%s", n, units[u]);
  return buf;
}

std::string Bytes(double n) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (n >= 1000.0 && u < 4) {
    n /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.2f %s", n, units[u]);
  return buf;
}

struct LayerCounts {
  int swa = 0, csa = 0, hca = 0;
};

LayerCounts CountLayers(const ModelConfig& c) {
  LayerCounts n;
  for (int l = 0; l < c.n_layers; ++l) {
    const int r = c.compress_ratio(l);
    (r == 0 ? n.swa : r == 4 ? n.csa : n.hca) += 1;
  }
  return n;
}

Json BuildJson(const InfoArgs& args, const ModelConfig& c, const WeightAccount& w,
               const CacheAccount& kv, int64_t actual_bytes) {
  const LayerCounts n = CountLayers(c);
  Json j;
  j["model_dir"] = args.model_dir;
  j["layers"] = {{"main", c.n_layers}, {"mtp", c.n_mtp_layers}, {"swa", n.swa},
                 {"csa", n.csa},       {"hca", n.hca},          {"hash_routed", c.n_hash_layers}};
  j["dims"] = {{"hidden", c.dim},
               {"vocab", c.vocab_size},
               {"heads", c.n_heads},
               {"head_dim", c.head_dim},
               {"q_lora_rank", c.q_lora_rank},
               {"o_groups", c.o_groups},
               {"o_lora_rank", c.o_lora_rank},
               {"index_heads", c.index_n_heads},
               {"index_topk", c.index_topk},
               {"routed_experts", c.n_routed_experts},
               {"active_experts", c.n_activated_experts},
               {"moe_inter", c.moe_inter_dim},
               {"context", c.max_position_embeddings},
               {"expert_fp4", c.expert_fp4}};
  Json params = {{"total", w.params_main},
                 {"mtp", w.params_mtp},
                 {"total_with_mtp", w.params_main + w.params_mtp},
                 {"active_per_token", w.params_active}};
  for (const auto& [kind, p] : w.params_by_kind) {
    if (kind != TensorKind::kScale) params["by_kind"][TensorKindName(kind)] = p;
  }
  for (const auto& [kind, p] : w.active_params_by_kind) {
    if (kind != TensorKind::kScale) params["active_by_kind"][TensorKindName(kind)] = p;
  }
  j["params"] = params;
  Json bytes = {{"weights", w.bytes_main},
                {"mtp", w.bytes_mtp},
                {"weights_with_mtp", w.bytes_main + w.bytes_mtp},
                {"scales", w.bytes_scales},
                {"per_decoded_token", w.bytes_per_token}};
  for (const auto& [kind, b] : w.bytes_by_kind) bytes["by_kind"][TensorKindName(kind)] = b;
  for (const auto& [kind, b] : w.bytes_per_token_by_kind) {
    bytes["per_token_by_kind"][TensorKindName(kind)] = b;
  }
  bytes["checkpoint_actual"] = actual_bytes >= 0 ? Json(actual_bytes) : Json(nullptr);
  j["bytes"] = bytes;
  const double ctx = static_cast<double>(c.max_position_embeddings);
  j["kv_cache"] = {{"bf16_bytes_per_token", kv.bf16_per_token},
                   {"stored_bytes_per_token", kv.stored_per_token},
                   {"context_tokens", c.max_position_embeddings},
                   {"bf16_bytes_at_context", kv.bf16_per_token * ctx},
                   {"stored_bytes_at_context", kv.stored_per_token * ctx},
                   {"fixed_bytes_per_sequence", kv.fixed_per_sequence}};
  return j;
}

void PrintKindTable(const char* title, const std::map<TensorKind, int64_t>& a,
                    const std::map<TensorKind, int64_t>& b, bool as_bytes) {
  std::printf("%s\n", title);
  for (const auto& [kind, value] : a) {
    if (kind == TensorKind::kScale && !as_bytes) continue;
    const auto it = b.find(kind);
    const double other = it == b.end() ? 0.0 : static_cast<double>(it->second);
    const double v = static_cast<double>(value);
    std::printf("  %-14s %12s %14s\n", TensorKindName(kind),
                (as_bytes ? Bytes(v) : Count(v)).c_str(),
                (as_bytes ? Bytes(other) : Count(other)).c_str());
  }
}

void PrintText(const InfoArgs& args, const ModelConfig& c, const WeightAccount& w,
               const CacheAccount& kv, int64_t actual_bytes) {
  const LayerCounts n = CountLayers(c);
  std::printf("DeepSeek-V4 model: %s%s\n", args.model_dir.c_str(),
              actual_bytes >= 0 ? " (weights validated)" : " (config.json only)");
  std::printf("architecture\n");
  std::printf(
      "  layers       %d main: %d SWA, %d CSA (ratio 4), %d HCA (ratio 128); %d MTP block\n",
      c.n_layers, n.swa, n.csa, n.hca, c.n_mtp_layers);
  std::printf("  width        hidden %d, vocab %d, context %lld tokens, %d hc streams\n", c.dim,
              c.vocab_size, static_cast<long long>(c.max_position_embeddings), c.hc_mult);
  std::printf(
      "  attention    %d heads x %d (rope %d), q_lora %d, %d groups x o_lora %d, window %d\n",
      c.n_heads, c.head_dim, c.rope_head_dim, c.q_lora_rank, c.o_groups, c.o_lora_rank,
      c.window_size);
  std::printf("  indexer      %d heads x %d, top-k %d\n", c.index_n_heads, c.index_head_dim,
              c.index_topk);
  std::printf(
      "  moe          %d routed (%d active, %s) + %d shared, inter %d; %d hash-routed layers\n",
      c.n_routed_experts, c.n_activated_experts, c.expert_fp4 ? "MXFP4" : "FP8", c.n_shared_experts,
      c.moe_inter_dim, c.n_hash_layers);
  std::printf(
      "parameters: %s total (+ %s MTP), %s active per token "
      "(embedding table excluded, one row counted)\n",
      Count(w.params_main).c_str(), Count(w.params_mtp).c_str(), Count(w.params_active).c_str());
  PrintKindTable("  by kind         main + MTP   active/token", w.params_by_kind,
                 w.active_params_by_kind, false);
  std::printf("weights in native formats: %s (+ %s MTP; scales %s)%s\n",
              Bytes(w.bytes_main).c_str(), Bytes(w.bytes_mtp).c_str(),
              Bytes(w.bytes_scales).c_str(),
              actual_bytes >= 0 ? (", on disk " + Bytes(actual_bytes)).c_str() : "");
  std::printf("bytes read per decoded token (batch 1, main model): %s\n",
              Bytes(w.bytes_per_token).c_str());
  PrintKindTable("  by kind         main + MTP      per token", w.bytes_by_kind,
                 w.bytes_per_token_by_kind, true);
  const double ctx = static_cast<double>(c.max_position_embeddings);
  const double gib = 1024.0 * 1024.0 * 1024.0;
  std::printf("KV cache per token of context: %.0f B bf16, %.0f B stored as e4m3/e2m1 + scales\n",
              kv.bf16_per_token, kv.stored_per_token);
  std::printf(
      "  at %lld tokens: %.2f GiB bf16, %.2f GiB stored; fixed per sequence %s "
      "(windows + carries)\n",
      static_cast<long long>(c.max_position_embeddings), kv.bf16_per_token * ctx / gib,
      kv.stored_per_token * ctx / gib, Bytes(kv.fixed_per_sequence).c_str());
}

int Usage(int code) {
  std::fprintf(code == 0 ? stdout : stderr,
               "usage: dsv4 info --model DIR [--json]\n"
               "  DIR holds config.json and optionally the weights (model.safetensors or\n"
               "  model.safetensors.index.json + shards); weights present are validated.\n"
               "  --json  print one JSON object instead of the text report\n");
  return code;
}

int RunInfo(const std::vector<std::string>& argv) {
  InfoArgs args;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--help" || a == "-h") return Usage(0);
    if (a == "--json") {
      args.json = true;
    } else if (a == "--model" && i + 1 < argv.size()) {
      args.model_dir = argv[++i];
    } else if (a.rfind("--model=", 0) == 0) {
      args.model_dir = a.substr(8);
    } else {
      std::fprintf(stderr, "dsv4 info: unknown or incomplete argument '%s'\n", a.c_str());
      return Usage(2);
    }
  }
  if (args.model_dir.empty()) return Usage(2);
  Result<ModelConfig> config = ModelConfig::FromFile(args.model_dir + "/config.json");
  if (!config.ok()) {
    std::fprintf(stderr, "dsv4 info: %s\n", config.status().ToString().c_str());
    return 1;
  }
  int64_t actual_bytes = -1;
  if (HasWeights(args.model_dir)) {
    auto ckpt = Checkpoint::Open(args.model_dir, /*progress=*/!args.json);
    Status st = ckpt.ok() ? ValidateCheckpoint(**ckpt, *config) : ckpt.status();
    if (!st.ok()) {
      std::fprintf(stderr, "dsv4 info: %s\n", st.ToString().c_str());
      return 1;
    }
    actual_bytes = static_cast<int64_t>((*ckpt)->total_bytes());
  }
  const WeightAccount w = AccountWeights(*config);
  const CacheAccount kv = AccountCache(*config);
  if (args.json) {
    std::printf("%s\n", BuildJson(args, *config, w, kv, actual_bytes).dump(2).c_str());
  } else {
    PrintText(args, *config, w, kv, actual_bytes);
  }
  return 0;
}

const CommandRegistrar kReg{"info", "architecture, parameter counts, bytes per token, cache sizes",
                            &RunInfo};

}  // namespace
}  // namespace dsv4
