// The entry points of the CUDA run-time module (cuda_module.hpp): the only symbols the module exports. They
// call the backend's own probe_cuda and make_cuda_backend; an exception does not cross the boundary as such
// but as its exit code and message, which the loader throws again as the same kind of logreg::Error.
#include <exception>
#include <new>
#include <string>

#include "cuda_module.hpp"
#include "logreg/errors.hpp"

extern "C" {

__attribute__((visibility("default"))) const char* logreg_cuda_module_abi() { return LOGREG_CUDA_MODULE_ABI; }

__attribute__((visibility("default"))) void logreg_cuda_module_probe(logreg::CudaProbe* out) {
  *out = logreg::probe_cuda();
}

__attribute__((visibility("default"))) logreg::TrainerBackend* logreg_cuda_module_make(
    const logreg::ImageSet* images, const logreg::LabelSet* labels, const logreg::Model* initial,
    const logreg::CudaOptions* options, int* exit_code, std::string* error) {
  try {
    return logreg::make_cuda_backend(*images, *labels, *initial, *options).release();
  } catch (const logreg::Error& e) {
    *exit_code = static_cast<int>(e.code());
    *error = e.what();
  } catch (const std::bad_alloc&) {
    *exit_code = static_cast<int>(logreg::ExitCode::kDevice);
    *error = "out of host memory creating the CUDA backend";
  } catch (const std::exception& e) {
    *exit_code = static_cast<int>(logreg::ExitCode::kFailure);
    *error = e.what();
  }
  return nullptr;
}

}  // extern "C"
