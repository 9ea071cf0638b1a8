// The CUDA backend's entry points in a build without CUDA (LOGREG_CUDA=off, and the host-only fuzz
// build): probe_cuda() says why no device can be used and make_cuda_backend(), make_cuda_full_batch_engine(),
// make_cuda_feature_backend() and make_cuda_feature_part_sums() refuse, so
// `--device auto` falls back to the CPU and `--device cuda` is a clear resource error.
#include <memory>
#include <string>

#include "logreg/cuda_backend.hpp"
#include "logreg/errors.hpp"

namespace logreg {

namespace {
constexpr const char* kNoCuda = "this logreg_cuda was built without CUDA (LOGREG_CUDA=off)";
}  // namespace

CudaProbe probe_cuda() {
  CudaProbe probe;
  probe.reason = kNoCuda;
  return probe;
}

std::unique_ptr<TrainerBackend> make_cuda_backend(const ImageSet&, const LabelSet&, const Model&,
                                                  const CudaOptions&) {
  throw ResourceError(std::string("CUDA backend unavailable: ") + kNoCuda);
}

std::unique_ptr<FullBatchEngine> make_cuda_full_batch_engine(const ImageSet&, const LabelSet&, const Model&,
                                                             const CudaOptions&) {
  throw ResourceError(std::string("CUDA backend unavailable: ") + kNoCuda);
}

std::unique_ptr<TrainerBackend> make_cuda_feature_backend(const FeatureRows&, const Model&, const CudaOptions&) {
  throw ResourceError(std::string("CUDA backend unavailable: ") + kNoCuda);
}

std::unique_ptr<FeaturePartSums> make_cuda_feature_part_sums(const FeatureMatrix&, const std::vector<std::uint32_t>&,
                                                             LossHead, int, const FeatureFitTerms&, const CudaOptions&,
                                                             std::uint64_t) {
  throw ResourceError(std::string("CUDA backend unavailable: ") + kNoCuda);
}

}  // namespace logreg
