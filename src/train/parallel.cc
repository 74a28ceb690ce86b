// c10d process groups and gradient buckets (see parallel.h). The only file that includes c10d:
// Gloo needs libgloo-dev's headers (Debian; the symbols are in libtorch_cpu), NCCL a CUDA build
// with nccl.h (CMake defines USE_C10D_NCCL then). Both libtorch 1.13 (ProcessGroup subclasses)
// and 2.x (Backend subclasses) take (store, rank, size, options) and return Work from
// allreduce(std::vector<at::Tensor>&, AllreduceOptions), which is all this file uses.
#include "train/parallel.h"

#include <cstdlib>

#include "util/error.h"

#if defined(USE_C10D_GLOO) && __has_include(<gloo/rendezvous/store.h>)
#define YZ_HAS_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#else
#define YZ_HAS_GLOO 0
#endif
#if defined(YZ_WITH_CUDA) && defined(USE_C10D_NCCL)
#define YZ_HAS_NCCL 1
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#else
#define YZ_HAS_NCCL 0
#endif
#if YZ_HAS_GLOO || YZ_HAS_NCCL
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace yz::train {

namespace {
int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  YZ_CHECK(end != nullptr && *end == '\0' && x >= 0, "environment variable ", name, "='", v,
           "' is not a non-negative integer");
  return static_cast<int>(x);
}
}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv e;
  e.world = env_int("WORLD_SIZE", 1);
  e.rank = env_int("RANK", 0);
  e.local_rank = env_int("LOCAL_RANK", e.rank);
  if (const char* a = std::getenv("MASTER_ADDR"); a != nullptr && *a != '\0') e.master_addr = a;
  e.master_port = env_int("MASTER_PORT", 29500);
  YZ_CHECK(e.world >= 1 && e.rank < e.world, "RANK ", e.rank, " is not below WORLD_SIZE ", e.world);
  return e;
}

std::vector<std::string> dist_backends() {
  std::vector<std::string> out;
  if (YZ_HAS_GLOO) out.push_back("gloo");
  if (YZ_HAS_NCCL) out.push_back("nccl");
  return out;
}

struct Dist::Impl {
#if YZ_HAS_GLOO || YZ_HAS_NCCL
  c10::intrusive_ptr<c10d::Store> store;
  // The concrete group's allreduce, so one type serves both backends and both libtorch versions.
  std::function<c10::intrusive_ptr<c10d::Work>(std::vector<at::Tensor>&)> allreduce;
  std::function<c10::intrusive_ptr<c10d::Work>()> barrier;  // both keep the group alive
#endif
};

Dist::Dist(const DistEnv& env, const torch::Device& device, std::chrono::seconds timeout)
    : impl_(std::make_unique<Impl>()), env_(env) {
#if YZ_HAS_GLOO || YZ_HAS_NCCL
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(env.master_port);
  so.isServer = env.rank == 0;
  so.numWorkers = static_cast<size_t>(env.world);
  so.waitWorkers = true;
  so.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  try {
    impl_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
  } catch (const std::exception& e) {
    YZ_THROW(ErrorKind::kIo, "rank ", env.rank, ": rendezvous at ", env.master_addr, ":",
             env.master_port, " failed: ", e.what());
  }
  auto wire = [&](auto group) {
    impl_->allreduce = [group](std::vector<at::Tensor>& t) { return group->allreduce(t); };
    impl_->barrier = [group]() { return group->barrier(); };
  };
  if (device.is_cuda()) {
#if YZ_HAS_NCCL
    auto o = c10d::ProcessGroupNCCL::Options::create();
    o->timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
    wire(c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, env.rank, env.world, o));
    return;
#endif
  } else {
#if YZ_HAS_GLOO
    auto o = c10d::ProcessGroupGloo::Options::create(
        std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(env.master_addr));
    wire(c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, env.rank, env.world, o));
    return;
#endif
  }
