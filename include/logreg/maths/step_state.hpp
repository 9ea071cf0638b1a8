// The device step state: the per-step scalars kept in device memory so that one captured CUDA graph of a
// training step serves every full batch of every epoch (src/cuda/step_graph.hpp captures and replays it). The
// host writes {0, lr} once per epoch; each step's gather reads `start`, its update reads `lr` and then
// advances `start`. Plain C++ with __host__ __device__ functions: the kernels, the CPU tests and
// residency.cpp (which counts its bytes) read it.
#pragma once

#include <cstddef>

#include "logreg/maths/row_math.hpp"

namespace logreg::kernels {

struct DeviceStepState {
  unsigned long long start;  // position in the epoch's order of the next batch's first row
  float lr;                  // learning rate of the current epoch
};

// The update kernel's epilogue on the step state: thread j == 0 moves the cursor to the next batch.
// Safe inside the update kernel because the only reader of `start` (the gather) ran earlier on the stream
// and the update's other threads read only `lr`.
LOGREG_HD inline void advance_step_state(std::size_t j, DeviceStepState* state, unsigned long long rows) {
  if (j == 0) state->start += rows;
}

}  // namespace logreg::kernels
