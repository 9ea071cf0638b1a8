// GpuTest: the fixture every GPU test derives from. It probes for a usable CUDA device and skips the test
// with the reason when there is none, or fails it when LOGREG_REQUIRE_GPU is set (tools/gpu_check.sh sets
// it on a GPU machine, where a skipped test would hide a broken set-up).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>

#include "logreg/cuda_backend.hpp"

namespace logreg::test {

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    probe_ = probe_cuda();
    if (probe_.usable) return;
    if (std::getenv("LOGREG_REQUIRE_GPU") != nullptr) FAIL() << "LOGREG_REQUIRE_GPU is set but " << probe_.reason;
    GTEST_SKIP() << "no usable CUDA device: " << probe_.reason;
  }
  CudaProbe probe_;
};

}  // namespace logreg::test
