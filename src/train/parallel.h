// Data parallelism across processes with c10d (training.md §3.3): Gloo for CPU tensors, NCCL for
// CUDA tensors, rendezvous through a TCPStore at MASTER_ADDR:MASTER_PORT (torchrun's variables
// RANK, WORLD_SIZE, LOCAL_RANK). The c10d classes differ between libtorch 1.13 and 2.x (ProcessGroup
// vs Backend, constructor signatures); parallel.cc is the one file that includes them.
//
// GradBuckets: every trainable parameter's float32 gradient is a view into one of a few flat
// buckets (~25 MB, DDP's default). Hooks on the compute-dtype parameters add each incoming
// gradient into its view as backward produces it, and on the last micro-batch of a step a bucket
// starts its all-reduce as soon as all of its parameters are in, overlapping communication with
// the rest of backward (DDP's Reducer idea, without its machinery).
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace yz::train {

// Launch environment of one worker (torchrun-compatible).
struct DistEnv {
  int rank = 0, world = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
};
// Reads RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT; world 1 when unset.
DistEnv dist_env_from_environment();

class Dist {
 public:
  // A process group over `env` for tensors on `device` (Gloo: CPU; NCCL: CUDA). Collectives
  // that do not finish within `timeout` fail instead of hanging.
  Dist(const DistEnv& env, const torch::Device& device, std::chrono::seconds timeout);
  ~Dist();
  int rank() const { return env_.rank; }
  int world() const { return env_.world; }
  // In-place sum over ranks; blocks.
  void allreduce_sum(torch::Tensor& tensor);
  // In-place sum over ranks; returns the function that waits for it.
  std::function<void()> allreduce_sum_async(torch::Tensor& tensor);
  void barrier();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  DistEnv env_;
};

// Which backends this build has ("gloo", "nccl"), for messages and tests.
std::vector<std::string> dist_backends();

class GradBuckets {
 public:
  // `params`: the compute-dtype parameters autograd sees (requires_grad); `masters`: their float32
  // masters, whose .grad() becomes a view into a bucket. `dist` may be null (one process).
  GradBuckets(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& masters,
              Dist* dist, int64_t bucket_bytes = 25 << 20);
  // Before each micro-batch's backward: `last` lets buckets all-reduce as they fill.
  void begin_micro(bool last);
  // After the last micro-batch's backward: waits for every bucket (launching any that a
  // parameter without gradient kept back). Then masters' .grad() hold the summed gradients.
  void finish_step();
  void zero();  // before a step's first micro-batch
  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }
  double comm_seconds() const { return comm_s_; }  // time spent waiting in finish_step

 private:
  struct Bucket {
    torch::Tensor flat;  // [elements] float32
    int64_t members = 0, ready = 0;
    std::function<void()> wait;
  };
  void on_grad(size_t param, const torch::Tensor& grad);
  void launch(Bucket& b);
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;   // param -> bucket
  std::vector<torch::Tensor> views_;  // param -> its float32 view in the bucket
  std::vector<bool> seen_;            // param had a gradient this micro-batch
  Dist* dist_;
  bool last_ = false;
  double comm_s_ = 0;
};

}  // namespace yz::train
