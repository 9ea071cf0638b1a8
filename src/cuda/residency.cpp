// The residency policy of the CUDA backend (where the training set lives while training) as plain C++:
// the device bytes the resident mode needs (the L-BFGS objective's buffers included) and the `auto` rule (the name table is kResidencyNames in
// cuda_backend.hpp). No CUDA call here, so every build (nvcc, emulated, off) and the fuzz build compile it
// as it is.
#include <cstddef>
#include <cstdint>
#include <string>

#include "logreg/cuda_backend.hpp"
#include "logreg/maths/launch_sizes.hpp"
#include "logreg/maths/step_state.hpp"

namespace logreg {

std::size_t objective_device_bytes(std::size_t rows, std::size_t dim, int classes) {
  const std::size_t P = static_cast<std::size_t>(classes) * dim + static_cast<std::size_t>(classes);
  // the rows, the parameters, each part's sums and each row block's slot
  const std::size_t parts = static_cast<std::size_t>(full_batch_parts(rows));
  const std::size_t blocks = parts * static_cast<std::size_t>(kernels::objective_blocks_per_part(rows));
  return rows * sizeof(std::uint32_t) + (P + parts * (P + 1) + blocks * (P + 1)) * sizeof(double);
}

std::size_t resident_bytes(std::size_t rows, std::size_t dim, int classes, std::size_t cublas_workspace_bytes) {
  // pixels + labels + the order (uint32 per row) after the step state + the workspace + the objective's buffers
  const std::size_t state_words = sizeof(kernels::DeviceStepState) / sizeof(std::uint32_t);
  return rows * dim + rows + (rows + state_words) * sizeof(std::uint32_t) + cublas_workspace_bytes +
         objective_device_bytes(rows, dim, classes);
}

Residency resolve_residency(Residency requested, std::size_t resident, std::size_t free_bytes) {
  if (requested != Residency::kAuto) return requested;
  return resident <= free_bytes / 2 ? Residency::kDevice : Residency::kStream;
}

}  // namespace logreg
