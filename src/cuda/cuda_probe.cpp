// probe_cuda(): whether a CUDA device is usable (driver, device, context, a kernel image this build carries)
// and why not, in plain C++ over the runtime API; never throws. The backend itself is cuda_backend.cu.
#include <cuda_runtime.h>

#include <exception>
#include <string>

#include "cuda_check.hpp"
#include "cuda_probe.hpp"
#include "kernels.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/errors.hpp"

namespace logreg {
namespace cuda {

std::string describe_probe_failure(const char* what, cudaError_t err) {
  switch (err) {
    case cudaErrorInsufficientDriver:
      return std::string("no CUDA driver found, or it is older than the runtime (") + what + ": " +
             describe_cuda_error(err) + ")";
    case cudaErrorNoDevice:
      return std::string("no CUDA device found (") + what + ": " + describe_cuda_error(err) + ")";
    default:
      return std::string(what) + " failed: " + describe_cuda_error(err);
  }
}

std::string compute_capability(const cudaDeviceProp& prop) {
  return std::to_string(prop.major) + "." + std::to_string(prop.minor);
}

cudaDeviceProp select_device(const CudaOptions& options) {
  const CudaProbe probe = probe_cuda();
  if (!probe.usable) throw ResourceError("CUDA backend unavailable: " + probe.reason);
  if (options.device < 0 || options.device >= probe.device_count) {
    throw ResourceError("CUDA device " + std::to_string(options.device) + " does not exist (" +
                        std::to_string(probe.device_count) + " found)");
  }
  CUDA_CHECK(cudaSetDevice(options.device));
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, options.device));
  return prop;
}


}  // namespace cuda

CudaProbe probe_cuda() {
  CudaProbe probe;
  try {
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      probe.reason = cuda::describe_probe_failure("cudaGetDeviceCount", err);
      return probe;
    }
    probe.device_count = count;
    if (count == 0) {
      probe.reason = "no CUDA device found (cudaGetDeviceCount returned 0)";
      return probe;
    }
    cudaDeviceProp prop{};
    err = cudaGetDeviceProperties(&prop, 0);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      probe.reason = cuda::describe_probe_failure("cudaGetDeviceProperties(0)", err);
      return probe;
    }
    probe.device_name = prop.name;

    // A context can be created and this build carries code the device can run; the caller's current
    // device is restored.
    int previous = 0;
    const bool had_previous = cudaGetDevice(&previous) == cudaSuccess;
    err = cudaSetDevice(0);
    if (err == cudaSuccess) err = cudaFree(nullptr);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      probe.reason = cuda::describe_probe_failure("creating a context on device 0", err);
      return probe;
    }
    err = kernels::kernel_image_status();
    if (had_previous && cudaSetDevice(previous) != cudaSuccess) (void)cudaGetLastError();
    if (err != cudaSuccess) {
      probe.reason = "this build has no kernel image for " + probe.device_name + " (cc " +
                     cuda::compute_capability(prop) + "; rebuild with -DCMAKE_CUDA_ARCHITECTURES=" +
                     std::to_string(prop.major * 10 + prop.minor) + "): " + cuda::describe_cuda_error(err);
      return probe;
    }
#if defined(LOGREG_CUDA_EMULATED)
    probe.emulated = true;
#endif
    probe.usable = true;
  } catch (const std::exception& e) {
    probe.usable = false;
    probe.reason = std::string("probing CUDA failed: ") + e.what();
  } catch (...) {
    probe.usable = false;
    probe.reason = "probing CUDA failed";
  }
  return probe;
}

}  // namespace logreg
