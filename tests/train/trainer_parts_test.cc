// The trainer's model-side pieces on tiny random models (float64, exact identities):
// a packed row with document masks and restarting positions equals each document run alone
// (GQA and MLA); activation checkpointing gives the plain graph's gradients; gradient buckets
// sum micro-batches; batched sampling equals one-row generation; checkpoints round-trip, keep
// K, and a damaged one is skipped for the previous; FLOPs of full training are 6N per token.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "model/generation.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/model_state.h"
#include "train/parallel.h"
#include "util/error.h"

namespace yz::train {
namespace {

fs::path tiny(const std::string& name) { return test::data_dir() / "decoder" / "tiny_models" / name; }

CausalLm load64(const std::string& name) { return load_causal_lm(tiny(name), {torch::kCPU, torch::kDouble}); }

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

TEST(PackedForward, EqualsDocumentsRunAlone) {
  for (const char* name : {"qwen25", "dsv3_qlora"}) {
    CausalLm lm = load64(name);
    torch::NoGradGuard no_grad;
    torch::manual_seed(0);
    const int64_t V = lm->config.vocab_size;
    torch::Tensor a = torch::randint(0, V, {1, 5}), b = torch::randint(0, V, {1, 7});
    torch::Tensor row = torch::cat({a, b}, 1);
    torch::Tensor seg = torch::cat({torch::zeros({1, 5}), torch::ones({1, 7})}, 1).to(torch::kLong);
    ForwardOptions o;
    o.positions = torch::cat({torch::arange(5), torch::arange(7)}).unsqueeze(0);
    o.document_mask = document_mask(seg, torch::kCPU);
    torch::Tensor packed = lm->hidden_states(row, o);
    torch::Tensor alone = torch::cat({lm->hidden_states(a, {}), lm->hidden_states(b, {})}, 1);
    EXPECT_LT(max_diff(packed, alone), 1e-12) << name;
    // Without the mask and restart, document b would see a: the test can fail.
    EXPECT_GT(max_diff(lm->hidden_states(row, {}), alone), 1e-6) << name;
    // hidden_states · output_weight is forward()'s logits.
    EXPECT_LT(max_diff(torch::nn::functional::linear(lm->hidden_states(a, {}), lm->output_weight()),
                       lm->forward(a)), 1e-12) << name;
  }
}

TEST(ActivationCheckpointing, SameGradientsAsThePlainGraph) {
  for (const char* name : {"qwen25", "dsv3_qlora"}) {
    for (TrainGroup group : {TrainGroup::kAttn, TrainGroup::kAll}) {
      std::vector<std::vector<torch::Tensor>> grads;
      for (bool ckpt : {false, true}) {
        CausalLm lm = load64(name);
        TrainableParams t = select_trainable(lm, group);
        torch::manual_seed(1);
        torch::Tensor ids = torch::randint(0, lm->config.vocab_size, {2, 9});
        torch::Tensor probe = torch::randn({2, 9, lm->config.hidden_size}, torch::kDouble);
        ForwardOptions o;
        if (ckpt) o.run_layer = checkpointed_layers();
        (lm->hidden_states(ids, o) * probe).sum().backward();
        std::vector<torch::Tensor> g;
        for (size_t i = 0; i < t.params.size(); ++i)  // lm_head takes no part in hidden_states
          if (t.names[i] != "lm_head.weight") g.push_back(t.params[i].grad().clone());
        grads.push_back(g);
      }
      ASSERT_EQ(grads[0].size(), grads[1].size());
      for (size_t i = 0; i < grads[0].size(); ++i) {
        EXPECT_LT(max_diff(grads[0][i], grads[1][i]), 1e-12) << name << " param " << i;
        EXPECT_GT(grads[0][i].abs().max().item<double>(), 0) << name << " param " << i;
      }
    }
  }
}

TEST(GradBuckets, SumMicroBatchesIntoMasters) {
  CausalLm lm = load64("qwen25");
  TrainableParams t = select_trainable(lm, TrainGroup::kAttn);
  GradBuckets buckets(t.params, t.masters, nullptr, /*bucket_bytes=*/20000);  // several buckets
  EXPECT_GT(buckets.buckets(), 1);
  torch::manual_seed(2);
  std::vector<torch::Tensor> ids{torch::randint(0, 256, {1, 6}), torch::randint(0, 256, {2, 4})};
  // Reference: autograd's own accumulation over both micro-batches on a second copy.
  CausalLm ref = load64("qwen25");
  TrainableParams rt = select_trainable(ref, TrainGroup::kAttn);
  buckets.zero();
  for (size_t k = 0; k < ids.size(); ++k) {
    buckets.begin_micro(k + 1 == ids.size());
    lm->hidden_states(ids[k], {}).pow(2).sum().backward();
    for (auto& p : t.params) p.mutable_grad() = torch::Tensor();
    ref->hidden_states(ids[k], {}).pow(2).sum().backward();
  }
  buckets.finish_step();
  for (size_t i = 0; i < t.params.size(); ++i)
    EXPECT_LT(max_diff(t.masters[i].grad(), rt.params[i].grad().to(torch::kFloat)), 1e-5) << t.names[i];
}

TEST(Generation, BatchedRowsEqualSingleRows) {
  CausalLm lm = load64("qwen25");
  torch::manual_seed(3);
  torch::Tensor prompts = torch::randint(0, 256, {3, 5});
  std::vector<Sampler> samplers;
  for (uint64_t s : {11, 12, 13}) samplers.emplace_back(SamplingParams{0.9, 1.0, 0, s});
  std::vector<Sampler*> ptrs{&samplers[0], &samplers[1], &samplers[2]};
  BatchGeneration g = generate_batch(lm, prompts, 6, ptrs, {});
  for (int64_t b = 0; b < 3; ++b) {
    Sampler one(SamplingParams{0.9, 1.0, 0, static_cast<uint64_t>(11 + b)});
    std::vector<int64_t> p(prompts[b].data_ptr<int64_t>(), prompts[b].data_ptr<int64_t>() + 5);
    std::vector<int32_t> out = generate(lm, std::vector<int32_t>(p.begin(), p.end()), 6, one);
    ASSERT_EQ(g.lengths[b], 6);
    for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(g.ids[b][i].item<int64_t>(), out[i]) << b << " " << i;
  }
  // A stop id ends a row; its tail repeats the stop id.
  const int32_t stop = static_cast<int32_t>(g.ids[1][2].item<int64_t>());
  Sampler s0(SamplingParams{0.9, 1.0, 0, 12});
  BatchGeneration h = generate_batch(lm, prompts.narrow(0, 1, 1), 6, {&s0}, {stop});
  EXPECT_LE(h.lengths[0], 3);
  for (int64_t i = h.lengths[0]; i < 6; ++i) EXPECT_EQ(h.ids[0][i].item<int64_t>(), stop);
}

TEST(Sampling, UntruncatedDrawsFollowTheSoftmax) {
  // On-policy sampling (top_k 0, top_p 1, temperature 0.9): 40k draws from 6 logits; each
  // frequency within 4 standard errors of softmax(v / 0.9).
  torch::Tensor logits = torch::tensor({1.0, -0.5, 2.0, 0.3, -3.0, 1.7}, torch::kDouble);
  torch::Tensor p = torch::softmax(logits / 0.9, 0);
  Sampler s(SamplingParams{0.9, 1.0, 0, 5});
  const int n = 40000;
  std::vector<int> counts(6, 0);
  for (int i = 0; i < n; ++i) ++counts.at(s.next(logits));
  for (int k = 0; k < 6; ++k) {
    const double q = p[k].item<double>(), se = std::sqrt(q * (1 - q) / n);
    EXPECT_NEAR(counts[k] / static_cast<double>(n), q, 4 * se + 1e-4) << k;
  }
}

TEST(Checkpoints, RoundTripKeepAndDamage) {
  test::TempDir tmp;
  const fs::path out = tmp / "run";
  fs::create_directories(out / "train");
  CausalLm lm = load_causal_lm(tiny("qwen25"), {});
  TrainableParams t = select_trainable(lm, TrainGroup::kAttn);
  AdamW opt(t.masters, t.names, t.decay, {});
  TrainState st;
  for (int64_t step = 1; step <= 3; ++step) {
    for (auto& m : t.masters) m.mutable_grad() = torch::randn_like(m);
    opt.step(1e-3);
    st.step = step;
    st.tokens = 100 * step;
    st.cursor = {0, step, 7 * step};
    save_checkpoint(out, t, opt, st, /*keep=*/2);
  }
  EXPECT_FALSE(fs::exists(out / "train" / "ckpt-000001"));  // --keep 2
  EXPECT_TRUE(fs::exists(out / "train" / "ckpt-000003"));
  std::vector<torch::Tensor> want;
  for (const auto& m : t.masters) want.push_back(m.clone());

  CausalLm fresh = load_causal_lm(tiny("qwen25"), {});
  TrainableParams t2 = select_trainable(fresh, TrainGroup::kAttn);
  AdamW opt2(t2.masters, t2.names, t2.decay, {});
  std::vector<std::string> warnings;
  auto warn = [&](const std::string& m) { warnings.push_back(m); };
  auto loaded = load_latest_checkpoint(out, t2, opt2, warn);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->step, 3);
  EXPECT_EQ(loaded->cursor.offset, 21);
  EXPECT_EQ(opt2.steps(), 3);
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_TRUE(torch::equal(t2.masters[i], want[i]));
    EXPECT_TRUE(torch::equal(t2.params[i], want[i]));  // compute weights follow the masters
  }
  EXPECT_TRUE(warnings.empty());
  {  // flip one byte in the newest checkpoint's weights
    std::fstream f(out / "train" / "ckpt-000003" / "trainable.safetensors",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('\x5a');
  }
  loaded = load_latest_checkpoint(out, t2, opt2, warn);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->step, 2);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("ckpt-000003"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("checksum"), std::string::npos) << warnings[0];
}

