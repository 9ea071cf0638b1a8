// sgd_update_state_kernel: the SGD step (momentum, Nesterov, weight decay fused) of the weights and the biases
// in one launch over the contiguous parameter block (C*D weights, then C biases), with lr read from the
// device step state (so a captured graph follows lr schedules), advancing the state's batch cursor; the body
// is sgd_update_element in step_bodies.hpp.
#include <cstddef>

#include "kernel_launch.cuh"
#include "kernels.hpp"
#include "logreg/maths/step_bodies.hpp"
#include "logreg/maths/step_state.hpp"

namespace logreg::kernels {

__global__ void sgd_update_state_kernel(SgdStepParams p,                  // p.lr is ignored
                                        DeviceStepState* __restrict__ state,  // (1) lr in, start advanced
                                        unsigned long long rows,              // rows of this step's batch
                                        float* __restrict__ params,           // (C*D + C)
                                        const float* __restrict__ grads,      // (C*D + C)
                                        float* __restrict__ velocity) {       // (C*D + C) or nullptr
  const std::size_t j = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= p.n) return;
  p.lr = state->lr;
  sgd_update_element(j, params, grads, velocity, p);
  advance_step_state(j, state, rows);
}

void sgd_update_from_state(float* params, const float* grads, float* velocity, const SgdStepParams& p,
                           DeviceStepState* state, unsigned long long rows, cudaStream_t stream) {
  launch_kernel("sgd_update_state_kernel", sgd_update_state_kernel, elementwise_shape(p.n), stream, p, state, rows,
                params, grads, velocity);
}

}  // namespace logreg::kernels
