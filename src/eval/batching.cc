// Length-sorted batches and right-padded rows (see batching.h).
#include "eval/batching.h"

#include <algorithm>
#include <numeric>

namespace yz {

std::vector<std::vector<size_t>> length_batches(const std::vector<int64_t>& lengths, int64_t rows,
                                                int64_t tokens) {
  std::vector<size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return lengths[a] > lengths[b]; });
  std::vector<std::vector<size_t>> batches;
  for (size_t i : order) {
    // Sorted longest first: the batch's first row sets its padded length.
    if (batches.empty() || static_cast<int64_t>(batches.back().size()) >= rows ||
        (static_cast<int64_t>(batches.back().size()) + 1) * lengths[batches.back().front()] >
            tokens)
      batches.emplace_back();
    batches.back().push_back(i);
  }
  return batches;
}

torch::Tensor padded_rows(const std::vector<const std::vector<int32_t>*>& rows,
                          const torch::Device& device, int32_t pad) {
  size_t width = 0;
  for (const auto* r : rows) width = std::max(width, r->size());
  std::vector<int64_t> flat(rows.size() * width, pad);
  for (size_t i = 0; i < rows.size(); ++i)
    std::copy(rows[i]->begin(), rows[i]->end(), flat.begin() + static_cast<int64_t>(i * width));
  return torch::tensor(flat, torch::kLong)
      .view({static_cast<int64_t>(rows.size()), static_cast<int64_t>(width)})
      .to(device);
}

}  // namespace yz
