#include "model/model.h"

#include <algorithm>

#include "base/numeric.h"
#include "kernels/kernels.h"
#include "model/attention.h"
#include "model/hc.h"
#include "model/moe.h"

namespace dsv4 {
namespace {

using Vec = std::vector<float>;

Vec Zeros(size_t n) { return Vec(n, 0.0f); }

LayerState NewLayerState(const ModelConfig& cfg, int ratio) {
  LayerState st;
  st.window = cfg.window_size;
  st.head_dim = cfg.head_dim;
  st.ring.assign(static_cast<size_t>(cfg.window_size) * cfg.head_dim, 0.0f);
  if (ratio > 0) st.cmp.Init(ratio, cfg.head_dim);
  if (ratio == 4) st.idx.Init(4, cfg.index_head_dim);
  return st;
}

}  // namespace

void ModelState::Reset() {
  for (auto& l : layers) l.Reset();
  for (auto& l : mtp) l.Reset();
  n_tokens = 0;
  n_mtp_tokens = 0;
}

Model::Model(std::unique_ptr<Checkpoint> ckpt, ModelConfig config, ModelWeights weights)
    : checkpoint_(std::move(ckpt)),
      config_(std::move(config)),
      weights_(std::move(weights)),
      rope_swa_(config_, /*compressed_layer=*/false),
      rope_cmp_(config_, /*compressed_layer=*/true) {}

Result<std::unique_ptr<Model>> Model::Load(const std::string& dir, bool progress) {
  DSV4_ASSIGN_OR_RETURN(ModelConfig config, ModelConfig::FromFile(dir + "/config.json"));
  DSV4_ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> ckpt, Checkpoint::Open(dir, progress));
  return FromCheckpoint(std::move(ckpt), config);
}

Result<std::unique_ptr<Model>> Model::FromCheckpoint(std::unique_ptr<Checkpoint> ckpt,
                                                     const ModelConfig& config) {
  DSV4_ASSIGN_OR_RETURN(ModelWeights weights, BindWeights(*ckpt, config));
  return std::unique_ptr<Model>(new Model(std::move(ckpt), config, std::move(weights)));
}

ModelState Model::NewState() const {
  ModelState s;
  for (int l = 0; l < config_.n_layers; ++l) {
    s.layers.push_back(NewLayerState(config_, config_.compress_ratio(l)));
  }
  for (int i = 0; i < config_.n_mtp_layers; ++i) {
    s.mtp.push_back(NewLayerState(config_, config_.compress_ratio(config_.n_layers + i)));
  }
  return s;
}

Status Model::CheckTokens(std::span<const int32_t> tokens) const {
  if (tokens.empty()) return InvalidArgument("forward call with no tokens");
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= config_.vocab_size) {
      return InvalidArgument("token id " + std::to_string(tokens[i]) + " at index " +
                             std::to_string(i) + " is outside the vocabulary [0, " +
                             std::to_string(config_.vocab_size) + ")");
    }
  }
  return Status::Ok();
}

void Model::Embed(std::span<const int32_t> tokens, float* h) const {
  const int D = config_.dim;
  for (size_t s = 0; s < tokens.size(); ++s) {
    const uint16_t* row = weights_.embed.w + static_cast<size_t>(tokens[s]) * D;
    for (int d = 0; d < D; ++d) h[s * D + d] = Bf16ToFloat(row[d]);
  }
}

void Model::Block(const BlockWeights& blk, const float* X, int S,
                  std::span<const Segment> segments, const int32_t* tokens, const Trace& tr,
                  float* out) const {
  const int hc = config_.hc_mult, D = config_.dim;
  const size_t sd = static_cast<size_t>(S) * D;
  Vec x = Zeros(sd), xn = Zeros(sd), post = Zeros(S * hc), comb = Zeros(S * hc * hc);
  Vec sub = Zeros(sd), mid = Zeros(sd * hc);
  tr.Rec("in", X, {S, hc, D});

  HcPre(X, S, blk.hc_attn, config_, x.data(), post.data(), comb.data());
  RmsNorm(x.data(), S, D, blk.attn_norm.data(), config_.norm_eps, xn.data());
  tr.Rec("attn.hc.x", x.data(), {S, D});
  tr.Rec("attn.hc.post", post.data(), {S, hc}, TraceDType::kF32);
  tr.Rec("attn.hc.comb", comb.data(), {S, hc, hc}, TraceDType::kF32);
  tr.Rec("attn.norm", xn.data(), {S, D});
  for (const Segment& seg : segments) {  // attention is per sequence: its own caches
    AttentionForward(xn.data() + static_cast<size_t>(seg.offset) * D, seg.len, seg.start_pos, blk,
                     rope(blk.compress_ratio), config_, *seg.state, tr,
                     sub.data() + static_cast<size_t>(seg.offset) * D);
  }
  HcPost(sub.data(), X, post.data(), comb.data(), S, config_, mid.data());
  tr.Rec("attn.res", mid.data(), {S, hc, D});

  HcPre(mid.data(), S, blk.hc_ffn, config_, x.data(), post.data(), comb.data());
  RmsNorm(x.data(), S, D, blk.ffn_norm.data(), config_.norm_eps, xn.data());
  tr.Rec("ffn.hc.x", x.data(), {S, D});
  tr.Rec("ffn.hc.post", post.data(), {S, hc}, TraceDType::kF32);
  tr.Rec("ffn.hc.comb", comb.data(), {S, hc, hc}, TraceDType::kF32);
  tr.Rec("ffn.norm", xn.data(), {S, D});
  MoeForward(xn.data(), S, tokens, blk, config_, tr, sub.data());
  HcPost(sub.data(), mid.data(), post.data(), comb.data(), S, config_, out);
  tr.Rec("out", out, {S, hc, D});
}

