// GQA -> MLA math (see gqa_to_mla.h). Index maps follow mla_conversion.md §3.2–§3.5 exactly.
#include "convert/gqa_to_mla.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace yz {

namespace {
using torch::indexing::Slice;

// Eigen-decomposition of a symmetric PSD matrix, eigenvalues descending. The damping of §3.0
// (a multiple of I) only shifts eigenvalues and is left out.
std::pair<torch::Tensor, torch::Tensor> eigh_desc(const torch::Tensor& m) {
  auto [values, vectors] = torch::linalg_eigh(0.5 * (m + m.t()), "L");
  return {values.flip(0), vectors.flip(1)};
}
}  // namespace

int64_t max_kv_lora_rank(const ModelConfig& c, int64_t rope_dim) {
  return 2 * c.num_key_value_heads * c.head_dim - rope_dim;
}

const char* target_name(Target t) { return t == Target::kStock ? "stock" : "native"; }

Target parse_target(const std::string& name) {
  if (name == "native") return Target::kNative;
  if (name == "stock") return Target::kStock;
  YZ_THROW(ErrorKind::kUsage, "--target must be native or stock, not '", name, "'");
}

bool has_latent_norm(const MlaPlan& p) { return p.latent_norm || p.target == Target::kStock; }

MlaPlan step1_plan(const ModelConfig& c, MlaPlan p) {
  p = per_layer_plan(p, c.num_hidden_layers);
  p.kv_lora_rank = max_kv_lora_rank(c, p.rope_dim);
  for (size_t l = 0; l < p.rope_dims.size(); ++l) p.kv_lora_ranks[l] = max_kv_lora_rank(c, p.rope_dims[l]);
  p.q_lora_rank.reset();
  p.latent_norm = false;
  p.target = Target::kNative;
  return p;
}

std::vector<int64_t> freqfold_choices(const ModelConfig& c, int64_t rope_dim) {
  std::vector<int64_t> out;
  for (int64_t f = c.head_dim / rope_dim; f <= c.head_dim / 2; f *= 2)
    if ((c.head_dim / 2) % f == 0) out.push_back(f);
  return out;
}

MlaPlan per_layer_plan(MlaPlan plan, int64_t num_layers) {
  if (plan.freqfold.size() == 1) plan.freqfold.assign(num_layers, plan.freqfold[0]);
  if (plan.rope_dims.empty()) plan.rope_dims.assign(num_layers, plan.rope_dim);
  if (plan.kv_lora_ranks.empty()) plan.kv_lora_ranks.assign(num_layers, plan.kv_lora_rank);
  return plan;
}

bool is_uniform(const MlaPlan& p) {
  auto same = [](const std::vector<int64_t>& v) {
    return std::all_of(v.begin(), v.end(), [&](int64_t x) { return x == v.front(); });
  };
  return same(p.rope_dims) && same(p.kv_lora_ranks);
}

void validate_plan(const ModelConfig& c, const MlaPlan& p) {
  YZ_CHECK(c.family == Family::kGqa, "--model must be a GQA model (llama, mistral, qwen2)");
  YZ_CHECK(!c.qk_norm, c.model_type, " has per-head q/k RMSNorm, which RoRoPE cannot absorb ",
           "(mla_conversion.md §10, TransMLA #22)");
  YZ_CHECK(!c.sliding_window, "sliding-window attention is not supported");
  YZ_CHECK(!(c.attention_bias && c.model_type != "qwen2"),
           "o_proj biases (llama attention_bias) are not supported by the MLA layout");
  const int64_t D = c.head_dim, L = c.num_hidden_layers;
  YZ_CHECK(static_cast<int64_t>(p.freqfold.size()) == L, "--freqfold lists ", p.freqfold.size(),
           " values for ", L, " layers");
  YZ_CHECK(static_cast<int64_t>(p.rope_dims.size()) == L &&
               static_cast<int64_t>(p.kv_lora_ranks.size()) == L,
           "the plan must give d_r and r for each of the ", L, " layers");
  for (int64_t l = 0; l < L; ++l) {
    const int64_t d_r = p.rope_dims[l], r = p.kv_lora_ranks[l], f = p.freqfold[l];
    const std::string at = L > 1 && !is_uniform(p) ? " (layer " + std::to_string(l) + ")" : "";
    YZ_CHECK(d_r > 0 && d_r % 2 == 0 && D % d_r == 0, "--rope-dim ", d_r,
             " must be even and divide head_dim ", D, at);
    const int64_t cfactor = D / d_r, rmax = max_kv_lora_rank(c, d_r);
    YZ_CHECK(r > 0 && r <= rmax, "--kv-lora-rank ", r, " must be in [1, ", rmax,
             "] (2·G·D − d_r)", at);
    YZ_CHECK(f > 0 && f % cfactor == 0 && (D / 2) % f == 0, "--freqfold ", f,
             " must be a multiple of c = head_dim / rope_dim = ", cfactor, " and divide ", D / 2, at);
  }
  YZ_CHECK(p.target == Target::kNative || is_uniform(p),
           "per-layer d_r / r need the native target (stock runtimes read one global value)");
  YZ_CHECK(p.balance > 0, "balance ratio must be positive");
  const int64_t HD = c.num_attention_heads * D;
  if (p.q_lora_rank)
    YZ_CHECK(*p.q_lora_rank > 0 && *p.q_lora_rank <= HD, "--q-lora-rank ", *p.q_lora_rank,
             " must be in [1, ", HD, "] (heads x head_dim)");
}

