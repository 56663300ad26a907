#include "model/weights.h"

#include <cstring>

#include "base/numeric.h"
#include "model/weights_table.h"

namespace dsv4 {
namespace {

// Binds tensors by name; the first failure is kept and reported (the table validation before
// binding makes failures here unlikely, but binding never trusts it blindly).
class Binder {
 public:
  explicit Binder(const Checkpoint& ckpt) : ckpt_(ckpt) {}
  const Status& status() const { return status_; }

  Fp8Weight Fp8(const std::string& weight_name) {
    Fp8Weight w;
    const TensorView* t = Get(weight_name, DType::kF8E4M3, 2);
    const TensorView* s = Get(ScaleName(weight_name), DType::kF8E8M0, 2);
    if (t == nullptr || s == nullptr) return w;
    w.w = t->data;
    w.scale = s->data;
    w.n = static_cast<int>(t->shape[0]);
    w.k = static_cast<int>(t->shape[1]);
    return w;
  }

  Fp4Weight Fp4(const std::string& weight_name) {
    Fp4Weight w;
    const TensorView* t = Get(weight_name, DType::kI8, 2);
    const TensorView* s = Get(ScaleName(weight_name), DType::kF8E8M0, 2);
    if (t == nullptr || s == nullptr) return w;
    w.w = t->data;
    w.scale = s->data;
    w.n = static_cast<int>(t->shape[0]);
    w.k = static_cast<int>(t->shape[1]) * 2;
    return w;
  }

  Bf16Weight Bf16(const std::string& name) {
    Bf16Weight w;
    const TensorView* t = Get(name, DType::kBF16, 2);
    if (t == nullptr) return w;
    w.w = reinterpret_cast<const uint16_t*>(t->data);
    w.n = static_cast<int>(t->shape[0]);
    w.k = static_cast<int>(t->shape[1]);
    return w;
  }

  // Small tensors (norms, hc params, sinks, ape, bias): copied out and upcast to fp32.
  std::vector<float> Floats(const std::string& name) {
    std::vector<float> out;
    const TensorView* t = Find(name);
    if (t == nullptr) return out;
    const size_t n = static_cast<size_t>(t->numel());
    out.resize(n);
    if (t->dtype == DType::kF32) {
      std::memcpy(out.data(), t->data, n * sizeof(float));
    } else if (t->dtype == DType::kBF16) {
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, t->data + 2 * i, 2);
        out[i] = Bf16ToFloat(h);
      }
    } else {
      Fail(name, "F32 or BF16", t);
    }
    return out;
  }

  std::vector<int32_t> Ints(const std::string& name) {
    std::vector<int32_t> out;
    const TensorView* t = Find(name);
    if (t == nullptr) return out;
    const size_t n = static_cast<size_t>(t->numel());
    out.resize(n);
    if (t->dtype == DType::kI32) {
      std::memcpy(out.data(), t->data, n * sizeof(int32_t));
    } else if (t->dtype == DType::kI64) {
      for (size_t i = 0; i < n; ++i) {
        int64_t v;
        std::memcpy(&v, t->data + 8 * i, 8);
        out[i] = static_cast<int32_t>(v);
      }
    } else {
      Fail(name, "I32 or I64", t);
    }
    return out;
  }

 private:
  static std::string ScaleName(const std::string& weight_name) {
    const std::string suffix = ".weight";
    return weight_name.substr(0, weight_name.size() - suffix.size()) + ".scale";
  }

  const TensorView* Find(const std::string& name) {
    const TensorView* t = ckpt_.Find(name);
    if (t == nullptr && status_.ok()) status_ = NotFound("tensor '" + name + "' is missing");
    return t;
  }

  const TensorView* Get(const std::string& name, DType dtype, size_t rank) {
    const TensorView* t = Find(name);
    if (t == nullptr) return nullptr;
    if (t->dtype != dtype || t->shape.size() != rank) {
      Fail(name, std::string(DTypeName(dtype)) + " of rank " + std::to_string(rank), t);
      return nullptr;
    }
    return t;
  }

  void Fail(const std::string& name, const std::string& expected, const TensorView* t) {
    if (!status_.ok()) return;
    status_ = InvalidArgument("tensor '" + name + "': expected " + expected + ", got " +
                              std::string(DTypeName(t->dtype)) + " " + t->ShapeString());
  }

  const Checkpoint& ckpt_;
  Status status_;
};

CompressorWeights BindCompressor(Binder& b, const std::string& p, int ratio, int head_dim) {
  CompressorWeights c;
  c.ratio = ratio;
  c.head_dim = head_dim;
  c.ape = b.Floats(p + "ape");
  c.wkv = b.Bf16(p + "wkv.weight");
  c.wgate = b.Bf16(p + "wgate.weight");
  c.norm = b.Floats(p + "norm.weight");
  return c;
}

