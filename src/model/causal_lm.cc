// Decoder layers, the model stack and checkpoint loading (see causal_lm.h). The forward pass
// follows transformers' LlamaModel / DeepseekV3Model.forward.
#include "model/causal_lm.h"

#include "model/hf_names.h"
#include "util/error.h"
#include "util/safetensors.h"
#include "util/tensor.h"

namespace yz {

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c, int64_t layer) {
  input_layernorm = register_module("input_layernorm", RmsNorm(c.hidden_size, c.rms_norm_eps));
  if (c.family == Family::kGqa)
    self_attn = register_module("self_attn", std::make_shared<GqaAttentionImpl>(c, layer));
  else
    self_attn = register_module("self_attn", std::make_shared<MlaAttentionImpl>(c, layer));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RmsNorm(c.hidden_size, c.rms_norm_eps));
  mlp = register_module("mlp", Mlp(c.hidden_size, c.intermediate_size));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const ForwardContext& ctx,
                                        const std::function<void(const torch::Tensor&)>& observe) {
  torch::Tensor normed = input_layernorm(x);
  if (observe) observe(normed);
  torch::Tensor h = x + self_attn->forward(normed, ctx);
  return h + mlp(post_attention_layernorm(h));
}

DecoderStackImpl::DecoderStackImpl(const ModelConfig& c) {
  // An uninitialised placeholder (_weight) skips the N(0, 1) init: the checkpoint replaces it.
  embed_tokens = register_module(
      "embed_tokens", torch::nn::Embedding(torch::nn::EmbeddingOptions(c.vocab_size, c.hidden_size)
                                               ._weight(torch::empty({c.vocab_size, c.hidden_size}))));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) layers->push_back(DecoderLayer(c, l));
  norm = register_module("norm", RmsNorm(c.hidden_size, c.rms_norm_eps));
}

CausalLmImpl::CausalLmImpl(const ModelConfig& c) : config(c) {
  model = register_module("model", DecoderStack(c));
  if (!c.tie_word_embeddings)
    lm_head = register_module("lm_head", Linear(c.hidden_size, c.vocab_size, false));
  std::vector<int64_t> dims;
  if (c.family == Family::kGqa) dims.push_back(c.head_dim);
  for (const auto& l : c.mla_layers) dims.push_back(l.qk_rope_head_dim);
  for (int64_t d : dims)
    if (!rotary.count(d)) rotary[d] = rotary_tables(c.rope, d, c.max_position_embeddings);
}

torch::Tensor CausalLmImpl::forward(const torch::Tensor& ids, KvCache* cache,
                                    const LayerObserver& observer) {
  const int64_t T = ids.size(1);
  ForwardContext ctx;
  ctx.cache = cache;
  ctx.start = cache ? cache->length() : 0;
  torch::Tensor h = model->embed_tokens(ids);  // [B, T, hidden]
  auto positions = torch::arange(ctx.start, ctx.start + T, torch::dtype(torch::kLong).device(ids.device()));
  for (const auto& [dim, tables] : rotary)
    ctx.cos_sin[dim] = rotary_cos_sin(tables, positions, h.scalar_type());
  int64_t index = 0;
  for (const auto& layer : *model->layers) {
    const int64_t l = index++;
    h = layer->as<DecoderLayerImpl>()->forward(
        h, ctx, observer ? [&](const torch::Tensor& x) { observer(l, x); }
                         : std::function<void(const torch::Tensor&)>());
  }
  if (cache) cache->advance(T);
  h = model->norm(h);
  return lm_head ? lm_head(h) : torch::nn::functional::linear(h, model->embed_tokens->weight);
}

