// GQA -> MLA math (see gqa_to_mla.h). Index maps follow mla_conversion.md §3.2–§3.5 exactly.
#include "convert/gqa_to_mla.h"

#include <algorithm>
#include <cmath>

#include "model/rope.h"
#include "util/error.h"

namespace yz {

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
  // Stock runtimes read one global r and d_r: per-layer plans are padded to the widest layer
  // (pad_attention), which maps a layer's rotary pairs onto the widest layer's frequencies.
  if (p.target == Target::kStock && !is_uniform(p)) {
    const int64_t d_max = *std::max_element(p.rope_dims.begin(), p.rope_dims.end());
    for (int64_t l = 0; l < L; ++l)
      YZ_CHECK(d_max % p.rope_dims[l] == 0, "stock export pads every layer to d_r = ", d_max,
               ", which layer ", l, "'s d_r ", p.rope_dims[l], " does not divide");
  }
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

torch::Tensor pca_basis(const torch::Tensor& gram, int64_t rank) {
  return eigh_desc(gram.to(torch::kDouble)).second.narrow(1, 0, rank).contiguous();
}

std::map<std::string, torch::Tensor> mla_attention_tensors(const GqaAttentionImpl& a,
                                                           const torch::Tensor& P_in, int64_t d_r,
                                                           const LayerExport& what) {
  const LatentFactors* fac = what.factors;
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
  // Latent c = down·z and ẑ = up·c for z = [k̃_nope, v] (factorization.h); identity: step 1.
  const torch::Tensor eye = torch::eye(nk + GD, torch::dtype(torch::kDouble).device(dev));
  const torch::Tensor down = fac ? dbl(fac->down) : eye, up = fac ? dbl(fac->up) : eye;
  const int64_t r = up.size(1);
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
    // kv_b (§3.4 step 5): k_nope rows K_up',h[:, d_r:]·up[0:nk], then v rows up[nk + jD ...]
    // (BKV: up = diag(α, 1)·R, TransMLA's α·K_up'·R_k).
    kv_b_rows.push_back(kup.narrow(1, d_r, nk).mm(up.narrow(0, 0, nk)));
    kv_b_rows.push_back(up.narrow(0, nk + j * D, D));
  }
  // Latent (§3.4 steps 2–4): c = down·[W_k'[d_r:] ; W_v] x (+ bias), then the rope key rows
  // (BKV: down = Rᵀ·diag(1/α, 1)).
  torch::Tensor wj = torch::cat({wk2.narrow(0, d_r, nk), wv}, 0);
  std::map<std::string, torch::Tensor> out;
  const std::string q_name = low_rank_q ? "q_b_proj" : "q_proj";
  out[q_name + ".weight"] = torch::cat(q_rows, 0);
  if (low_rank_q) out["q_a_proj.weight"] = q_basis.t().mm(wq);
  out["kv_a_proj_with_mqa.weight"] = torch::cat({down.mm(wj), wk2.narrow(0, 0, d_r)}, 0);
  if (bias) {
    out[q_name + ".bias"] = torch::cat(q_bias, 0);
    torch::Tensor bj = torch::cat({bk2.narrow(0, d_r, nk), bv}, 0);
    out["kv_a_proj_with_mqa.bias"] = torch::cat({down.mv(bj), bk2.narrow(0, 0, d_r)}, 0);
  }
  out["kv_b_proj.weight"] = torch::cat(kv_b_rows, 0);
  out["o_proj.weight"] = dbl(a.o_proj->weight);
  YZ_ASSERT(out["kv_a_proj_with_mqa.weight"].size(0) == r + d_r, "latent rows");
  return out;
}

