// probe_cuda(), make_cuda_backend(), make_cuda_full_batch_engine(), make_cuda_feature_backend() and
// make_cuda_feature_part_sums() for the
// executable (cuda_backend.hpp),
// through the CUDA run-time module
// (src/cuda/cuda_module.hpp): the module is loaded with dlopen the first time either is called, from beside
// the executable (or from $LOGREG_CUDA_MODULE), so a command that never asks for CUDA (--version, info, eval,
// --device cpu) loads no CUDA library, and a machine without them runs the CPU backend. A missing or broken
// module, driver or cuBLAS is a probe that says why: `--device auto` falls back to the CPU with that line,
// `--device cuda` fails with it. The tests and tools that link the backend directly do not use this file.
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include "cuda_module.hpp"
#include "logreg/errors.hpp"

namespace logreg {
namespace {

struct LoadedModule {
  void* handle = nullptr;
  LogregCudaModuleProbe probe = nullptr;
  LogregCudaModuleMake make = nullptr;
  LogregCudaModuleMakeFullBatch make_full_batch = nullptr;
  LogregCudaModuleMakeFeatureSgd make_feature_sgd = nullptr;
  LogregCudaModuleMakeFeatureParts make_feature_parts = nullptr;
  std::string problem;  // why the module cannot be used ("" when it can)
};

std::string module_path() {
  if (const char* path = std::getenv("LOGREG_CUDA_MODULE"); path != nullptr && *path != '\0') return path;
  char exe[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return LOGREG_CUDA_MODULE_FILE;
  std::string dir(exe, static_cast<std::size_t>(n));
  const std::size_t slash = dir.rfind('/');
  dir = slash == std::string::npos ? std::string(".") : dir.substr(0, slash);
  return dir + "/" LOGREG_CUDA_MODULE_FILE;
}

// dlerror's text, cut to a line (it can name every missing library).
std::string last_dl_error() {
  const char* e = dlerror();
  std::string text = e != nullptr ? e : "unknown dlopen error";
  if (text.size() > 300) text = text.substr(0, 300) + "...";
  return text;
}

const LoadedModule& module() {
  static LoadedModule m;
  static std::once_flag once;
  std::call_once(once, [] {
    const std::string path = module_path();
    m.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (m.handle == nullptr) {
      m.problem = "the CUDA module could not be loaded (" + last_dl_error() + ")";
      return;
    }
    const auto abi = reinterpret_cast<LogregCudaModuleAbi>(dlsym(m.handle, "logreg_cuda_module_abi"));
    m.probe = reinterpret_cast<LogregCudaModuleProbe>(dlsym(m.handle, "logreg_cuda_module_probe"));
    m.make = reinterpret_cast<LogregCudaModuleMake>(dlsym(m.handle, "logreg_cuda_module_make"));
    m.make_full_batch =
        reinterpret_cast<LogregCudaModuleMakeFullBatch>(dlsym(m.handle, "logreg_cuda_module_make_full_batch"));
    m.make_feature_sgd =
        reinterpret_cast<LogregCudaModuleMakeFeatureSgd>(dlsym(m.handle, "logreg_cuda_module_make_feature_sgd"));
    m.make_feature_parts =
        reinterpret_cast<LogregCudaModuleMakeFeatureParts>(dlsym(m.handle, "logreg_cuda_module_make_feature_parts"));
    if (abi == nullptr || m.probe == nullptr || m.make == nullptr || m.make_full_batch == nullptr ||
        m.make_feature_sgd == nullptr || m.make_feature_parts == nullptr) {
      m.problem = "the CUDA module " + path + " lacks its entry points (not a logreg_cuda module?)";
    } else if (std::string(abi()) != LOGREG_CUDA_MODULE_ABI) {
      m.problem = "the CUDA module " + path + " is from another build ('" + abi() + "', this program is '" +
                  LOGREG_CUDA_MODULE_ABI + "')";
    }
    if (!m.problem.empty()) {
      m.probe = nullptr;
      m.make = nullptr;
      m.make_full_batch = nullptr;
      m.make_feature_sgd = nullptr;
      m.make_feature_parts = nullptr;
    }
  });
  return m;
}

// The module's failure, thrown again as the kind of logreg::Error its exit code names.
[[noreturn]] void throw_module_error(int exit_code, const std::string& error) {
  switch (static_cast<ExitCode>(exit_code)) {
    case ExitCode::kUsage: throw UsageError(error);
    case ExitCode::kBadData: throw DataError("", error);
    case ExitCode::kDevice: throw ResourceError(error);
    case ExitCode::kDiverged: throw DivergedError(error);
    default: throw Error(static_cast<ExitCode>(exit_code), error);
  }
}

// What an entry point of the module constructs, `call(module, &exit_code, &error)`: ResourceError when the
// module is not usable, the module's typed error (throw_module_error) when it returns null.
template <class T, class Call>
std::unique_ptr<T> made_by_module(const Call& call) {
  const LoadedModule& m = module();
  if (!m.problem.empty()) throw ResourceError("CUDA backend unavailable: " + m.problem);
  int exit_code = 0;
  std::string error;
  T* made = call(m, &exit_code, &error);
  if (made == nullptr) throw_module_error(exit_code, error);
  return std::unique_ptr<T>(made);
}

}  // namespace

CudaProbe probe_cuda() {
  const LoadedModule& m = module();
  CudaProbe probe;
  if (!m.problem.empty()) {
    probe.reason = m.problem;
    return probe;
  }
  m.probe(&probe);
  return probe;
}

std::unique_ptr<TrainerBackend> make_cuda_backend(const ImageSet& train_images, const LabelSet& train_labels,
                                                  const Model& initial, const CudaOptions& options) {
  return made_by_module<TrainerBackend>([&](const LoadedModule& m, int* exit_code, std::string* error) {
    return m.make(&train_images, &train_labels, &initial, &options, exit_code, error);
  });
}

std::unique_ptr<FullBatchEngine> make_cuda_full_batch_engine(const ImageSet& train_images,
                                                             const LabelSet& train_labels, const Model& shape,
                                                             const CudaOptions& options) {
  return made_by_module<FullBatchEngine>([&](const LoadedModule& m, int* exit_code, std::string* error) {
    return m.make_full_batch(&train_images, &train_labels, &shape, &options, exit_code, error);
  });
}

std::unique_ptr<TrainerBackend> make_cuda_feature_backend(const FeatureRows& rows, const Model& initial,
                                                          const CudaOptions& options) {
  return made_by_module<TrainerBackend>([&](const LoadedModule& m, int* exit_code, std::string* error) {
    return m.make_feature_sgd(&rows, &initial, &options, exit_code, error);
  });
}

std::unique_ptr<FeaturePartSums> make_cuda_feature_part_sums(const FeatureMatrix& x, const std::vector<std::uint32_t>& y,
                                                             LossHead head, int num_classes, const FeatureFitTerms& terms,
                                                             const CudaOptions& options, std::uint64_t max_dense_bytes) {
  return made_by_module<FeaturePartSums>([&](const LoadedModule& m, int* exit_code, std::string* error) {
    return m.make_feature_parts(&x, &y, head, num_classes, &terms, &options, max_dense_bytes, exit_code, error);
  });
}

}  // namespace logreg