#endif
  YZ_CHECK(false, "data parallel training on ", device.str(), " needs the ",
           device.is_cuda() ? "NCCL" : "Gloo", " backend, which this build lacks (has: ",
           dist_backends().empty() ? std::string("none") : dist_backends().front(), ")");
}

Dist::~Dist() = default;

void Dist::allreduce_sum(torch::Tensor& tensor) { allreduce_sum_async(tensor)(); }

std::function<void()> Dist::allreduce_sum_async(torch::Tensor& tensor) {
#if YZ_HAS_GLOO || YZ_HAS_NCCL
  std::vector<at::Tensor> list{tensor};
  auto work = impl_->allreduce(list);
  const int rank = env_.rank;
  return [work, rank]() {
    try {
      work->wait();
    } catch (const std::exception& e) {
      YZ_THROW(ErrorKind::kIo, "rank ", rank, ": all-reduce failed (another worker died or timed out): ",
               e.what());
    }
  };
#else
  (void)tensor;
  YZ_ASSERT(false, "no c10d backend");
#endif
}

void Dist::barrier() {
#if YZ_HAS_GLOO || YZ_HAS_NCCL
  impl_->barrier()->wait();
#endif
}

GradBuckets::GradBuckets(const std::vector<torch::Tensor>& params,
                         const std::vector<torch::Tensor>& masters, Dist* dist, int64_t bucket_bytes)
    : dist_(dist) {
  YZ_ASSERT(params.size() == masters.size(), "GradBuckets: one master per parameter");
  const size_t n = params.size();
  bucket_of_.resize(n);
  views_.resize(n);
  seen_.assign(n, false);
  // Reverse registration order approximates the order backward produces gradients in.
  std::vector<std::vector<size_t>> groups(1);
  int64_t bytes = 0;
  for (size_t k = n; k-- > 0;) {
    const int64_t b = masters[k].numel() * 4;
    if (bytes > 0 && bytes + b > bucket_bytes) {
      groups.emplace_back();
      bytes = 0;
    }
    groups.back().push_back(k);
    bytes += b;
  }
  for (const auto& g : groups) {
    if (g.empty()) continue;
    int64_t elements = 0;
    for (size_t k : g) elements += masters[k].numel();
    Bucket bucket;
    bucket.flat = torch::zeros({elements}, masters[g[0]].options().dtype(torch::kFloat));
    bucket.members = static_cast<int64_t>(g.size());
    int64_t offset = 0;
    for (size_t k : g) {
      views_[k] = bucket.flat.narrow(0, offset, masters[k].numel()).view(masters[k].sizes());
      offset += masters[k].numel();
      bucket_of_[k] = buckets_.size();
      masters[k].mutable_grad() = views_[k];
    }
    buckets_.push_back(std::move(bucket));
  }
  for (size_t k = 0; k < n; ++k) {
    torch::Tensor p = params[k];  // hooks see the summed gradient of this leaf once per backward
    p.register_hook([this, k](const torch::Tensor& grad) { on_grad(k, grad); });
  }
}

void GradBuckets::zero() {
  torch::NoGradGuard no_grad;
  for (auto& b : buckets_) {
    b.flat.zero_();
    b.ready = 0;
    b.wait = nullptr;
  }
}

void GradBuckets::begin_micro(bool last) {
  last_ = last;
  seen_.assign(seen_.size(), false);
}

void GradBuckets::on_grad(size_t k, const torch::Tensor& grad) {
  torch::NoGradGuard no_grad;
  views_[k].add_(grad.to(torch::kFloat));
  seen_[k] = true;
  if (!last_) return;
  Bucket& b = buckets_[bucket_of_[k]];
  if (++b.ready == b.members) launch(b);
}

void GradBuckets::launch(Bucket& b) {
  if (dist_ != nullptr && dist_->world() > 1) b.wait = dist_->allreduce_sum_async(b.flat);
  b.ready = b.members;
}

void GradBuckets::finish_step() {
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& b : buckets_) {
    if (b.ready < b.members) launch(b);  // a parameter that got no gradient this step
    if (b.wait) b.wait();
    b.wait = nullptr;
  }
  comm_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace yz::train
