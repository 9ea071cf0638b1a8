// convert_pixels: uint8 pixels -> float in [0, 1] on the device (ToTensor()), as a Thrust transform (an
// elementwise map is exactly what Thrust says in one line, at the speed of a hand-written kernel).
// gather_convert_kernel: the same fused with the gather of a shuffled batch from the device-resident
// training set, whose position comes from device memory (gather_convert_element): kept by hand. Also
// kernel_image_status().
#include <cstddef>
#include <cstdint>

#include <thrust/transform.h>

#include "kernel_launch.cuh"
#include "kernels.hpp"
#include "logreg/maths/step_bodies.hpp"
#include "logreg/maths/step_state.hpp"
#include "thrust_policy.cuh"

namespace logreg::kernels {

// pixel_to_unit as a Thrust functor.
struct PixelToUnit {
  LOGREG_HD float operator()(std::uint8_t p) const { return pixel_to_unit<float>(p); }
};

void convert_pixels(const std::uint8_t* pixels, float* x, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  on_stream(stream, "thrust::transform (convert_pixels)",
            [=](auto&& policy) { thrust::transform(policy, pixels, pixels + n, x, PixelToUnit{}); });
}

// `start` comes from device memory (state->start) so that a captured graph replays this launch for
// every batch; the one word is read by every thread and served from L1.
__global__ void gather_convert_kernel(std::size_t n,                                   // B * D
                                      const std::uint8_t* __restrict__ pixels,         // (N, D)
                                      const std::uint8_t* __restrict__ labels,         // (N)
                                      const std::uint32_t* __restrict__ order,         // (epoch rows)
                                      const DeviceStepState* __restrict__ state,       // (1)
                                      std::size_t rows,                                // B
                                      std::size_t dim,                                 // D
                                      float* __restrict__ x,                           // (B, D)
                                      std::uint8_t* __restrict__ y) {                  // (B)
  const std::size_t k = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= n) return;
  gather_convert_element(k, pixels, labels, order, static_cast<std::size_t>(state->start), rows, dim, x, y);
}

void gather_convert(const std::uint8_t* pixels, const std::uint8_t* labels, const std::uint32_t* order,
                    const DeviceStepState* state, std::size_t rows, std::size_t dim, float* x, std::uint8_t* y,
                    cudaStream_t stream) {
  const std::size_t n = rows * dim;
  launch_kernel("gather_convert_kernel", gather_convert_kernel, elementwise_shape(n), stream, n, pixels, labels,
                order, state, rows, dim, x, y);
}

cudaError_t kernel_image_status() {
  cudaFuncAttributes attributes{};
  const cudaError_t err = cudaFuncGetAttributes(&attributes, gather_convert_kernel);
  (void)cudaGetLastError();
  return err;
}

}  // namespace logreg::kernels
