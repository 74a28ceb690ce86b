// Decode-step CUDA graphs (see decode_graphs.h).
#include "serve/decode_graphs.h"

#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>

#include "kernels/attention.h"
#include "kernels/ops.h"
#include "util/error.h"

namespace yz::serve {

struct DecodeGraphs::Graph {
  int64_t batch = 0;
  at::cuda::CUDAGraph graph;
  PagedBatch paged;   // its launch plan (tiles) must outlive the graph
  at::Tensor logits;  // [batch, vocab], written by every replay
};

namespace {
std::vector<int64_t> capture_sizes(int64_t max_batch) {
  std::vector<int64_t> sizes;
  for (int64_t b : {1, 2, 4})
    if (b <= max_batch) sizes.push_back(b);
  for (int64_t b = 8; b <= max_batch; b += 8) sizes.push_back(b);
  if (sizes.back() != max_batch) sizes.push_back(max_batch);
  return sizes;
}
}  // namespace

DecodeGraphs::DecodeGraphs(CausalLm& lm, PagedKvCache& cache, int32_t dummy_block, int64_t max_batch,
                           int64_t max_model_len)
    : max_batch_(max_batch), max_blocks_((max_model_len + cache.block_size() - 1) / cache.block_size()),
      dummy_block_(dummy_block), block_size_(cache.block_size()) {
  const torch::Device device = lm->model->embed_tokens->weight.device();
  auto on = [&](at::ScalarType t) { return at::TensorOptions().dtype(t).device(device); };
  i64_ = at::zeros({3 * max_batch}, on(at::kLong));
  i32_ = at::full({max_batch * max_blocks_ + max_batch}, dummy_block, on(at::kInt));
  i32_.narrow(0, max_batch * max_blocks_, max_batch).fill_(1);
  i64_.narrow(0, 2 * max_batch, max_batch).fill_(static_cast<int64_t>(dummy_block) * block_size_);
  qstart_ = at::arange(max_batch + 1, on(at::kInt));
  rows_ = at::arange(max_batch, on(at::kLong));
  const ModelConfig& mc = lm->config;
  const int64_t kv_heads = mc.family == Family::kGqa ? mc.num_key_value_heads : 1;

  const int dev = kernels::device_ordinal(device);
  const int64_t before = kernels::device_memory(dev).torch_reserved;
  c10::cuda::CUDAStream stream = c10::cuda::getStreamFromPool(false, static_cast<c10::DeviceIndex>(dev));
  c10::cuda::CUDAStreamGuard guard(stream);
  torch::NoGradGuard no_grad;
  const at::cuda::MempoolId_t pool = at::cuda::graph_pool_handle();
  std::vector<int64_t> sizes = capture_sizes(max_batch);
  for (auto it = sizes.rbegin(); it != sizes.rend(); ++it) {  // largest first: one pool fits all
    const int64_t b = *it;
    auto g = std::make_unique<Graph>();
    g->batch = b;
    PagedBatch& pb = g->paged;
    pb.cache = &cache;
    pb.slot_mapping = i64_.narrow(0, 2 * max_batch, b);
    pb.seqs.block_tables = i32_.narrow(0, 0, max_batch * max_blocks_).view({max_batch, max_blocks_}).narrow(0, 0, b);
    pb.seqs.kv_lens = i32_.narrow(0, max_batch * max_blocks_, b);
    pb.seqs.query_start = qstart_.narrow(0, 0, b + 1);
    pb.seqs.kv_lens_host.assign(b, static_cast<int32_t>(max_model_len));  // plan for the longest
    for (int64_t i = 0; i <= b; ++i) pb.seqs.query_start_host.push_back(static_cast<int32_t>(i));
    pb.seqs.max_kv_len = max_model_len;
    pb.seqs.max_q_len = 1;
    kernels::prepare_paged_launch(pb.seqs, mc.num_attention_heads, kv_heads, device);
    const at::Tensor ids = i64_.narrow(0, 0, b), positions = i64_.narrow(0, max_batch, b);
    (void)lm->forward_paged(ids, positions, pb, rows_.narrow(0, 0, b));  // warm-up (handles, workspaces)
    stream.synchronize();
    g->graph.capture_begin(pool);
    g->logits = lm->forward_paged(ids, positions, pb, rows_.narrow(0, 0, b));
    g->graph.capture_end();
    graphs_.push_back(std::move(g));
  }
  stream.synchronize();
  std::reverse(graphs_.begin(), graphs_.end());
  pool_bytes_ = kernels::device_memory(dev).torch_reserved - before;
}

DecodeGraphs::~DecodeGraphs() = default;

int64_t DecodeGraphs::pick(int64_t seqs) const {
  for (size_t i = 0; i < graphs_.size(); ++i)
    if (graphs_[i]->batch >= seqs) return static_cast<int64_t>(i);
  YZ_ASSERT(false, "decode graph asked for ", seqs, " sequences, captured up to ", max_batch_);
}

at::Tensor DecodeGraphs::run(const std::vector<int64_t>& ids, const std::vector<int64_t>& positions,
                             const std::vector<int64_t>& slots, const std::vector<int32_t>& table,
                             int64_t width, const std::vector<int32_t>& kv_lens) {
  const int64_t seqs = static_cast<int64_t>(ids.size());
  YZ_ASSERT(width <= max_blocks_, "block table wider than max_model_len allows");
  Graph& g = *graphs_[pick(seqs)];
  // The whole static input area in one pinned host copy: real rows first, padding rows pointing
  // at the dummy block (one cached token, never a real request's rows).
  at::Tensor h64 = at::empty({3 * max_batch_}, at::TensorOptions().dtype(at::kLong).pinned_memory(true));
  at::Tensor h32 = at::empty({max_batch_ * max_blocks_ + max_batch_},
                             at::TensorOptions().dtype(at::kInt).pinned_memory(true));
  int64_t* p64 = h64.data_ptr<int64_t>();
  int32_t* p32 = h32.data_ptr<int32_t>();
  std::fill(p64, p64 + 3 * max_batch_, 0);
  std::fill(p64 + 2 * max_batch_, p64 + 3 * max_batch_, static_cast<int64_t>(dummy_block_) * block_size_);
  std::fill(p32, p32 + max_batch_ * max_blocks_, dummy_block_);
  std::fill(p32 + max_batch_ * max_blocks_, p32 + max_batch_ * max_blocks_ + max_batch_, 1);
  for (int64_t s = 0; s < seqs; ++s) {
    p64[s] = ids[s];
    p64[max_batch_ + s] = positions[s];
    p64[2 * max_batch_ + s] = slots[s];
    std::copy(table.begin() + s * width, table.begin() + (s + 1) * width, p32 + s * max_blocks_);
    p32[max_batch_ * max_blocks_ + s] = kv_lens[s];
  }
  i64_.copy_(h64, /*non_blocking=*/true);
  i32_.copy_(h32, /*non_blocking=*/true);
  g.graph.replay();
  return g.logits.narrow(0, 0, seqs);
}

}  // namespace yz::serve