torch::Tensor complex_key_gram(const torch::Tensor& keys, int64_t G, int64_t D) {
  torch::Tensor k = keys.reshape({-1, G, 2, D / 2}).to(torch::kDouble);
  torch::Tensor re = k.select(2, 0).reshape({-1, G * D / 2});  // column j·D/2 + i
  torch::Tensor im = k.select(2, 1).reshape({-1, G * D / 2});
  return re.t().mm(re) + im.t().mm(im);
}

Rotation rorope_rotation(const torch::Tensor& gram, int64_t G, int64_t D, int64_t d_r, int64_t f) {
  const int64_t c = D / d_r, per = f / c, groups = D / (2 * f), gf = G * f;
  auto idx = [&](int64_t j, int64_t i) { return j * (D / 2) + i; };
  torch::Tensor p = torch::zeros({G * D, G * D}, torch::kDouble);
  double kept = 0, total = 0;
  for (int64_t a = 0; a < groups; ++a) {
    // Columns (e, j, b) e-major, then head, then b; frequency i = a·f + b·c + e.
    std::vector<int64_t> chan(gf), freq(gf), head(gf);
    for (int64_t e = 0; e < c; ++e)
      for (int64_t j = 0; j < G; ++j)
        for (int64_t b = 0; b < per; ++b) {
          const int64_t col = (e * G + j) * per + b;
          freq[col] = a * f + b * c + e;
          head[col] = j;
          chan[col] = idx(j, freq[col]);
        }
    torch::Tensor sel = torch::tensor(chan);
    torch::Tensor h = gram.index_select(0, sel).index_select(1, sel);
    auto [values, u] = eigh_desc(h);
    kept += values.narrow(0, 0, per).sum().item<double>();
    total += values.sum().item<double>();
    auto ua = u.accessor<double, 2>();
    auto pa = p.accessor<double, 2>();
    for (int64_t m = 0; m < gf; ++m) {
      const int64_t e2 = m / (G * per), j2 = (m / per) % G, b2 = m % per;
      const int64_t pos = (e2 * G + j2) * (D / c) + 2 * (a * per + b2);
      for (int64_t col = 0; col < gf; ++col) {
        const int64_t row = head[col] * D + freq[col];
        pa[row][pos] = ua[col][m];                  // real part
        pa[row + D / 2][pos + 1] = ua[col][m];      // imaginary part
      }
    }
  }
  return {p, total > 0 ? kept / total : 0.0};
}

