// The contract between the executable and the CUDA backend's run-time module (liblogreg_cuda_module.so, built
// from src/cuda/ and kernels/ with the CUDA runtime, cuBLAS or the emulator inside): four C entry points that
// the executable finds with dlsym, and an ABI tag they must agree on. The module and the executable are built
// together from one tree by one compiler, so the entry points pass the project's C++ types; the tag refuses a
// module from another build. Not here: the loader (src/train/cuda_module_loader.cpp), the backend itself.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "logreg/cuda_backend.hpp"

// The module's file name, looked for beside the executable (LOGREG_CUDA_MODULE names another path).
#define LOGREG_CUDA_MODULE_FILE "liblogreg_cuda_module.so"

// Changes whenever the entry points' signatures or the types they pass change.
#define LOGREG_CUDA_MODULE_ABI "logreg_cuda_module 5 " __VERSION__

extern "C" {
// The ABI tag the module was built with.
using LogregCudaModuleAbi = const char* (*)();
// probe_cuda() of the module, into *out.
using LogregCudaModuleProbe = void (*)(logreg::CudaProbe* out);
// make_cuda_backend() of the module: the backend, or nullptr with the exit code (logreg::ExitCode) and message
// of the exception it threw (thrown again by the loader as the same kind of logreg::Error).
using LogregCudaModuleMake = logreg::TrainerBackend* (*)(const logreg::ImageSet* images, const logreg::LabelSet* labels,
                                                         const logreg::Model* initial,
                                                         const logreg::CudaOptions* options, int* exit_code,
                                                         std::string* error);
// make_cuda_full_batch_engine() of the module, reporting failures as LogregCudaModuleMake does.
using LogregCudaModuleMakeFullBatch = logreg::FullBatchEngine* (*)(const logreg::ImageSet* images,
                                                                   const logreg::LabelSet* labels,
                                                                   const logreg::Model* shape,
                                                                   const logreg::CudaOptions* options, int* exit_code,
                                                                   std::string* error);
// make_cuda_feature_backend() of the module (a feature file's rows, SGD), reporting failures as
// LogregCudaModuleMake does.
using LogregCudaModuleMakeFeatureSgd = logreg::TrainerBackend* (*)(const logreg::FeatureRows* rows,
                                                                   const logreg::Model* initial,
                                                                   const logreg::CudaOptions* options, int* exit_code,
                                                                   std::string* error);
// make_cuda_feature_part_sums() of the module, reporting failures as LogregCudaModuleMake does.
using LogregCudaModuleMakeFeatureParts = logreg::FeaturePartSums* (*)(
    const logreg::FeatureMatrix* x, const std::vector<std::uint32_t>* y, logreg::LossHead head, int num_classes,
    const logreg::FeatureFitTerms* terms, const logreg::CudaOptions* options, std::uint64_t max_dense_bytes,
    int* exit_code, std::string* error);
}
