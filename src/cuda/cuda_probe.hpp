// Helpers of probe_cuda() (cuda_probe.cpp) the engines also use: their messages, and choosing the device.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "logreg/cuda_backend.hpp"

namespace logreg::cuda {

std::string describe_probe_failure(const char* what, cudaError_t err);
std::string compute_capability(const cudaDeviceProp& prop);  // "9.0"

// Makes options.device the current device and returns its properties; ResourceError when CUDA is not usable or
// the device does not exist. An engine calls it before it creates any other member.
cudaDeviceProp select_device(const CudaOptions& options);

}  // namespace logreg::cuda
