// What the kernel lab programs share around their kernel versions: the random training set they validate and
// time on (host and device copies), and the gate between validating every version against the CPU reference
// and timing them. The versions, their validation and their timing stay in each program.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <vector>

#include "cuda_check.hpp"
#include "device_resources.hpp"
#include "logreg/rng.hpp"

namespace logreg::lab {

// `rows` random images of `dim` pixels and their labels below `classes` (Rng(1, 2): the same set in every
// lab), on the host and uploaded to the device.
struct RandomSet {
  std::vector<std::uint8_t> pixels;  // (N, D)
  std::vector<std::uint8_t> labels;  // (N)
  cuda::DeviceBuffer<std::uint8_t> d_pixels, d_labels;

  RandomSet(std::uint32_t rows, int dim, int classes)
      : pixels(static_cast<std::size_t>(rows) * static_cast<std::size_t>(dim)), labels(rows) {
    Rng rng(1, 2);
    for (auto& p : pixels) p = static_cast<std::uint8_t>(rng.below(256));
    for (auto& y : labels) y = static_cast<std::uint8_t>(rng.below(static_cast<std::uint32_t>(classes)));
    d_pixels = cuda::DeviceBuffer<std::uint8_t>(pixels.size());
    d_labels = cuda::DeviceBuffer<std::uint8_t>(labels.size());
    CUDA_CHECK(cudaMemcpy(d_pixels.data(), pixels.data(), pixels.size(), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(d_labels.data(), labels.data(), labels.size(), cudaMemcpyHostToDevice));
  }
};

// After every version was validated: the program's exit code when it stops here (1: a version failed;
// 0: validation only), or nullopt to go on and time.
inline std::optional<int> exit_before_timing(bool all_ok, bool validate_only) {
  if (!all_ok) {
    std::printf("validation FAILED: not timing\n");
    return 1;
  }
  if (validate_only) {
    std::printf("every version validated; no timing (--validate-only or an emulated device)\n");
    return 0;
  }
  return std::nullopt;
}

}  // namespace logreg::lab