std::map<std::string, torch::Tensor> pad_attention(const std::map<std::string, torch::Tensor>& attn,
                                                   const ModelConfig& gqa, int64_t r, int64_t d_r,
                                                   int64_t r_max, int64_t d_max) {
  const int64_t H = gqa.num_attention_heads, nope = gqa.head_dim, ratio = d_max / d_r;
  YZ_ASSERT(r <= r_max && d_r <= d_max && d_max % d_r == 0, "padding to a smaller layer");
  // Pair p of the layer's rotary (θ_{c·p}) sits at pair p·ratio of the widest one: the same
  // frequency under every rope type whose frequencies depend on the frequency only.
  const RotaryTables own = rotary_tables(gqa.rope, d_r, gqa.max_position_embeddings);
  const RotaryTables wide = rotary_tables(gqa.rope, d_max, gqa.max_position_embeddings);
  for (int64_t p = 0; p < d_r / 2; ++p) {
    const double a = own.inv_freq[p].item<double>(), b = wide.inv_freq[p * ratio].item<double>();
    YZ_CHECK(std::abs(a - b) <= 1e-6 * std::abs(a) && own.attention_scaling == wide.attention_scaling,
             "stock export cannot pad d_r ", d_r, " to ", d_max, ": rope_scaling ",
             rope_type_name(gqa.rope.type), " gives rotary pair ", p, " frequency ", a, " at d_r ",
             d_r, " but ", b, " at d_r ", d_max);
  }
  std::vector<int64_t> slots;
  for (int64_t q = 0; q < d_r; ++q) slots.push_back(2 * (q / 2) * ratio + q % 2);
  const torch::Device dev = attn.at("kv_b_proj.weight").device();
  const torch::Tensor rope_rows = torch::tensor(slots).to(dev);
  // Softmax scale 1/√(nope + d_r) becomes 1/√(nope + d_max): the query absorbs the ratio.
  const double qs = std::sqrt(static_cast<double>(nope + d_max) / (nope + d_r));
  // The latent norm's RMS over r_max entries of which r are non-zero: scaling the latent rows by
  // κ = √(r_max / r) keeps it (eps included) and γ/κ restores the normalised latent exactly.
  const bool norm = attn.count("kv_a_layernorm.weight") > 0;
  const double kappa = norm ? std::sqrt(static_cast<double>(r_max) / r) : 1.0;
  std::map<std::string, torch::Tensor> out = attn;
  for (const std::string q : {"q_proj", "q_b_proj"})
    for (const std::string kind : {".weight", ".bias"}) {
      if (!attn.count(q + kind)) continue;
      torch::Tensor t = attn.at(q + kind);
      torch::Tensor v = t.reshape({H, nope + d_r, -1});
      torch::Tensor padded = torch::zeros({H, nope + d_max, v.size(2)}, t.options());
      padded.narrow(1, 0, nope).copy_(v.narrow(1, 0, nope));
      padded.index_copy_(1, nope + rope_rows, v.narrow(1, nope, d_r));
      out[q + kind] = (qs * padded).reshape(kind == ".bias" ? std::vector<int64_t>{-1}
                                                            : std::vector<int64_t>{H * (nope + d_max), v.size(2)});
    }
  for (const std::string kind : {".weight", ".bias"}) {
    if (!attn.count("kv_a_proj_with_mqa" + kind)) continue;
    torch::Tensor t = attn.at("kv_a_proj_with_mqa" + kind);
    torch::Tensor v = t.reshape({r + d_r, -1});
    torch::Tensor padded = torch::zeros({r_max + d_max, v.size(1)}, t.options());
    padded.narrow(0, 0, r).copy_(kappa * v.narrow(0, 0, r));
    padded.index_copy_(0, r_max + rope_rows, v.narrow(0, r, d_r));
    out["kv_a_proj_with_mqa" + kind] = kind == ".bias" ? padded.reshape({-1}) : padded;
  }
  torch::Tensor kvb = attn.at("kv_b_proj.weight");
  out["kv_b_proj.weight"] = torch::cat({kvb, torch::zeros({kvb.size(0), r_max - r}, kvb.options())}, 1);
  if (norm) {
    const torch::Tensor g = attn.at("kv_a_layernorm.weight");
    out["kv_a_layernorm.weight"] = torch::cat({g, g.narrow(0, 0, 1).expand({r_max - r})}) / kappa;
  }
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
  // Uniform dims are plain DeepSeek fields; per-layer dims are lists (our `native` extension)
  // or, for `stock`, padded to the widest layer (pad_attention).
  MlaPlan full = per_layer_plan(p, c.num_hidden_layers);
  const MlaPlan planned = full;
  const bool padded = p.target == Target::kStock && !is_uniform(full);
  if (padded) {
    full.kv_lora_ranks.assign(full.kv_lora_ranks.size(),
                              *std::max_element(full.kv_lora_ranks.begin(), full.kv_lora_ranks.end()));
    full.rope_dims.assign(full.rope_dims.size(),
                          *std::max_element(full.rope_dims.begin(), full.rope_dims.end()));
  }
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
  if (padded)
    j["youzhi"]["padded_from"] = {{"kv_lora_rank", planned.kv_lora_ranks},
                                  {"qk_rope_head_dim", planned.rope_dims}};
  return j;
}

}  // namespace yz
