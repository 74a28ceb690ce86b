// KvCache::select_rows: continuing selected (and repeated) rows of a cached, right-padded batch
// gives the logits of the full forward over each row's prefix + continuation (float32, 1e-5), for
// GQA and MLA (explicit and absorbed).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/causal_lm.h"
#include "test_util.h"
#include "util/error.h"

namespace yz {
namespace {

class SelectRows : public ::testing::TestWithParam<std::string> {};

TEST_P(SelectRows, ContinuationsEqualFullForward) {
  CausalLm lm = load_causal_lm(test::data_dir() / "decoder" / "tiny_models" / GetParam(), {});
  torch::NoGradGuard g;
  const int64_t V = lm->config.vocab_size;
  torch::manual_seed(17);
  // Three prompts of length 9, right-padded; the real prefixes of rows 0 and 2 are 6 tokens.
  torch::Tensor prompts = torch::randint(V, {3, 9}, torch::kLong);
  torch::Tensor tails = torch::randint(V, {4, 4}, torch::kLong);
  const std::vector<int64_t> rows = {2, 2, 0, 2};  // one prefix repeated, another once
  for (MlaPath path : {MlaPath::kExplicit, MlaPath::kAbsorbed}) {
    lm->set_mla_path(path);
    KvCache cache = lm->new_cache(3, 9);
    lm->forward(prompts, &cache);
    KvCache shared = cache.select_rows(rows, 6, 10);
    EXPECT_EQ(shared.length(), 6);
    EXPECT_EQ(shared.capacity(), 10);
    torch::Tensor got = lm->forward(tails, &shared);  // [4, 4, V]
    EXPECT_EQ(shared.length(), 10);
    for (size_t j = 0; j < rows.size(); ++j) {
      torch::Tensor full = torch::cat({prompts[rows[j]].narrow(0, 0, 6), tails[j]}).unsqueeze(0);
      torch::Tensor want = lm->forward(full)[0].narrow(0, 6, 4);
      // float32: the cached and the whole-sequence forward sum attention in different orders
      // (CPU flash kernel tiles); logits of these tiny models are O(1), measured gaps <= 1.2e-5.
      EXPECT_LT((got[j] - want).abs().max().item<double>(), 5e-5) << "row " << j;
    }
  }
  lm->set_mla_path(MlaPath::kExplicit);
}

INSTANTIATE_TEST_SUITE_P(Families, SelectRows,
                         ::testing::Values("qwen25", "mistral", "dsv3_qlora", "dsv2_lite"));

TEST(SelectRows, RejectsRowsAndLengthsOutsideTheCache) {
  CausalLm lm = load_causal_lm(test::data_dir() / "decoder" / "tiny_models" / "qwen25", {});
  torch::NoGradGuard g;
  KvCache cache = lm->new_cache(2, 8);
  lm->forward(torch::randint(lm->config.vocab_size, {2, 5}, torch::kLong), &cache);
  EXPECT_THROW(cache.select_rows({0, 2}, 5, 8), Error);  // no row 2
  EXPECT_THROW(cache.select_rows({0}, 6, 8), Error);     // only 5 tokens cached
  EXPECT_THROW(cache.select_rows({0}, 5, 4), Error);     // no room for them
  EXPECT_THROW(cache.select_rows({}, 5, 8), Error);      // no rows
  EXPECT_EQ(cache.select_rows({0, 0, 1, 1}, 5, 8).allocated_bytes(), 2 * cache.allocated_bytes());
}

}  // namespace
}  // namespace yz