JointPca balanced_kv_pca(const torch::Tensor& gram, int64_t kv_dim, int64_t d_r, int64_t rank,
                         double balance) {
  const int64_t nk = kv_dim - d_r, n = nk + kv_dim;
  YZ_ASSERT(gram.size(0) == n, "joint Gram has the wrong size");
  torch::Tensor norms = gram.diagonal().clamp_min(0).sqrt();  // column L2 norms over tokens
  JointPca out;
  // TransMLA's code: mean key-nope column norm over mean value column norm, skipping the first
  // d_r value channels (a harmless quirk we keep so results compare).
  const double k_mean = nk > 0 ? norms.narrow(0, 0, nk).mean().item<double>() : 0.0;
  const double v_mean = norms.narrow(0, nk + d_r, kv_dim - d_r).mean().item<double>();
  out.alpha = (k_mean > 0 && v_mean > 0) ? k_mean / (v_mean * balance) : 1.0;
  torch::Tensor scale = torch::ones({n}, torch::kDouble);
  scale.narrow(0, 0, nk).fill_(1.0 / out.alpha);
  torch::Tensor g = gram * scale.unsqueeze(0) * scale.unsqueeze(1);
  auto [values, vectors] = eigh_desc(g);
  out.basis = vectors.narrow(1, 0, rank).contiguous();
  out.energy_kept = values.narrow(0, 0, rank).sum().item<double>() / values.sum().item<double>();
  // Residual energy per block: diag((I−Π) G (I−Π)) summed over the block / the block's trace.
  // With Π onto G's leading eigenvectors U_r that is diag(G − U_r Λ_r U_rᵀ) = diag(G) − U_r²·λ_r,
  // O(n·r) instead of two n³ products.
  torch::Tensor diag = g.diagonal();
  torch::Tensor residual = diag - out.basis.pow(2).mv(values.narrow(0, 0, rank));
  out.key_error = nk == 0 ? 0.0
                          : residual.narrow(0, 0, nk).sum().item<double>() /
                                std::max(diag.narrow(0, 0, nk).sum().item<double>(), 1e-300);
  out.value_error = residual.narrow(0, nk, kv_dim).sum().item<double>() /
                    std::max(diag.narrow(0, nk, kv_dim).sum().item<double>(), 1e-300);
  return out;
}

torch::Tensor pca_basis(const torch::Tensor& gram, int64_t rank) {
  return eigh_desc(gram.to(torch::kDouble)).second.narrow(1, 0, rank).contiguous();
}

std::map<std::string, torch::Tensor> mla_attention_tensors(const GqaAttentionImpl& a,
                                                           const torch::Tensor& P_in, int64_t d_r,
                                                           const LayerExport& what) {
  const JointPca* pca = what.pca;
  const int64_t H = a.heads, G = a.kv_heads, D = a.head_dim, g = H / G, GD = G * D;
  const int64_t nk = GD - d_r;
  // Float64 on the weights' device: on a GPU the 7B-sized products stay off the host.
  const torch::Device dev = a.q_proj->weight.device();
  auto dbl = [&](const torch::Tensor& t) { return t.detach().to(dev, torch::kDouble); };
  const torch::Tensor P = dbl(P_in);
  torch::Tensor wq = dbl(a.q_proj->weight), wk = dbl(a.k_proj->weight), wv = dbl(a.v_proj->weight);
  // Stock drops every bias (§2.4): the key-nope part of the latent bias only shifts each score
  // row by a constant (softmax-invariant, exact); the query, rope-key and value offsets are not
  // representable without biases and cost perplexity (reported by the converter).
  const bool bias = a.q_proj->bias.defined() && what.biases;
  torch::Tensor bq, bk, bv;
  if (bias) bq = dbl(a.q_proj->bias), bk = dbl(a.k_proj->bias), bv = dbl(a.v_proj->bias);
  // Rotated keys (§3.2 step 7): W_k' = Pᵀ W_k, b_k' = Pᵀ b_k.
  torch::Tensor wk2 = P.t().mm(wk);
  torch::Tensor bk2 = bias ? P.t().mv(bk) : torch::Tensor();
  const double alpha = pca ? pca->alpha : 1.0;
  torch::Tensor R = pca ? dbl(pca->basis) : torch::eye(nk + GD, torch::dtype(torch::kDouble).device(dev));
  const int64_t r = R.size(1);
  // Queries (§3.5): head h keeps its D rows and gains d_r rows A_hᵀ W_q,h, all scaled by s.
  // With a low-rank query, W_q,h is replaced by R_q,h (q_b) after q_a = R_qᵀ W_q.
  const double s = std::sqrt(static_cast<double>(D + d_r) / D);
  const bool low_rank_q = what.q_basis.defined();
  const torch::Tensor q_basis = low_rank_q ? dbl(what.q_basis) : torch::Tensor();
  const torch::Tensor q_in = low_rank_q ? q_basis : wq;  // [H·D, d] or [H·D, r_q]
  std::vector<torch::Tensor> q_rows, q_bias, kv_b_rows;
  for (int64_t h = 0; h < H; ++h) {
    const int64_t j = h / g;
    torch::Tensor kup = P.narrow(0, j * D, D);           // K_up,h·P: [D, GD]
    torch::Tensor A = kup.narrow(1, 0, d_r);               // [D, d_r]
    torch::Tensor wqh = q_in.narrow(0, h * D, D);
    q_rows.push_back(s * wqh);
    q_rows.push_back(s * A.t().mm(wqh));
    if (bias) {
      torch::Tensor bqh = bq.narrow(0, h * D, D);
      q_bias.push_back(s * bqh);
      q_bias.push_back(s * A.t().mv(bqh));
    }
    // kv_b (§3.4 step 5): k_nope rows α·K_up',h[:, d_r:]·R[0:nk], then v rows R[nk + jD ...].
    kv_b_rows.push_back(alpha * kup.narrow(1, d_r, nk).mm(R.narrow(0, 0, nk)));
    kv_b_rows.push_back(R.narrow(0, nk + j * D, D));
  }
  // Latent (§3.4 steps 2–4): c = Rᵀ [W_k'[d_r:]/α ; W_v] x (+ bias), then the rope key rows.
  torch::Tensor wj = torch::cat({wk2.narrow(0, d_r, nk) / alpha, wv}, 0);
  std::map<std::string, torch::Tensor> out;
  const std::string q_name = low_rank_q ? "q_b_proj" : "q_proj";
  out[q_name + ".weight"] = torch::cat(q_rows, 0);
  if (low_rank_q) out["q_a_proj.weight"] = q_basis.t().mm(wq);
  out["kv_a_proj_with_mqa.weight"] = torch::cat({R.t().mm(wj), wk2.narrow(0, 0, d_r)}, 0);
  if (bias) {
    out[q_name + ".bias"] = torch::cat(q_bias, 0);
    torch::Tensor bj = torch::cat({bk2.narrow(0, d_r, nk) / alpha, bv}, 0);
    out["kv_a_proj_with_mqa.bias"] = torch::cat({R.t().mv(bj), bk2.narrow(0, 0, d_r)}, 0);
  }
  out["kv_b_proj.weight"] = torch::cat(kv_b_rows, 0);
  out["o_proj.weight"] = dbl(a.o_proj->weight);
  YZ_ASSERT(out["kv_a_proj_with_mqa.weight"].size(0) == r + d_r, "latent rows");
  return out;
}

