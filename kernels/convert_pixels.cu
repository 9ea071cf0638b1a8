// convert_pixels: uint8 pixels -> float in [0, 1] on the device (ToTensor()), as a Thrust transform (an
// elementwise map is exactly what Thrust says in one line, at the speed of a hand-written kernel).
// gather_convert_kernel: the same fused with the gather of a shuffled batch from the device-resident
// training set, whose position comes from device memory (gather_convert_element): kept by hand; templated on
// the set's element type (uint8 pixels, or a feature file's float32 rows copied as they are). Also
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
// every batch; the one word is read by every thread and served from L1. T: uint8 pixels or float32 features.
template <class T>
__global__ void gather_convert_kernel(std::size_t n,                                   // B * D
                                      const T* __restrict__ set,                       // (N, D)
                                      const std::uint8_t* __restrict__ labels,         // (N)
                                      const double* __restrict__ weights,              // (N) or nullptr
                                      const std::uint32_t* __restrict__ order,         // (epoch rows)
                                      const DeviceStepState* __restrict__ state,       // (1)
                                      std::size_t rows,                                // B
                                      std::size_t dim,                                 // D
                                      float* __restrict__ x,                           // (B, D)
                                      std::uint8_t* __restrict__ y,                    // (B)
                                      double* __restrict__ w) {                        // (B) or unused
  const std::size_t k = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= n) return;
  gather_convert_element(k, set, labels, order, static_cast<std::size_t>(state->start), rows, dim, x, y, weights, w);
}

void gather_convert(const std::uint8_t* pixels, const std::uint8_t* labels, const std::uint32_t* order,
                    const DeviceStepState* state, std::size_t rows, std::size_t dim, float* x, std::uint8_t* y,
                    cudaStream_t stream) {
  const std::size_t n = rows * dim;
  const double* no_weights = nullptr;
  double* no_w = nullptr;
  launch_kernel("gather_convert_kernel", gather_convert_kernel<std::uint8_t>, elementwise_shape(n), stream, n, pixels,
                labels, no_weights, order, state, rows, dim, x, y, no_w);
}

void gather_convert(const float* features, const std::uint8_t* labels, const double* weights,
                    const std::uint32_t* order, const DeviceStepState* state, std::size_t rows, std::size_t dim,
                    float* x, std::uint8_t* y, double* w, cudaStream_t stream) {
  const std::size_t n = rows * dim;
  launch_kernel("gather_convert_kernel<float>", gather_convert_kernel<float>, elementwise_shape(n), stream, n,
                features, labels, weights, order, state, rows, dim, x, y, w);
}

cudaError_t kernel_image_status() {
  cudaFuncAttributes attributes{};
  const cudaError_t err = cudaFuncGetAttributes(&attributes, gather_convert_kernel<std::uint8_t>);
  (void)cudaGetLastError();
  return err;
}

}  // namespace logreg::kernels
