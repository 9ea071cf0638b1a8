// Helpers of probe_cuda() (cuda_probe.cpp) the backend also uses for its messages.
#pragma once

#include <cuda_runtime.h>

#include <string>

namespace logreg::cuda {

std::string describe_probe_failure(const char* what, cudaError_t err);
std::string compute_capability(const cudaDeviceProp& prop);  // "9.0"

}  // namespace logreg::cuda
