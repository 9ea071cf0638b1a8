// The engine factory of the train layer: the device names (`--device`), the `auto` rule, creating the SGD
// backend or the full-batch engine a request names, and the chunking policy (how many calls an epoch is handed
// over in). The CLI and tests go through here; nothing else decides what runs where.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "logreg/backend.hpp"
#include "logreg/cuda_backend.hpp"
#include "logreg/dataset.hpp"
#include "logreg/engine.hpp"
#include "logreg/feature_model.hpp"
#include "logreg/model.hpp"
#include "logreg/name_table.hpp"
#include "logreg/maths/sgd_math.hpp"

namespace logreg {

enum class Device { kAuto, kCpu, kCuda, kReference };

inline constexpr NameTable<Device, 4> kDeviceNames = {{
    {Device::kAuto, "auto", "CUDA when a real GPU is usable, else cpu"},
    {Device::kCpu, "cpu", "float32, SIMD, all cores"},
    {Device::kCuda, "cuda", "an NVIDIA GPU, or the emulated device of a LOGREG_CUDA=emulated build"},
    {Device::kReference, "reference", "the double-precision CPU reference, slow"},
}};

inline const char* device_name(Device d) { return name_of(kDeviceNames, d); }
inline bool parse_device(const std::string& s, Device* out) { return parse_name(kDeviceNames, s, out); }

// The CUDA library's entry points (logreg_cuda_backend). They are handed in rather than called from
// here because that library depends on this one; the defaults are the real ones, tests stand in for a GPU.
struct CudaEntryPoints {
  CudaProbe (*probe)() = probe_cuda;
  std::unique_ptr<TrainerBackend> (*make)(const ImageSet&, const LabelSet&, const Model&, const CudaOptions&) =
      make_cuda_backend;
  std::unique_ptr<FullBatchEngine> (*make_full_batch)(const ImageSet&, const LabelSet&, const Model&,
                                                      const CudaOptions&) = make_cuda_full_batch_engine;
  std::unique_ptr<TrainerBackend> (*make_feature)(const FeatureRows&, const Model&, const CudaOptions&) =
      make_cuda_feature_backend;
  std::unique_ptr<FeaturePartSums> (*make_feature_parts)(const FeatureMatrix&, const std::vector<std::uint32_t>&,
                                                         LossHead, int, const FeatureFitTerms&, const CudaOptions&,
                                                         std::uint64_t) = make_cuda_feature_part_sums;
};

// What a requested device resolves to: kCpu, kCuda or kReference, and for `auto` a line for stderr saying
// why it is not CUDA ("" when it is).
struct DeviceChoice {
  Device device = Device::kCpu;
  std::string note;
};

// The `auto` rule: CUDA when the probe found a usable device that is a real GPU; the CPU backend when there
// is none or the device is the emulator (it runs on the CPU too, far slower than the CPU backend).
// `cuda` without a usable device throws ResourceError with the probe's reason; `cpu` and `reference` are
// returned as given.
DeviceChoice resolve_device(Device requested, const CudaProbe& probe);

struct BackendRequest {
  Device device = Device::kAuto;
  OptimizerConfig optimizer;
  std::vector<float> velocity;  // (C*D + C) saved momentum state, or empty
  CudaOptions cuda;             // CUDA only: residency, graphs, profiling (optimizer and velocity come from above)
};

struct MadeBackend {
  std::unique_ptr<TrainerBackend> backend;
  std::string note;  // for stderr: why `auto` is not on CUDA, or which GPU it trains on; "" for cpu/reference
};

// Creates the backend `request` names (probing CUDA only for auto and cuda; under MPI ranks, CUDA on the rank's
// GPU: its node-local rank modulo the devices it sees, as make_full_batch_engine). The image/label sets must
// outlive it. Throws what the backend's constructor throws (DataError, ResourceError, UsageError).
MadeBackend make_backend(const BackendRequest& request, const ImageSet& train_images, const LabelSet& train_labels,
                         const Model& initial, const CudaEntryPoints& cuda = {});

// The SGD engine of a feature file's float32 rows (feature_sgd.hpp) on the device `request` names, by the rule of
// make_backend: make_reference_feature_backend, make_cpu_feature_backend or make_cuda_feature_backend (the
// optimizer from `request`, its CUDA options; a saved velocity is not taken). `rows` must outlive it.
MadeBackend make_feature_backend(const BackendRequest& request, const FeatureRows& rows, const Model& initial,
                                 const CudaEntryPoints& cuda = {});

struct MadeFullBatchEngine {
  std::unique_ptr<FullBatchEngine> engine;
  std::string note;  // as MadeBackend's
};

// Creates the full-batch engine `request` names (the device rule of make_backend; optimizer and velocity are not
// used): no SGD state is built. `shape` gives the head, classes and pixels. The sets must outlive it. Throws as
// make_backend.
MadeFullBatchEngine make_full_batch_engine(const BackendRequest& request, const ImageSet& train_images,
                                           const LabelSet& train_labels, const Model& shape,
                                           const CudaEntryPoints& cuda = {});

// The maker of a feature file's full-batch objective on --device cuda (FeatureObjective's device part sums): the
// probe (ResourceError without a usable device) and, under MPI ranks, one GPU per rank as make_full_batch_engine
// picks it; request.cuda's other options as given. Each objective it makes uploads its own rows; CSR rows are
// densified within max_dense_bytes (--max-bytes).
FeaturePartsMaker make_cuda_feature_parts_maker(const BackendRequest& request, std::uint64_t max_dense_bytes,
                                                const CudaEntryPoints& cuda = {});

// The engine of `eval` and `predict`, which hold a model and no training set: the host's inference (Engine's
// logits and accuracy_percent), on the CPU. Never loads the CUDA module.
std::unique_ptr<Engine> make_inference_engine();

// The chunking policy: an epoch goes to a GPU backend in one call (each call ends in a host sync, and the
// work must not depend on anything but the settings: a terminal or a benchmark get the same); a CPU backend
// gets it in kCpuChunksPerEpoch calls, so that a stop signal is heard within a tenth of an epoch (a few
// milliseconds on MNIST-sized data). Each call costs the fast CPU backend about 20 us of gather and thread
// start: 50 calls cost 4-5 % of a batch-32 epoch, 10 calls under 1 %.
inline constexpr int kCpuChunksPerEpoch = 10;
int chunks_per_epoch(const BackendTraits& traits);

}  // namespace logreg
