// convert_pixels_kernel: uint8 pixels -> float in [0, 1] on the device (ToTensor()), one thread per
// element; the body is convert_pixel_element in step_bodies.hpp. Also kernel_image_status().
#include <cstddef>
#include <cstdint>

#include "kernel_launch.cuh"
#include "kernels.hpp"
#include "step_bodies.hpp"

namespace logreg::kernels {

__global__ void convert_pixels_kernel(std::size_t n,
                                      const std::uint8_t* __restrict__ pixels,  // (n)
                                      float* __restrict__ x) {                  // (n)
  const std::size_t k = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= n) return;
  convert_pixel_element(k, pixels, x);
}

void convert_pixels(const std::uint8_t* pixels, float* x, std::size_t n, cudaStream_t stream) {
  launch_kernel("convert_pixels_kernel", convert_pixels_kernel, elementwise_shape(n), stream, n, pixels, x);
}

cudaError_t kernel_image_status() {
  cudaFuncAttributes attributes{};
  const cudaError_t err = cudaFuncGetAttributes(&attributes, convert_pixels_kernel);
  (void)cudaGetLastError();
  return err;
}

}  // namespace logreg::kernels