torch::Tensor CausalLmImpl::forward_paged(const torch::Tensor& ids, const torch::Tensor& positions,
                                          const PagedBatch& batch, const torch::Tensor& logit_rows) {
  ForwardContext ctx;
  ctx.paged = &batch;
  torch::Tensor h = model->embed_tokens(ids.unsqueeze(0));  // [1, N, hidden]
  for (const auto& [dim, tables] : rotary)
    ctx.cos_sin[dim] = rotary_cos_sin(tables, positions, h.scalar_type());
  for (const auto& layer : *model->layers) h = layer->as<DecoderLayerImpl>()->forward(h, ctx);
  h = model->norm(h[0].index_select(0, logit_rows));  // [S, hidden]: only rows that sample
  return lm_head ? lm_head(h) : torch::nn::functional::linear(h, model->embed_tokens->weight);
}

KvCache CausalLmImpl::new_cache(int64_t batch, int64_t capacity) const {
  const torch::Tensor& w = model->embed_tokens->weight;
  return KvCache(config, batch, capacity, w.scalar_type(), w.device());
}

void CausalLmImpl::set_mla_path(MlaPath path) {
  for (const auto& layer : *model->layers) {
    auto* attn = dynamic_cast<MlaAttentionImpl*>(layer->as<DecoderLayerImpl>()->self_attn.get());
    if (attn) attn->path = path;
  }
}

CausalLm load_causal_lm(const fs::path& dir, const LoadOptions& options) {
  const ModelConfig config = load_config(dir);
  YZ_CHECK(!config.qk_norm, dir.string(), ": ", config.model_type,
           " models with per-head q/k RMSNorm are not supported by the reference decoder");
  YZ_CHECK(!config.sliding_window, dir.string(), ": sliding-window attention (window ",
           config.sliding_window.value_or(0), ") is not supported");
  Checkpoint ckpt(dir);
  CausalLm lm(config);
  torch::NoGradGuard no_grad;
  for (auto& item : lm->named_parameters()) {
    const std::string& name = item.key();
    YZ_CHECK(ckpt.has(name), dir.string(), ": checkpoint lacks tensor '", name, "'");
    const TensorInfo& info = ckpt.info(name);
    YZ_CHECK(info.shape == item.value().sizes().vec(), dir.string(), ": tensor '", name,
             "' has shape ", torch::IntArrayRef(info.shape), ", config.json implies ",
             item.value().sizes());
    torch::Tensor w = to_tensor(ckpt.view(name)).to(options.device, options.dtype);
    item.value().set_data(w);
  }
  // Rotary frequencies live with the weights: a forward then never copies them across devices
  // (CUDA graphs of the decode step cannot capture such a copy).
  for (auto& entry : lm->rotary) entry.second.inv_freq = entry.second.inv_freq.to(options.device);
  lm->eval();
  return lm;
}

DecoderLayer load_decoder_layer(const ModelConfig& config, int64_t layer,
                                const TensorSource& source, const LoadOptions& options) {
  DecoderLayer out(config, layer);
  const std::string prefix = layer_prefix(layer);
  torch::NoGradGuard no_grad;
  for (auto& item : out->named_parameters()) {
    torch::Tensor w = source(prefix + item.key());
    YZ_CHECK(w.sizes() == item.value().sizes(), "tensor '", prefix, item.key(), "' has shape ",
             w.sizes(), ", config implies ", item.value().sizes());
    torch::Tensor t = w.to(options.device, options.dtype);
    item.value().set_data(options.copy && t.is_same(w) ? t.clone() : t);
  }
  out->eval();
  return out;
}

torch::Device parse_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  YZ_CHECK(name.rfind("cuda", 0) == 0, "unknown device '", name, "' (use cpu or cuda[:N])");
  YZ_CHECK(torch::cuda::is_available(), "--device ", name,
           " was asked for but no CUDA device is available (or this build has no CUDA)");
  return torch::Device(name);
}

torch::ScalarType parse_dtype_name(const std::string& name) {
  if (name == "float32" || name == "fp32") return torch::kFloat;
  if (name == "bfloat16" || name == "bf16") return torch::kBFloat16;
  if (name == "float16" || name == "fp16") return torch::kHalf;
  YZ_CHECK(false, "unknown dtype '", name, "' (use float32, bfloat16 or float16)");
}

}  // namespace yz