HcWeights BindHc(Binder& b, const std::string& p) {
  return HcWeights{b.Floats(p + "_fn"), b.Floats(p + "_base"), b.Floats(p + "_scale")};
}

ExpertMatrix BindExpertMatrix(Binder& b, const std::string& name, bool fp4) {
  ExpertMatrix m;
  m.fp4 = fp4;
  if (fp4) {
    m.fp4_w = b.Fp4(name);
  } else {
    m.fp8_w = b.Fp8(name);
  }
  return m;
}

BlockWeights BindBlock(Binder& b, const ModelConfig& cfg, const std::string& p, int layer_id) {
  BlockWeights blk;
  blk.layer_id = layer_id;
  blk.compress_ratio = cfg.compress_ratio(layer_id);
  blk.hash_routed = layer_id < cfg.n_hash_layers;
  blk.hc_attn = BindHc(b, p + "hc_attn");
  blk.hc_ffn = BindHc(b, p + "hc_ffn");
  blk.attn_norm = b.Floats(p + "attn_norm.weight");
  blk.ffn_norm = b.Floats(p + "ffn_norm.weight");

  AttentionWeights& a = blk.attn;
  const std::string ap = p + "attn.";
  a.wq_a = b.Fp8(ap + "wq_a.weight");
  a.q_norm = b.Floats(ap + "q_norm.weight");
  a.wq_b = b.Fp8(ap + "wq_b.weight");
  a.wkv = b.Fp8(ap + "wkv.weight");
  a.kv_norm = b.Floats(ap + "kv_norm.weight");
  a.wo_a = b.Fp8(ap + "wo_a.weight");
  a.wo_b = b.Fp8(ap + "wo_b.weight");
  a.attn_sink = b.Floats(ap + "attn_sink");
  if (blk.compress_ratio > 0) {
    a.compressor = BindCompressor(b, ap + "compressor.", blk.compress_ratio, cfg.head_dim);
  }
  if (blk.compress_ratio == 4) {
    a.indexer.wq_b = b.Fp8(ap + "indexer.wq_b.weight");
    a.indexer.weights_proj = b.Bf16(ap + "indexer.weights_proj.weight");
    a.indexer.compressor = BindCompressor(b, ap + "indexer.compressor.", 4, cfg.index_head_dim);
  }

  const std::string fp = p + "ffn.";
  blk.gate.weight = b.Bf16(fp + "gate.weight");
  if (blk.hash_routed) {
    blk.gate.tid2eid = b.Ints(fp + "gate.tid2eid");
  } else {
    blk.gate.bias = b.Floats(fp + "gate.bias");
  }
  blk.shared.w1 = b.Fp8(fp + "shared_experts.w1.weight");
  blk.shared.w2 = b.Fp8(fp + "shared_experts.w2.weight");
  blk.shared.w3 = b.Fp8(fp + "shared_experts.w3.weight");
  blk.experts.resize(cfg.n_routed_experts);
  for (int e = 0; e < cfg.n_routed_experts; ++e) {
    const std::string ep = fp + "experts." + std::to_string(e) + ".";
    blk.experts[e].w1 = BindExpertMatrix(b, ep + "w1.weight", cfg.expert_fp4);
    blk.experts[e].w2 = BindExpertMatrix(b, ep + "w2.weight", cfg.expert_fp4);
    blk.experts[e].w3 = BindExpertMatrix(b, ep + "w3.weight", cfg.expert_fp4);
  }
  return blk;
}

}  // namespace

Result<ModelWeights> BindWeights(const Checkpoint& checkpoint, const ModelConfig& config) {
  DSV4_RETURN_IF_ERROR(ValidateCheckpoint(checkpoint, config));
  Binder b(checkpoint);
  ModelWeights w;
  w.embed = b.Bf16("embed.weight");
  w.head = b.Bf16("head.weight");
  w.norm = b.Floats("norm.weight");
  w.hc_head = BindHc(b, "hc_head");
  for (int l = 0; l < config.n_layers; ++l) {
    w.blocks.push_back(BindBlock(b, config, "layers." + std::to_string(l) + ".", l));
  }
  for (int i = 0; i < config.n_mtp_layers; ++i) {
    const std::string p = "mtp." + std::to_string(i) + ".";
    MtpWeights m;
    m.e_proj = b.Fp8(p + "e_proj.weight");
    m.h_proj = b.Fp8(p + "h_proj.weight");
    m.enorm = b.Floats(p + "enorm.weight");
    m.hnorm = b.Floats(p + "hnorm.weight");
    m.norm = b.Floats(p + "norm.weight");
    m.hc_head = BindHc(b, p + "hc_head");
    m.block = BindBlock(b, config, p, config.n_layers + i);
    w.mtp.push_back(std::move(m));
  }
  if (!b.status().ok()) return b.status().Annotate(checkpoint.dir());
  return w;
}

}  // namespace dsv4
