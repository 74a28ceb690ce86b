// The decoder-only language model for both families, as a libtorch module whose parameter
// names are the Hugging Face tensor names ("model.layers.3.self_attn.q_proj.weight"), so loading
// is a name-for-name copy and training can backpropagate through it. Reads as its forward pass:
// embed -> layers (norm, attention, residual, norm, MLP, residual) -> norm -> lm_head.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>

#include "model/attention.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/layers.h"
#include "util/fs.h"

namespace yz {

struct DecoderLayerImpl : torch::nn::Module {
  DecoderLayerImpl(const ModelConfig& c, int64_t layer);
  torch::Tensor forward(const torch::Tensor& x, const ForwardContext& ctx,
                        const std::function<void(const torch::Tensor&)>& observe = nullptr);
  RmsNorm input_layernorm{nullptr};           // [hidden]
  std::shared_ptr<AttentionImpl> self_attn;   // GqaAttention or MlaAttention
  RmsNorm post_attention_layernorm{nullptr};  // [hidden]
  Mlp mlp{nullptr};
};
TORCH_MODULE(DecoderLayer);

struct DecoderStackImpl : torch::nn::Module {
  explicit DecoderStackImpl(const ModelConfig& c);
  torch::nn::Embedding embed_tokens{nullptr};  // [vocab, hidden]
  torch::nn::ModuleList layers{nullptr};       // [num_hidden_layers] DecoderLayer
  RmsNorm norm{nullptr};                       // [hidden]
};
TORCH_MODULE(DecoderStack);

// Sees each layer's attention input (after input_layernorm), [B, T, hidden]: calibration
// accumulates statistics from it layer by layer without storing activations.
using LayerObserver = std::function<void(int64_t layer, const torch::Tensor& attn_input)>;

struct CausalLmImpl : torch::nn::Module {
  explicit CausalLmImpl(const ModelConfig& c);
  // ids: [B, T] int64. With a cache the new tokens take positions cache.length()..+T and are
  // appended; without one they are positions 0..T-1. Returns logits [B, T, vocab].
  torch::Tensor forward(const torch::Tensor& ids, KvCache* cache = nullptr,
                        const LayerObserver& observer = nullptr);
  // One serving-engine step over the paged cache: ids [N] int64 (the new tokens of every
  // scheduled sequence, as batch.seqs lays them out), positions [N] int64, logit_rows [S] int64
  // (the tokens whose next-token logits are wanted). Returns logits [S, vocab].
  torch::Tensor forward_paged(const torch::Tensor& ids, const torch::Tensor& positions,
                              const PagedBatch& batch, const torch::Tensor& logit_rows);
  KvCache new_cache(int64_t batch, int64_t capacity) const;
  void set_mla_path(MlaPath path);  // no-op for GQA models

  ModelConfig config;
  DecoderStack model{nullptr};
  Linear lm_head{nullptr};  // [vocab, hidden]; absent when embeddings are tied
  std::map<int64_t, RotaryTables> rotary;  // per rotary width
};
TORCH_MODULE(CausalLm);

struct LoadOptions {
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat;
  // load_decoder_layer: false shares source tensors already on `device` in `dtype` instead of
  // copying them (a converted layer reuses its GQA layer's MLP and norms).
  bool copy = true;
};

// Builds the model from MODEL/config.json and copies every parameter from the checkpoint
// (an error names any missing or mis-shaped tensor). Eval mode, no grad required.
CausalLm load_causal_lm(const fs::path& dir, const LoadOptions& options);

// A tensor by its HF name, on any device and dtype: a checkpoint or an in-memory model.
using TensorSource = std::function<torch::Tensor(const std::string& name)>;

// Decoder layer `layer` of `config` with its parameters ("model.layers.{layer}.*") copied from
// `source`: lets a converter stream a checkpoint one layer at a time. Eval mode.
DecoderLayer load_decoder_layer(const ModelConfig& config, int64_t layer,
                                const TensorSource& source, const LoadOptions& options);

// "cpu" / "cuda" / "cuda:N"; a clear error when CUDA is asked for and absent.
torch::Device parse_device(const std::string& name);
// "float32" / "fp32", "bfloat16" / "bf16", "float16" / "fp16".
torch::ScalarType parse_dtype_name(const std::string& name);

}  // namespace yz
