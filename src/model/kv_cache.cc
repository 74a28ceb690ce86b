// Contiguous KV cache (see kv_cache.h).
#include "model/kv_cache.h"

#include "util/error.h"

namespace yz {

KvCache::KvCache(const ModelConfig& c, int64_t batch, int64_t capacity, at::ScalarType dtype,
                 at::Device device)
    : capacity_(capacity) {
  YZ_CHECK(capacity > 0 && batch > 0, "KV cache needs a positive batch and capacity");
  auto opts = at::TensorOptions().dtype(dtype).device(device);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    if (c.family == Family::kGqa) {
      k_.push_back(at::empty({batch, c.num_key_value_heads, capacity, c.head_dim}, opts));
      v_.push_back(at::empty({batch, c.num_key_value_heads, capacity, c.head_dim}, opts));
    } else {
      const MlaLayerDims& d = c.mla_layers[l];
      latent_.push_back(at::empty({batch, capacity, d.kv_lora_rank + d.qk_rope_head_dim}, opts));
    }
  }
}

size_t KvCache::allocated_bytes() const {
  size_t n = 0;
  for (const auto* list : {&k_, &v_, &latent_})
    for (const auto& t : *list) n += t.numel() * t.element_size();
  return n;
}

std::pair<at::Tensor, at::Tensor> KvCache::store_kv(int64_t layer, const at::Tensor& k,
                                                    const at::Tensor& v) {
  const int64_t t = k.size(2);
  YZ_CHECK(length_ + t <= capacity_, "KV cache full: ", length_, " + ", t, " tokens > capacity ",
           capacity_);
  k_[layer].narrow(2, length_, t).copy_(k);
  v_[layer].narrow(2, length_, t).copy_(v);
  return {k_[layer].narrow(2, 0, length_ + t), v_[layer].narrow(2, 0, length_ + t)};
}

at::Tensor KvCache::store_latent(int64_t layer, const at::Tensor& rows) {
  const int64_t t = rows.size(1);
  YZ_CHECK(length_ + t <= capacity_, "KV cache full: ", length_, " + ", t, " tokens > capacity ",
           capacity_);
  latent_[layer].narrow(1, length_, t).copy_(rows);
  return latent_[layer].narrow(1, 0, length_ + t);
}

void KvCache::advance(int64_t tokens) { length_ += tokens; }

KvCache KvCache::select_rows(const std::vector<int64_t>& rows, int64_t length,
                             int64_t capacity) const {
  const at::Tensor& any = k_.empty() ? latent_.front() : k_.front();
  YZ_CHECK(!rows.empty(), "no KV cache rows to select");
  for (int64_t r : rows)
    YZ_CHECK(r >= 0 && r < any.size(0), "KV cache row ", r, " outside the batch of ", any.size(0));
  YZ_CHECK(length >= 0 && length <= length_ && length <= capacity, "cannot keep ", length, " of ",
           length_, " cached tokens in a capacity of ", capacity);
  KvCache out;
  out.capacity_ = capacity;
  out.length_ = length;
  const at::Tensor index = at::tensor(rows, at::kLong).to(any.device());
  // t: [B, ..., capacity_, ...] with the token axis at `seq` -> [rows, ..., capacity, ...]
  auto select = [&](const at::Tensor& t, int64_t seq) {
    std::vector<int64_t> shape = t.sizes().vec();
    shape[0] = static_cast<int64_t>(rows.size());
    shape[seq] = capacity;
    at::Tensor r = at::empty(shape, t.options());
    r.narrow(seq, 0, length).copy_(t.narrow(seq, 0, length).index_select(0, index));
    return r;
  };
  for (const auto& t : k_) out.k_.push_back(select(t, 2));
  for (const auto& t : v_) out.v_.push_back(select(t, 2));
  for (const auto& t : latent_) out.latent_.push_back(select(t, 1));
  return out;
}

}  // namespace yz
