// The entry points of the CUDA run-time module (cuda_module.hpp): the only symbols the module exports. They
// call the module's own probe_cuda, make_cuda_backend, make_cuda_full_batch_engine, make_cuda_feature_backend and
// make_cuda_feature_part_sums; an exception does not
// cross the boundary as such but as its exit code and message, which the loader throws again as the same kind
// of logreg::Error.
#include <exception>
#include <new>
#include <string>

#include "cuda_module.hpp"
#include "logreg/errors.hpp"
#include "logreg/feature_sgd.hpp"

namespace {

// make() (a factory's release()d pointer), or nullptr with the exception's exit code and message.
template <class Make>
auto reported(const Make& make, int* exit_code, std::string* error) -> decltype(make()) {
  try {
    return make();
  } catch (const logreg::Error& e) {
    *exit_code = static_cast<int>(e.code());
    *error = e.what();
  } catch (const std::bad_alloc&) {
    *exit_code = static_cast<int>(logreg::ExitCode::kDevice);
    *error = "out of host memory creating the CUDA engine";
  } catch (const std::exception& e) {
    *exit_code = static_cast<int>(logreg::ExitCode::kFailure);
    *error = e.what();
  }
  return nullptr;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) const char* logreg_cuda_module_abi() { return LOGREG_CUDA_MODULE_ABI; }

__attribute__((visibility("default"))) void logreg_cuda_module_probe(logreg::CudaProbe* out) {
  *out = logreg::probe_cuda();
}

__attribute__((visibility("default"))) logreg::TrainerBackend* logreg_cuda_module_make(
    const logreg::ImageSet* images, const logreg::LabelSet* labels, const logreg::Model* initial,
    const logreg::CudaOptions* options, int* exit_code, std::string* error) {
  return reported([&] { return logreg::make_cuda_backend(*images, *labels, *initial, *options).release(); },
                  exit_code, error);
}

__attribute__((visibility("default"))) logreg::FullBatchEngine* logreg_cuda_module_make_full_batch(
    const logreg::ImageSet* images, const logreg::LabelSet* labels, const logreg::Model* shape,
    const logreg::CudaOptions* options, int* exit_code, std::string* error) {
  return reported([&] { return logreg::make_cuda_full_batch_engine(*images, *labels, *shape, *options).release(); },
                  exit_code, error);
}

__attribute__((visibility("default"))) logreg::TrainerBackend* logreg_cuda_module_make_feature_sgd(
    const logreg::FeatureRows* rows, const logreg::Model* initial, const logreg::CudaOptions* options, int* exit_code,
    std::string* error) {
  return reported([&] { return logreg::make_cuda_feature_backend(*rows, *initial, *options).release(); }, exit_code,
                  error);
}

__attribute__((visibility("default"))) logreg::FeaturePartSums* logreg_cuda_module_make_feature_parts(
    const logreg::FeatureMatrix* x, const std::vector<std::uint32_t>* y, logreg::LossHead head, int num_classes,
    const logreg::FeatureFitTerms* terms, const logreg::CudaOptions* options, std::uint64_t max_dense_bytes,
    int* exit_code, std::string* error) {
  return reported(
      [&] {
        return logreg::make_cuda_feature_part_sums(*x, *y, head, num_classes, *terms, *options, max_dense_bytes).release();
      },
      exit_code, error);
}

}  // extern "C"
