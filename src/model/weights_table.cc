// The tensor table of a DeepSeek-V4 checkpoint (spec §10, golden README "Checkpoint conventions"),
// in the order the published checkpoints store them: embed; per layer hc params, attn.*,
// norms, shared expert, routed experts (w1/w3 interleaved, then all w2), gate; then hc_head,
// norm, head; MTP blocks last.
#include "model/weights_table.h"

#include <cstdio>
#include <set>

namespace dsv4 {
namespace {

constexpr int kFp8Block = 128;    // 128x128 weight blocks share one E8M0 scale
constexpr int kFp4Block = 32;     // MXFP4: one E8M0 scale per 32 weights along K
constexpr int kHcScaleCount = 3;  // hc_attn_scale / hc_ffn_scale: pre, post, comb

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Appends tensors for one block (or the top level) under a name prefix.
class TableBuilder {
 public:
  TableBuilder(std::vector<TensorSpec>* out, std::string prefix, int block)
      : out_(out), prefix_(std::move(prefix)), block_(block) {}

  void Add(const std::string& name, std::vector<DType> dtypes, std::vector<int64_t> shape,
           TensorKind kind) {
    TensorSpec t{.name = prefix_ + name,
                 .dtypes = std::move(dtypes),
                 .shape = std::move(shape),
                 .kind = kind,
                 .block = block_,
                 .expert = expert_};
    t.params = t.numel();
    out_->push_back(std::move(t));
  }

  // `<name>.weight` in FP8 E4M3 (or one of `alternatives`) [n, k] + `<name>.scale` E8M0
  // [ceil(n/128), ceil(k/128)]. The scale is optional when an unquantized alternative exists.
  void AddFp8(const std::string& name, int64_t n, int64_t k, TensorKind kind,
              std::vector<DType> alternatives = {}) {
    std::vector<DType> dtypes = {DType::kF8E4M3};
    dtypes.insert(dtypes.end(), alternatives.begin(), alternatives.end());
    Add(name + ".weight", dtypes, {n, k}, kind);
    AddScale(name, {CeilDiv(n, kFp8Block), CeilDiv(k, kFp8Block)});
    out_->back().optional = !alternatives.empty();
  }

  // MXFP4: `I8` [n, k/2] (two e2m1 nibbles per byte) + E8M0 [n, k/32].
  void AddFp4(const std::string& name, int64_t n, int64_t k, TensorKind kind) {
    Add(name + ".weight", {DType::kI8}, {n, k / 2}, kind);
    set_last_params(n * k);  // two e2m1 weights per byte
    AddScale(name, {n, k / kFp4Block});
  }

  void AddScale(const std::string& name, std::vector<int64_t> shape) {
    Add(name + ".scale", {DType::kF8E8M0}, std::move(shape), TensorKind::kScale);
    set_last_params(0);
  }

  void set_last_params(int64_t params) { out_->back().params = params; }

  void set_expert(int expert) { expert_ = expert; }

