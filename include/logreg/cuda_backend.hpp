// The CUDA backend's public face: probing for a usable device and creating the backend.
// Everything CUDA-specific (RAII types, kernels, cuBLAS) stays behind this header in src/cuda/.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "logreg/backend.hpp"
#include "logreg/sgd_math.hpp"

namespace logreg {

struct CudaProbe {
  bool usable = false;
  int device_count = 0;
  std::string device_name;  // of device 0 when usable, e.g. "NVIDIA H100 80GB HBM3"
  std::string reason;       // why not usable, e.g. "no CUDA driver found (cudaErrorInsufficientDriver)"
};

// Never throws: cudaGetDeviceCount and friends, errors reported in `reason`.
CudaProbe probe_cuda();

struct CudaOptions {
  int device = 0;
  int ring_slots = 3;            // pinned batch buffers (>= 2)
  int profile_epoch = 0;         // 1-based epoch bracketed by cudaProfilerStart/Stop; 0 = none
  OptimizerConfig optimizer;     // momentum / Nesterov / weight decay, fused into the update kernel
  std::vector<float> velocity;   // (C*D + C) saved momentum state to continue from, or empty
};

// Throws ResourceError (CUDA/cuBLAS failures, out of memory). The image/label sets must outlive it.
std::unique_ptr<TrainerBackend> make_cuda_backend(const ImageSet& train_images,
                                                  const LabelSet& train_labels, const Model& initial,
                                                  const CudaOptions& options = {});

}  // namespace logreg
