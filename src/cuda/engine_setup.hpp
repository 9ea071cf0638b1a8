// What every CUDA engine (cuda_backend.cu's pixel engines, cuda_feature_backend.cu's feature-row engine) does
// before it creates a member: select the device (select_device, cuda_probe.hpp), check the model's shape, and
// say it is a GPU engine. No buffers, no kernels here.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "cuda_check.hpp"
#include "cuda_probe.hpp"  // select_device
#include "kernels.hpp"
#include "logreg/backend.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/errors.hpp"
#include "logreg/model.hpp"

namespace logreg::cuda {

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