 private:
  std::vector<TensorSpec>* out_;
  std::string prefix_;
  int block_;
  int expert_ = -1;
};

const std::vector<DType> kBF16 = {DType::kBF16};
const std::vector<DType> kF32 = {DType::kF32};

void AddHyperConn(TableBuilder& b, const ModelConfig& c, const std::string& sub) {
  const int64_t mix = (2 + c.hc_mult) * c.hc_mult;  // pre [hc] + post [hc] + comb [hc, hc]
  const int64_t streams = static_cast<int64_t>(c.hc_mult) * c.dim;
  b.Add("hc_" + sub + "_fn", kF32, {mix, streams}, TensorKind::kHyperConn);
  b.Add("hc_" + sub + "_base", kF32, {mix}, TensorKind::kHyperConn);
  b.Add("hc_" + sub + "_scale", kF32, {kHcScaleCount}, TensorKind::kHyperConn);
}

void AddHcHead(TableBuilder& b, const ModelConfig& c) {
  b.Add("hc_head_fn", kF32, {c.hc_mult, static_cast<int64_t>(c.hc_mult) * c.dim},
        TensorKind::kHyperConn);
  b.Add("hc_head_base", kF32, {c.hc_mult}, TensorKind::kHyperConn);
  b.Add("hc_head_scale", kF32, {1}, TensorKind::kHyperConn);
}

// Compressor (spec §4.5): ratio 4 overlaps two blocks, so it projects to 2·d.
void AddCompressor(TableBuilder& b, const std::string& prefix, int ratio, int64_t d, int64_t dim,
                   TensorKind kind) {
  const int64_t width = (ratio == 4 ? 2 : 1) * d;
  b.Add(prefix + "ape", kF32, {ratio, width}, kind);
  b.Add(prefix + "wkv.weight", kBF16, {width, dim}, kind);
  b.Add(prefix + "wgate.weight", kBF16, {width, dim}, kind);
  b.Add(prefix + "norm.weight", kBF16, {d}, TensorKind::kNorm);
}

void AddAttention(TableBuilder& b, const ModelConfig& c, int ratio) {
  const int64_t D = c.dim, H = c.n_heads, hd = c.head_dim, G = c.o_groups;
  b.Add("attn.attn_sink", kF32, {H}, TensorKind::kAttention);
  b.AddFp8("attn.wq_a", c.q_lora_rank, D, TensorKind::kAttention);
  b.Add("attn.q_norm.weight", kBF16, {c.q_lora_rank}, TensorKind::kNorm);
  b.AddFp8("attn.wq_b", H * hd, c.q_lora_rank, TensorKind::kAttention);
  b.AddFp8("attn.wkv", hd, D, TensorKind::kAttention);
  b.Add("attn.kv_norm.weight", kBF16, {hd}, TensorKind::kNorm);
  // wo_a is FP8 in the published checkpoints; the reference dequantizes it to BF16 at conversion.
  b.AddFp8("attn.wo_a", G * c.o_lora_rank, H * hd / G, TensorKind::kAttention, {DType::kBF16});
  b.AddFp8("attn.wo_b", D, G * c.o_lora_rank, TensorKind::kAttention);
  if (ratio == 0) return;
  AddCompressor(b, "attn.compressor.", ratio, hd, D, TensorKind::kCompressor);
  if (ratio != 4) return;
  const int64_t Hi = c.index_n_heads, ihd = c.index_head_dim;
  b.AddFp8("attn.indexer.wq_b", Hi * ihd, c.q_lora_rank, TensorKind::kIndexer);
  b.Add("attn.indexer.weights_proj.weight", kBF16, {Hi, D}, TensorKind::kIndexer);
  AddCompressor(b, "attn.indexer.compressor.", ratio, ihd, D, TensorKind::kIndexer);
}

void AddExpertMatrix(TableBuilder& b, const ModelConfig& c, const std::string& name, int64_t n,
                     int64_t k) {
  if (c.expert_fp4) {
    b.AddFp4(name, n, k, TensorKind::kRoutedExpert);
  } else {
    b.AddFp8(name, n, k, TensorKind::kRoutedExpert);
  }
}

void AddFfn(TableBuilder& b, const ModelConfig& c, bool hash_routed) {
  const int64_t D = c.dim, I = c.moe_inter_dim, E = c.n_routed_experts;
  b.AddFp8("ffn.shared_experts.w1", I, D, TensorKind::kSharedExpert);
  b.AddFp8("ffn.shared_experts.w2", D, I, TensorKind::kSharedExpert);
  b.AddFp8("ffn.shared_experts.w3", I, D, TensorKind::kSharedExpert);
  for (int e = 0; e < E; ++e) {
    b.set_expert(e);
    const std::string p = "ffn.experts." + std::to_string(e) + ".";
    AddExpertMatrix(b, c, p + "w1", I, D);
    AddExpertMatrix(b, c, p + "w3", I, D);
  }
  for (int e = 0; e < E; ++e) {
    b.set_expert(e);
    AddExpertMatrix(b, c, "ffn.experts." + std::to_string(e) + ".w2", D, I);
  }
  b.set_expert(-1);
  if (hash_routed) {
    // The reference declares int32 and casts at load; the published headers say I64.
    b.Add("ffn.gate.tid2eid", {DType::kI64, DType::kI32}, {c.vocab_size, c.n_activated_experts},
          TensorKind::kGate);
    b.set_last_params(0);  // a fixed token -> experts lookup table, not a learned parameter
    b.Add("ffn.gate.weight", kBF16, {E, D}, TensorKind::kGate);
    return;
  }
  b.Add("ffn.gate.bias", kF32, {E}, TensorKind::kGate);
  b.Add("ffn.gate.weight", kBF16, {E, D}, TensorKind::kGate);
}

void AddBlock(TableBuilder& b, const ModelConfig& c, int ratio, bool hash_routed) {
  AddHyperConn(b, c, "attn");
  AddHyperConn(b, c, "ffn");
  AddAttention(b, c, ratio);
  b.Add("attn_norm.weight", kBF16, {c.dim}, TensorKind::kNorm);
  b.Add("ffn_norm.weight", kBF16, {c.dim}, TensorKind::kNorm);
  AddFfn(b, c, hash_routed);
}

const char* RatioName(int ratio) {
  switch (ratio) {
    case 0:
      return "sliding window";
    case 4:
      return "CSA, ratio 4";
    case 128:
      return "HCA, ratio 128";
  }
  return "unknown ratio";
}

}  // namespace

const char* TensorKindName(TensorKind kind) {
  switch (kind) {
    case TensorKind::kEmbed:
      return "embed";
    case TensorKind::kHead:
      return "head";
    case TensorKind::kNorm:
      return "norm";
    case TensorKind::kHyperConn:
      return "hyper_conn";
    case TensorKind::kAttention:
      return "attention";
    case TensorKind::kCompressor:
      return "compressor";
    case TensorKind::kIndexer:
      return "indexer";
    case TensorKind::kGate:
      return "gate";
    case TensorKind::kSharedExpert:
      return "shared_expert";
    case TensorKind::kRoutedExpert:
      return "routed_expert";
    case TensorKind::kMtpProj:
      return "mtp_proj";
    case TensorKind::kScale:
      return "scale";
  }
  return "unknown";
}

int64_t TensorSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t TensorSpec::nbytes() const {
  return numel() * static_cast<int64_t>(DTypeSize(dtypes.at(0)));
}

std::string DescribeBlock(const ModelConfig& config, int block) {
  if (block < 0) return "top level";
  if (block >= config.n_blocks()) return "block " + std::to_string(block);
  const std::string ratio = RatioName(config.compress_ratio(block));
  if (block >= config.n_layers) {
    return "MTP block " + std::to_string(block - config.n_layers) + " (" + ratio + ")";
  }
  const bool hash = block < config.n_hash_layers;
  return "layer " + std::to_string(block) + " (" + ratio + (hash ? ", hash-routed" : "") + ")";
}

std::vector<TensorSpec> CheckpointTensors(const ModelConfig& c) {
  std::vector<TensorSpec> table;
  TableBuilder top(&table, "", -1);
  top.Add("embed.weight", kBF16, {c.vocab_size, c.dim}, TensorKind::kEmbed);
  for (int layer = 0; layer < c.n_layers; ++layer) {
    TableBuilder b(&table, "layers." + std::to_string(layer) + ".", layer);
    AddBlock(b, c, c.compress_ratio(layer), layer < c.n_hash_layers);
  }
  AddHcHead(top, c);
  top.Add("norm.weight", kBF16, {c.dim}, TensorKind::kNorm);
  top.Add("head.weight", kBF16, {c.vocab_size, c.dim}, TensorKind::kHead);
  for (int i = 0; i < c.n_mtp_layers; ++i) {
    const int block = c.n_layers + i;
    TableBuilder b(&table, "mtp." + std::to_string(i) + ".", block);
    b.AddFp8("e_proj", c.dim, c.dim, TensorKind::kMtpProj);
    b.AddFp8("h_proj", c.dim, c.dim, TensorKind::kMtpProj);
    b.Add("enorm.weight", kBF16, {c.dim}, TensorKind::kNorm);
    b.Add("hnorm.weight", kBF16, {c.dim}, TensorKind::kNorm);
    // The MTP block's layer id is n_layers >= n_hash_layers: always score-routed with a bias.
    AddBlock(b, c, c.compress_ratio(block), /*hash_routed=*/false);
    AddHcHead(b, c);
    b.Add("norm.weight", kBF16, {c.dim}, TensorKind::kNorm);
  }
  return table;
}

WeightAccount AccountWeights(const ModelConfig& c) {
  WeightAccount a;
  const double active_fraction =
      static_cast<double>(c.n_activated_experts) / static_cast<double>(c.n_routed_experts);
  TensorKind owner = TensorKind::kEmbed;  // a scale belongs to the weight just before it
  for (const TensorSpec& t : CheckpointTensors(c)) {
    if (t.kind != TensorKind::kScale) owner = t.kind;
    const bool mtp = t.block >= c.n_layers;
    const int64_t bytes = t.nbytes();
    (mtp ? a.params_mtp : a.params_main) += t.params;
    (mtp ? a.bytes_mtp : a.bytes_main) += bytes;
    if (t.kind == TensorKind::kScale) a.bytes_scales += bytes;
    a.params_by_kind[t.kind] += t.params;
    a.bytes_by_kind[owner] += bytes;
    if (mtp) continue;
    int64_t active_params = t.params;
    int64_t touched = bytes;
    if (owner == TensorKind::kRoutedExpert) {
      active_params = static_cast<int64_t>(static_cast<double>(t.params) * active_fraction);
      touched = static_cast<int64_t>(static_cast<double>(bytes) * active_fraction);
    } else if (owner == TensorKind::kEmbed) {  // one row is read per token
      active_params = t.params / c.vocab_size;
      touched = bytes / c.vocab_size;
    }
    a.params_active += active_params;
    a.active_params_by_kind[t.kind] += active_params;
    a.bytes_per_token += touched;
    a.bytes_per_token_by_kind[owner] += touched;
  }
  return a;
}

namespace {

std::string DTypeList(const std::vector<DType>& dtypes) {
  std::string s;
  for (size_t i = 0; i < dtypes.size(); ++i) {
    s += (i > 0 ? " or " : "") + std::string(DTypeName(dtypes[i]));
  }
  return s;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The problem with one table entry, or "" when the checkpoint holds it as expected.
std::string CheckOne(const Checkpoint& ckpt, const ModelConfig& c, const TensorSpec& spec) {
  const TensorView* t = ckpt.Find(spec.name);
  if (t == nullptr) {
    if (spec.optional) {
      // Optional scale: still required when its weight is stored quantized.
      const std::string weight = spec.name.substr(0, spec.name.size() - 6) + ".weight";
      const TensorView* w = ckpt.Find(weight);
      if (w == nullptr || w->dtype != DType::kF8E4M3) return "";
      return "tensor '" + spec.name + "' (" + DescribeBlock(c, spec.block) + ") is missing, but '" +
             weight + "' is F8_E4M3 and needs it";
    }
    std::string what = DescribeBlock(c, spec.block) + ", " + TensorKindName(spec.kind);
    if (spec.expert >= 0) what += " expert " + std::to_string(spec.expert);
    return "tensor '" + spec.name + "' (" + what + ") is missing from the checkpoint";
  }
  bool dtype_ok = false;
  for (DType d : spec.dtypes) dtype_ok = dtype_ok || d == t->dtype;
  if (!dtype_ok || t->shape != spec.shape) {
    return "tensor '" + spec.name + "': expected " + DTypeList(spec.dtypes) + " " +
           ShapeString(spec.shape) + ", got " + std::string(DTypeName(t->dtype)) + " " +
           t->ShapeString() + " (in " + t->file + ")";
  }
  return "";
}

// A hint for a tensor the table does not know.
std::string UnexpectedHint(const ModelConfig& c, const std::string& name) {
  int layer = -1;
  if (std::sscanf(name.c_str(), "layers.%d.", &layer) == 1 && layer >= c.n_layers) {
    return " — config.json says num_hidden_layers = " + std::to_string(c.n_layers);
  }
  if (layer >= 0) return " — does config.json (compress_ratios, num_hash_layers, ...) match?";
  return "";
}

}  // namespace

Status ValidateCheckpoint(const Checkpoint& checkpoint, const ModelConfig& config) {
  std::vector<std::string> problems;
  StatusCode code = StatusCode::kOk;
  const std::vector<TensorSpec> table = CheckpointTensors(config);
  std::set<std::string> known;
  for (const TensorSpec& spec : table) {
    known.insert(spec.name);
    std::string problem = CheckOne(checkpoint, config, spec);
    if (problem.empty()) continue;
    if (problems.empty()) {
      code = checkpoint.Find(spec.name) ? StatusCode::kInvalidArgument : StatusCode::kNotFound;
    }
    problems.push_back(std::move(problem));
  }
  for (const auto& [name, view] : checkpoint.tensors()) {
    if (known.count(name)) continue;
    if (problems.empty()) code = StatusCode::kInvalidArgument;
    problems.push_back("unexpected tensor '" + name + "' in " + view->file +
                       UnexpectedHint(config, name));
  }
  if (problems.empty()) return Status::Ok();
  std::string message = checkpoint.dir() + ": " + problems[0];
  if (problems.size() > 1) {
    const size_t more = problems.size() - 1;
    message += " (and " + std::to_string(more) +
               (more == 1 ? " more problem: " : " more problems, e.g. ") + problems[1] + ")";
  }
  return Status(code, message);
}

}  // namespace dsv4