void Model::Head(std::span<const float* const> rows, const HcWeights& hc_head,
                 const std::vector<float>& norm, const Trace& tr, int traced,
                 std::span<float* const> logits) const {
  const int D = config_.dim, V = config_.vocab_size;
  constexpr int kChunk = 64;  // positions per head call (bounds the staging buffer: 64 x V fp32)
  const int n = static_cast<int>(rows.size());
  Vec y = Zeros(D), yn = Zeros(static_cast<size_t>(std::min(n, kChunk)) * D), staged;
  for (int c0 = 0; c0 < n; c0 += kChunk) {
    const int c = std::min(kChunk, n - c0);
    for (int q = 0; q < c; ++q) {
      HcHead(rows[c0 + q], 1, hc_head, config_, y.data());
      RmsNorm(y.data(), 1, D, norm.data(), config_.norm_eps, yn.data() + static_cast<size_t>(q) * D);
      if (c0 + q == traced) {
        tr.Rec("final.hc_head", y.data(), {D});
        tr.Rec("final.norm", yn.data() + static_cast<size_t>(q) * D, {D});
      }
    }
    if (c == 1) {
      LinearBf16(yn.data(), 1, weights_.head, logits[c0], /*round_bf16=*/false);  // fp32 head
    } else {
      // Each output is computed in the same order for any number of rows (kernels.h), so this
      // equals c separate calls bit for bit.
      staged.resize(static_cast<size_t>(c) * V);
      LinearBf16(yn.data(), c, weights_.head, staged.data(), /*round_bf16=*/false);
      for (int q = 0; q < c; ++q)
        std::copy_n(staged.data() + static_cast<size_t>(q) * V, V, logits[c0 + q]);
    }
  }
  if (traced >= 0) tr.Rec("final.logits", logits[traced], {V}, TraceDType::kF32);
}

Status Model::Forward(std::span<const int32_t> tokens, ModelState& state, ForwardResult* out,
                      TraceSink* trace) const {
  DSV4_RETURN_IF_ERROR(CheckTokens(tokens));
  const BatchItem item{tokens, &state, out};
  return RunBatch({&item, 1}, trace);
}

Status Model::ForwardBatch(std::span<const BatchItem> items) const {
  if (items.empty()) return InvalidArgument("forward batch with no sequences");
  for (const BatchItem& item : items) DSV4_RETURN_IF_ERROR(CheckTokens(item.tokens));
  return RunBatch(items, nullptr);
}

