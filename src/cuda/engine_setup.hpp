// What every CUDA engine (cuda_backend.cu's pixel engines, cuda_feature_backend.cu's feature-row engine) does
// before it creates a member: select the device, check the model's shape, and say it is a GPU engine. No
// buffers, no kernels here.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "cuda_check.hpp"
#include "kernels.hpp"
#include "logreg/backend.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/errors.hpp"
#include "logreg/model.hpp"

namespace logreg::cuda {

// Sets the device before any other member is created; throws when CUDA is not usable.
inline cudaDeviceProp select_device(const CudaOptions& options) {
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

// The model's shape, checked before any buffer is sized from it.
inline const Model& checked_model(const Model& m) {
  if (m.num_classes < 1 || m.num_classes > kernels::kMaxClasses) {
    throw UsageError("the CUDA backend supports 1 to " + std::to_string(kernels::kMaxClasses) + " classes, not " +
                     std::to_string(m.num_classes));
  }
  if (m.input_dim < 1 || m.weights.size() != static_cast<std::size_t>(m.num_classes) * m.input_dim ||
      m.bias.size() != static_cast<std::size_t>(m.num_classes)) {
    throw UsageError("model parameters do not match its shape (" + std::to_string(m.num_classes) + " x " +
                     std::to_string(m.input_dim) + ")");
  }
  return m;
}

// A GPU engine; built with LOGREG_CUDA=emulated, its device is the CPU emulator.
inline BackendTraits cuda_traits() {
  BackendTraits t;
  t.gpu = true;
#ifdef LOGREG_CUDA_EMULATED
  t.emulated = true;
#endif
  return t;
}

}  // namespace logreg::cuda
