// RMSNorm: the CUDA kernel against the libtorch reference (fp32 and bf16), and the reference
// against a float64 computation. CUDA cases skip (ctest: SKIPPED) without a device.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "kernels/ops.h"

namespace yz::kernels {
namespace {

struct Case {
  at::ScalarType dtype;
  double atol, rtol;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c10::toString(c.dtype); }

class RmsNormCuda : public ::testing::TestWithParam<Case> {};

TEST_P(RmsNormCuda, MatchesReference) {
  if (!cuda_kernels_built()) GTEST_SKIP() << "built without CUDA kernels";
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Case c = GetParam();
  at::manual_seed(1234);
  for (int64_t cols : {64, 384, 1000, 3584}) {
    auto opts = at::TensorOptions().dtype(c.dtype).device(at::kCUDA);
    at::Tensor x = at::randn({37, cols}, opts) * 3.0;
    at::Tensor w = at::rand({cols}, opts) + 0.5;
    at::Tensor got = rms_norm(x, w, 1e-6).cpu().to(at::kDouble);
    at::Tensor want = rms_norm_reference(x.cpu(), w.cpu(), 1e-6).to(at::kDouble);
    EXPECT_TRUE(at::allclose(got, want, c.rtol, c.atol))
        << "cols " << cols << " max abs diff " << (got - want).abs().max().item<double>();
  }
}

// fp32: reduction order differs from libtorch's; bf16: one ulp of the output (2^-8 relative).
INSTANTIATE_TEST_SUITE_P(DTypes, RmsNormCuda,
                         ::testing::Values(Case{at::kFloat, 1e-5, 1e-5},
                                           Case{at::kBFloat16, 1e-2, 1e-2}),
                         [](const auto& info) {
                           return info.param.dtype == at::kFloat ? "f32" : "bf16";
                         });

TEST(RmsNormReference, MatchesFloat64) {
  at::manual_seed(7);
  at::Tensor x = at::randn({5, 96}, at::kFloat);
  at::Tensor w = at::randn({96}, at::kFloat);
  at::Tensor x64 = x.to(at::kDouble), w64 = w.to(at::kDouble);
  at::Tensor want = w64 * x64 / at::sqrt(x64.pow(2).mean(-1, true) + 1e-5);
  at::Tensor got = rms_norm(x, w, 1e-5).to(at::kDouble);
  EXPECT_TRUE(at::allclose(got, want, 1e-6, 1e-6));
}

TEST(RmsNorm, RejectsMismatchedShapes) {
  at::Tensor x = at::randn({2, 8}), w = at::randn({7});
  EXPECT_THROW(rms_norm(x, w, 1e-6), std::exception);
  EXPECT_THROW(rms_norm(x.to(at::kDouble), w.to(at::kDouble), 1e-6), std::exception);
}

}  // namespace
}  // namespace yz::kernels
