// Trainable groups, master weights, activation checkpointing and FLOP accounting (see
// model_state.h).
#include "train/model_state.h"

#include "model/hf_names.h"
#include "util/error.h"

namespace yz::train {

TrainGroup parse_train_group(const std::string& name) {
  if (name == "attn") return TrainGroup::kAttn;
  if (name == "attn+norm") return TrainGroup::kAttnNorm;
  if (name == "all") return TrainGroup::kAll;
  YZ_THROW(ErrorKind::kUsage, "unknown --train group '", name, "' (use attn, attn+norm or all)");
}

const char* train_group_name(TrainGroup g) {
  switch (g) {
    case TrainGroup::kAttn: return "attn";
    case TrainGroup::kAttnNorm: return "attn+norm";
    case TrainGroup::kAll: return "all";
  }
  return "?";
}

bool in_train_group(const std::string& name, TrainGroup g) {
  if (g == TrainGroup::kAll) return true;
  if (name.find(".self_attn.") != std::string::npos) return true;
  return g == TrainGroup::kAttnNorm && name.find("norm") != std::string::npos;
}

int64_t TrainableParams::numel() const {
  int64_t n = 0;
  for (const auto& p : params) n += p.numel();
  return n;
}

TrainableParams select_trainable(CausalLm& lm, TrainGroup group) {
  TrainableParams t;
  torch::NoGradGuard no_grad;
  for (auto& item : lm->named_parameters()) {
    torch::Tensor p = item.value();
    const bool train = in_train_group(item.key(), group);
    p.set_requires_grad(train);
    if (!train) continue;
    t.names.push_back(item.key());
    t.params.push_back(p);
    t.masters.push_back(p.detach().to(torch::kFloat).clone());
    t.decay.push_back(p.dim() >= 2);
  }
  YZ_CHECK(!t.params.empty(), "--train ", train_group_name(group), " selects no parameter");
  return t;
}

void copy_masters_to_params(const TrainableParams& t) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < t.params.size(); ++i) t.params[i].copy_(t.masters[i]);
}

namespace {

// The recomputation a checkpointed layer needs in backward: the layer and its context (cos/sin
// tables and masks are shared tensors without grad), kept alive by the autograd graph.
struct Recompute : torch::CustomClassHolder {
  DecoderLayerImpl* layer = nullptr;
  ForwardContext ctx;
};

struct CheckpointedLayer : torch::autograd::Function<CheckpointedLayer> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                const torch::Tensor& h,
                                                c10::intrusive_ptr<Recompute> fn,
                                                at::TensorList params) {
    ctx->save_for_backward({h});
    (void)params;  // inputs only so that autograd records the node and routes their gradients
    ctx->saved_data["fn"] = c10::IValue::make_capsule(fn);
    ctx->saved_data["h_grad"] = h.requires_grad();
    torch::NoGradGuard no_grad;
    return {fn->layer->forward(h, fn->ctx)};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto fn = c10::static_intrusive_pointer_cast<Recompute>(ctx->saved_data["fn"].toCapsule());
    const bool h_grad = ctx->saved_data["h_grad"].toBool();
    torch::Tensor h = ctx->get_saved_variables()[0].detach().requires_grad_(h_grad);
    std::vector<torch::Tensor> params;
    for (const auto& p : fn->layer->parameters())
      if (p.requires_grad()) params.push_back(p);
    torch::Tensor y;
    {
      torch::AutoGradMode enable(true);
      y = fn->layer->forward(h, fn->ctx);
    }
    std::vector<torch::Tensor> inputs;
    if (h_grad) inputs.push_back(h);
    inputs.insert(inputs.end(), params.begin(), params.end());
    auto grads = torch::autograd::grad({y}, inputs, {grad_out[0]}, /*retain_graph=*/false,
                                       /*create_graph=*/false, /*allow_unused=*/true);
    torch::autograd::variable_list out{h_grad ? grads[0] : torch::Tensor(), torch::Tensor()};
    out.insert(out.end(), grads.begin() + (h_grad ? 1 : 0), grads.end());
    return out;
  }
};

}  // namespace

LayerRunner checkpointed_layers() {
  return [](DecoderLayerImpl& layer, const torch::Tensor& h, const ForwardContext& ctx) {
    std::vector<torch::Tensor> params;
    for (const auto& p : layer.parameters())
      if (p.requires_grad()) params.push_back(p);
    if (!torch::GradMode::is_enabled() || (params.empty() && !h.requires_grad()))
      return layer.forward(h, ctx);
    auto fn = c10::make_intrusive<Recompute>();
    fn->layer = &layer;
    fn->ctx = ctx;
    fn->ctx.cache = nullptr;
    // TensorList (not a vector) so that apply() records each parameter as an input.
    return CheckpointedLayer::apply(h, fn, at::TensorList(params))[0];
  };
}

StepFlops step_flops(const ModelConfig* teacher, const ModelConfig& student,
                     const TrainableParams& trainable, int64_t tokens, int64_t attended_pairs) {
  // Matmul weights a token passes through: every 2-D weight but the embedding lookup; a tied
  // model's embedding counts once, as lm_head.
  auto matmul_params = [](const ModelConfig& c) {
    double n = 0;
    for (const auto& t : expected_tensors(c))
      if (t.shape.size() == 2 && t.name != "model.embed_tokens.weight")
        n += static_cast<double>(t.shape[0]) * static_cast<double>(t.shape[1]);
    if (c.tie_word_embeddings) n += static_cast<double>(c.vocab_size) * c.hidden_size;
    return n;
  };
  // Scores q·k and values p·v per (query, key) pair, summed over layers: 2·heads·(d_qk + d_v).
  auto attention_per_pair = [](const ModelConfig& c) {
    double f = 0;
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
      const double qk = c.family == Family::kGqa ? c.head_dim
                                                 : c.qk_nope_head_dim + c.mla_layers[l].qk_rope_head_dim;
      const double v = c.family == Family::kGqa ? c.head_dim : c.v_head_dim;
      f += 2.0 * c.num_attention_heads * (qk + v);
    }
    return f;
  };
  double trained_matmul = 0;
  for (size_t i = 0; i < trainable.params.size(); ++i)
    if (trainable.params[i].dim() == 2 && trainable.names[i] != "model.embed_tokens.weight")
      trained_matmul += static_cast<double>(trainable.params[i].numel());
  if (student.tie_word_embeddings)
    for (const auto& n : trainable.names)
      if (n == "model.embed_tokens.weight")
        trained_matmul += static_cast<double>(student.vocab_size) * student.hidden_size;
  const double T = static_cast<double>(tokens), pairs = static_cast<double>(attended_pairs);
  StepFlops f;
  if (teacher != nullptr) f.teacher = 2 * matmul_params(*teacher) * T + attention_per_pair(*teacher) * pairs;
  const double attn = attention_per_pair(student) * pairs;
  f.student_forward = 2 * matmul_params(student) * T + attn;
  f.student_backward = 2 * matmul_params(student) * T + 2 * trained_matmul * T + 2 * attn;
  return f;
}

}  // namespace yz::train