TEST(StepFlops, FullTrainingIsSixNPerToken) {
  CausalLm lm = load_causal_lm(tiny("qwen25"), {});
  TrainableParams all = select_trainable(lm, TrainGroup::kAll);
  const ModelConfig& c = lm->config;
  double n = static_cast<double>(c.vocab_size) * c.hidden_size;  // tied lm_head
  for (const auto& p : lm->named_parameters())
    if (p.value().dim() == 2 && p.key() != "model.embed_tokens.weight") n += p.value().numel();
  const StepFlops f = step_flops(nullptr, c, all, 1000, 0);
  EXPECT_DOUBLE_EQ(f.total(), 6 * n * 1000);
  EXPECT_DOUBLE_EQ(f.teacher, 0);
  TrainableParams attn = select_trainable(lm, TrainGroup::kAttn);
  const StepFlops k = step_flops(&c, c, attn, 1000, 5000);
  const double attn_per_pair = c.num_hidden_layers * 2.0 * c.num_attention_heads * 2 * c.head_dim;
  EXPECT_DOUBLE_EQ(k.teacher, 2 * n * 1000 + attn_per_pair * 5000);
  EXPECT_LT(k.total(), f.total() + 2 * n * 1000 + 4 * attn_per_pair * 5000);
  EXPECT_THROW(parse_train_group("mlp"), Error);
}

}  // namespace
}  // namespace yz::train
