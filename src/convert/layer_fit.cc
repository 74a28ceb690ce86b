// Conversion methods and per-layer factorization statistics (see layer_fit.h).
#include "convert/layer_fit.h"

#include <sstream>

#include "convert/local_fit.h"
#include "convert/refit.h"
#include "util/error.h"

namespace yz {

const char* factorization_name(Factorization f) {
  return f == Factorization::kWhitened ? "whitened" : "bkv";
}

Factorization parse_factorization(const std::string& name) {
  if (name == "bkv") return Factorization::kBalancedPca;
  if (name == "whitened") return Factorization::kWhitened;
  YZ_THROW(ErrorKind::kUsage, "--factorization must be bkv or whitened, not '", name, "'");
}

const char* fit_inputs_name(FitInputs i) { return i == FitInputs::kConverted ? "converted" : "original"; }

FitInputs parse_fit_inputs(const std::string& name) {
  if (name == "original") return FitInputs::kOriginal;
  if (name == "converted") return FitInputs::kConverted;
  YZ_THROW(ErrorKind::kUsage, "--fit-inputs must be original or converted, not '", name, "'");
}

std::string FitOptions::key() const {
  std::ostringstream s;
  s << factorization_name(factorization) << "|refit " << refit << "|local " << local_steps;
  if (needs_data()) s << "|" << fit_inputs_name(inputs) << "|ridge " << ridge;
  if (local_steps > 0) s << "|lr " << local_lr << "|w " << local_windows << "|seed " << seed;
  return s.str();
}

void KvStats::add(GqaAttentionImpl& a, const torch::Tensor& x, bool queries) {
  const int64_t G = a.kv_heads, D = a.head_dim, H = a.heads;
  torch::Tensor z = torch::cat({a.k_proj->forward(x), a.v_proj->forward(x)}, -1)
                        .reshape({-1, 2 * G * D}).to(torch::kDouble);
  torch::Tensor g = z.t().mm(z);
  kv_gram = kv_gram.defined() ? kv_gram + g : g;
  if (!queries) return;
  // Heads of one group read the same keys: their query Grams add up (factorization.h).
  torch::Tensor q = a.q_proj->forward(x).reshape({-1, G, H / G, D}).to(torch::kDouble);
  torch::Tensor gq = torch::einsum("njhd,njhe->jde", {q, q});
  q_grams = q_grams.defined() ? q_grams + gq : gq;
}

KvStats KvStats::on(const torch::Device& device) const {
  return {kv_gram.to(device), q_grams.defined() ? q_grams.to(device) : q_grams};
}

LatentFactors factorize(const KvStats& s, const torch::Tensor& p, const GqaAttentionImpl& a,
                        int64_t d_r, int64_t rank, double balance, Factorization method) {
  const int64_t GD = a.kv_heads * a.head_dim;
  torch::Tensor joint = joint_gram(s.kv_gram, p, d_r);
  if (method == Factorization::kBalancedPca) return balanced_kv_pca(joint, GD, d_r, rank, balance);
  YZ_ASSERT(s.q_grams.defined(), "the whitened factorization needs query Grams");
  OutputMetric m = output_metric(s.q_grams, p, d_r, a.o_proj->weight.detach(), a.heads);
  return whitened_pca(joint, m, GD, d_r, rank, balance);
}

std::shared_ptr<MlaAttentionImpl> mla_attention_module(const ModelConfig& cfg, int64_t l,
                                                       const std::map<std::string, torch::Tensor>& attn,
                                                       const torch::Device& device,
                                                       torch::ScalarType dtype) {
  auto m = std::make_shared<MlaAttentionImpl>(cfg, l);
  torch::NoGradGuard g;
  for (auto& item : m->named_parameters()) {
    auto it = attn.find(item.key());
    YZ_ASSERT(it != attn.end(), "no tensor for self_attn.", item.key());
    YZ_ASSERT(it->second.sizes() == item.value().sizes(), "shape of self_attn.", item.key());
    item.value().set_data(it->second.detach().to(device, dtype, /*non_blocking=*/false, /*copy=*/true));
  }
  m->eval();
  return m;
}

nlohmann::ordered_json fit_layer(std::map<std::string, torch::Tensor>& attn, const ModelConfig& mla,
                                 int64_t l, DecoderLayerImpl& gqa, ActivationStream& original,
                                 ActivationStream& inputs, const FitOptions& o, bool measure) {
  const torch::Device dev = gqa.input_layernorm->weight.device();
  const torch::ScalarType dtype = gqa.input_layernorm->weight.scalar_type();
  auto error = [&] {
    return attention_error(*mla_attention_module(mla, l, attn, dev, dtype), gqa, original, inputs);
  };
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  if (measure) out["error_factorized"] = error();
  nlohmann::ordered_json warnings = nlohmann::ordered_json::array();
  if (o.refit) {
    out["refit"] = refit_layer(attn, mla, l, gqa, original, inputs, o);
    for (const auto& w : out["refit"]["warnings"]) warnings.push_back(w);
    if (measure) out["error_refit"] = error();
  }
  if (o.local_steps > 0) {
    out["local"] = distill_layer(attn, mla, l, gqa, original, inputs, o);
    if (measure) out["error_local"] = error();
  }
  out["warnings"] = warnings;
  return out;
}

}  // namespace yz
