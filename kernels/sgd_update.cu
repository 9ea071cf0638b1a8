// sgd_update_kernel: w -= lr * dW and b -= lr * db in one launch over the contiguous parameter block
// (C*D weights, then C biases); the body is sgd_update_element in step_bodies.hpp.
#include <cstddef>

#include "kernel_launch.cuh"
#include "kernels.hpp"
#include "step_bodies.hpp"

namespace logreg::kernels {

__global__ void sgd_update_kernel(std::size_t n,
                                  float lr,
                                  float* __restrict__ params,        // (C*D + C)
                                  const float* __restrict__ grads) {  // (C*D + C)
  const std::size_t j = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= n) return;
  sgd_update_element(j, params, grads, lr, n);
}

void sgd_update(float* params, const float* grads, float lr, std::size_t n, cudaStream_t stream) {
  launch_kernel("sgd_update_kernel", sgd_update_kernel, elementwise_shape(n), stream, n, lr, params, grads);
}

}  // namespace logreg::kernels
