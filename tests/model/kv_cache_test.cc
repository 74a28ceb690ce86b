// KvCache::replicate_row: continuing several rows from one cached prefix gives the logits of the
// full forward over prefix + continuation (float32, 1e-5), for GQA and MLA (explicit and
// absorbed), including a prefix taken from a right-padded batch row.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/causal_lm.h"
#include "test_util.h"
#include "util/error.h"

namespace yz {
namespace {

class ReplicateRow : public ::testing::TestWithParam<std::string> {};

TEST_P(ReplicateRow, ContinuationsEqualFullForward) {
  CausalLm lm = load_causal_lm(test::data_dir() / "decoder" / "tiny_models" / GetParam(), {});
  torch::NoGradGuard g;
  const int64_t V = lm->config.vocab_size;
  torch::manual_seed(17);
  // Two prompts of length 9, right-padded; row 1's real prefix is its first 6 tokens.
  torch::Tensor prompts = torch::randint(V, {2, 9}, torch::kLong);
  torch::Tensor tails = torch::randint(V, {3, 4}, torch::kLong);  // three continuations
  for (MlaPath path : {MlaPath::kExplicit, MlaPath::kAbsorbed}) {
    lm->set_mla_path(path);
    KvCache cache = lm->new_cache(2, 9);
    lm->forward(prompts, &cache);
    KvCache shared = cache.replicate_row(1, 6, 3, 10);
    EXPECT_EQ(shared.length(), 6);
    EXPECT_EQ(shared.capacity(), 10);
    torch::Tensor got = lm->forward(tails, &shared);  // [3, 4, V]
    EXPECT_EQ(shared.length(), 10);
    for (int64_t j = 0; j < 3; ++j) {
      torch::Tensor full = torch::cat({prompts[1].narrow(0, 0, 6), tails[j]}).unsqueeze(0);
      torch::Tensor want = lm->forward(full)[0].narrow(0, 6, 4);
      EXPECT_LT((got[j] - want).abs().max().item<double>(), 1e-5) << "continuation " << j;
    }
  }
  lm->set_mla_path(MlaPath::kExplicit);
}

INSTANTIATE_TEST_SUITE_P(Families, ReplicateRow,
                         ::testing::Values("qwen25", "mistral", "dsv3_qlora", "dsv2_lite"));

TEST(ReplicateRow, RejectsRowsAndLengthsOutsideTheCache) {
  CausalLm lm = load_causal_lm(test::data_dir() / "decoder" / "tiny_models" / "qwen25", {});
  torch::NoGradGuard g;
  KvCache cache = lm->new_cache(2, 8);
  lm->forward(torch::randint(lm->config.vocab_size, {2, 5}, torch::kLong), &cache);
  EXPECT_THROW(cache.replicate_row(2, 5, 1, 8), Error);  // no row 2
  EXPECT_THROW(cache.replicate_row(0, 6, 1, 8), Error);  // only 5 tokens cached
  EXPECT_THROW(cache.replicate_row(0, 5, 1, 4), Error);  // no room for them
  EXPECT_THROW(cache.replicate_row(0, 5, 0, 8), Error);  // no copies
  EXPECT_EQ(cache.replicate_row(0, 5, 4, 8).allocated_bytes(), 2 * cache.allocated_bytes());
}

}  // namespace
}  // namespace yz
