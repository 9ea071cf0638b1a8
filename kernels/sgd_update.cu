// sgd_update_kernel: the SGD step (momentum, Nesterov, weight decay fused) of the weights and the biases
// in one launch over the contiguous parameter block (C*D weights, then C biases); the body is
// sgd_update_element in step_bodies.hpp.
#include <cstddef>

#include "kernel_launch.cuh"
#include "kernels.hpp"
#include "step_bodies.hpp"

namespace logreg::kernels {

__global__ void sgd_update_kernel(SgdStepParams p,
                                  float* __restrict__ params,        // (C*D + C)
                                  const float* __restrict__ grads,   // (C*D + C)
                                  float* __restrict__ velocity) {    // (C*D + C) or nullptr
  const std::size_t j = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= p.n) return;
  sgd_update_element(j, params, grads, velocity, p);
}

void sgd_update(float* params, const float* grads, float* velocity, const SgdStepParams& p, cudaStream_t stream) {
  launch_kernel("sgd_update_kernel", sgd_update_kernel, elementwise_shape(p.n), stream, p, params, grads, velocity);
}

}  // namespace logreg::kernels