Status Model::RunBatch(std::span<const BatchItem> items, TraceSink* trace) const {
  const int hc = config_.hc_mult, D = config_.dim;
  std::vector<int32_t> tokens;
  std::vector<std::vector<Segment>> segments(config_.n_layers);
  for (const BatchItem& item : items) {
    const int offset = static_cast<int>(tokens.size());
    tokens.insert(tokens.end(), item.tokens.begin(), item.tokens.end());
    for (int l = 0; l < config_.n_layers; ++l) {
      segments[l].push_back(Segment{offset, static_cast<int>(item.tokens.size()),
                                    item.state->n_tokens, &item.state->layers[l]});
    }
  }
  const int S = static_cast<int>(tokens.size());
  const size_t per_pos = static_cast<size_t>(hc) * D;
  Vec h = Zeros(static_cast<size_t>(S) * D), X = Zeros(S * per_pos), Y = Zeros(S * per_pos);
  Embed(tokens, h.data());
  for (int s = 0; s < S; ++s) {  // hc identical copies of the embedding
    for (int j = 0; j < hc; ++j) std::copy_n(&h[static_cast<size_t>(s) * D], D, &X[s * per_pos + static_cast<size_t>(j) * D]);
  }
  for (int l = 0; l < config_.n_layers; ++l) {
    Block(weights_.blocks[l], X.data(), S, segments[l], tokens.data(),
          Trace{trace, "L" + std::to_string(l)}, Y.data());
    std::swap(X, Y);
  }
  // Logits of every sequence's last position (every position with all_logits) in one head call:
  // a batch of B sequences streams the head matrix once per step, not B times.
  std::vector<const float*> head_rows;
  std::vector<float*> head_out;
  int traced = -1;
  for (size_t i = 0; i < items.size(); ++i) {
    const Segment& seg = segments[0][i];
    ForwardResult* out = items[i].out;
    const int first = items[i].all_logits ? 0 : seg.len - 1;
    out->logits.assign(static_cast<size_t>(seg.len - first) * config_.vocab_size, 0.0f);
    for (int r = first; r < seg.len; ++r) {
      if (trace != nullptr && r == seg.len - 1) traced = static_cast<int>(head_rows.size());
      head_rows.push_back(X.data() + static_cast<size_t>(seg.offset + r) * per_pos);
      head_out.push_back(out->logits.data() + static_cast<size_t>(r - first) * config_.vocab_size);
    }
  }
  Head(head_rows, weights_.hc_head, weights_.norm, Trace{trace, ""}, traced, head_out);
  for (size_t i = 0; i < items.size(); ++i) {
    const Segment& seg = segments[0][i];
    items[i].out->streams.assign(X.begin() + seg.offset * per_pos,
                                 X.begin() + (seg.offset + seg.len) * per_pos);
    items[i].state->n_tokens += seg.len;
  }
  return Status::Ok();
}

void Model::MtpInput(const MtpWeights& m, std::span<const int32_t> tokens, const float* hidden,
                     const Trace& tr, float* X) const {
  const int S = static_cast<int>(tokens.size()), hc = config_.hc_mult, D = config_.dim;
  Vec h = Zeros(static_cast<size_t>(S) * D), e = Zeros(static_cast<size_t>(S) * D);
  Vec hn = Zeros(static_cast<size_t>(S) * hc * D), ep = Zeros(static_cast<size_t>(S) * D);
  Vec hp = Zeros(static_cast<size_t>(S) * hc * D);
  Embed(tokens, h.data());
  RmsNorm(h.data(), S, D, m.enorm.data(), config_.norm_eps, e.data());
  RmsNorm(hidden, S * hc, D, m.hnorm.data(), config_.norm_eps, hn.data());
  tr.Rec("e", e.data(), {S, D});
  tr.Rec("h", hn.data(), {S, hc, D});
  LinearFp8(e.data(), S, m.e_proj, ep.data());
  LinearFp8(hn.data(), S * hc, m.h_proj, hp.data());
  for (int s = 0; s < S; ++s) {
    for (int j = 0; j < hc; ++j) {
      for (int d = 0; d < D; ++d) {
        const size_t at = (static_cast<size_t>(s) * hc + j) * D + d;
        X[at] = RoundBf16(ep[static_cast<size_t>(s) * D + d] + hp[at]);
      }
    }
  }
}

Status Model::ForwardMtp(std::span<const int32_t> tokens, const float* hidden, ModelState& state,
                         std::vector<float>* logits, TraceSink* trace) const {
  if (weights_.mtp.empty()) return Unimplemented("this checkpoint has no MTP block");
  DSV4_RETURN_IF_ERROR(CheckTokens(tokens));
  const MtpWeights& m = weights_.mtp[0];
  const int S = static_cast<int>(tokens.size()), hc = config_.hc_mult, D = config_.dim;
  Vec X = Zeros(static_cast<size_t>(S) * hc * D), Y = Zeros(X.size());
  const Trace tr{trace, "mtp"};
  MtpInput(m, tokens, hidden, tr, X.data());
  const Segment seg{0, S, state.n_mtp_tokens, &state.mtp[0]};
  Block(m.block, X.data(), S, {&seg, 1}, tokens.data(), tr, Y.data());
  logits->assign(config_.vocab_size, 0.0f);
  const float* last = Y.data() + static_cast<size_t>(S - 1) * hc * D;
  float* out = logits->data();
  Head({&last, 1}, m.hc_head, m.norm, tr, 0, {&out, 1});
  state.n_mtp_tokens += S;
  return Status::Ok();
}

}  // namespace dsv4