nlohmann::ordered_json mla_config_json(const nlohmann::json& src, const ModelConfig& c,
                                       const MlaPlan& p) {
  nlohmann::ordered_json j;
  j["architectures"] = {"DeepseekV3ForCausalLM"};
  j["model_type"] = "deepseek_v3";
  for (const char* k : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                        "num_attention_heads", "max_position_embeddings", "rms_norm_eps",
                        "tie_word_embeddings", "bos_token_id", "eos_token_id", "rope_theta",
                        "rope_scaling", "rope_parameters", "hidden_act"})
    if (src.contains(k)) j[k] = src[k];
  j["num_key_value_heads"] = c.num_attention_heads;
  if (p.q_lora_rank) j["q_lora_rank"] = *p.q_lora_rank;
  else j["q_lora_rank"] = nullptr;
  // Uniform dims are plain DeepSeek fields; per-layer dims are lists (our `native` extension).
  const MlaPlan full = per_layer_plan(p, c.num_hidden_layers);
  const bool uniform = is_uniform(full);
  const int64_t d_r0 = full.rope_dims.at(0);
  if (uniform) j["kv_lora_rank"] = full.kv_lora_ranks.at(0);
  else j["kv_lora_rank"] = full.kv_lora_ranks;
  if (uniform) j["qk_rope_head_dim"] = d_r0;
  else j["qk_rope_head_dim"] = full.rope_dims;
  j["qk_nope_head_dim"] = c.head_dim;
  j["v_head_dim"] = c.head_dim;
  j["head_dim"] = d_r0;  // transformers sizes the rotary from head_dim
  j["attention_bias"] = c.attention_bias && p.target == Target::kNative;
  j["qk_latent_layernorm"] = has_latent_norm(p);
  j["rope_interleave"] = true;
  // Dense: every layer index is below first_k_dense_replace, so no runtime builds an MoE block
  // (§2.2). n_routed_experts keeps its default: transformers 5 rejects null for it.
  j["first_k_dense_replace"] = c.num_hidden_layers;
  j["moe_layer_freq"] = 1;
  j["num_nextn_predict_layers"] = 0;
  j["torch_dtype"] = c.torch_dtype;
  j["youzhi"] = {{"converted_from", c.model_type}, {"target", target_name(p.target)},
                 {"freqfold", full.freqfold}, {"kv_lora_rank", full.kv_lora_ranks},
                 {"qk_rope_head_dim", full.rope_dims}, {"balance_kv_ratio", p.balance},
                 {"latent_norm", has_latent_norm(p)}};
  return j;
}

}  // namespace yz
