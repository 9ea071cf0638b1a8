// The CUDA engines' public face: probing for a usable device and creating the SGD backend, the full-batch
// engine, or the part sums of a feature file's full-batch objective.
// Everything CUDA-specific (RAII types, kernels, cuBLAS) stays behind this header in src/cuda/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "logreg/backend.hpp"
#include "logreg/engine.hpp"
#include "logreg/feature_model.hpp"
#include "logreg/name_table.hpp"
#include "logreg/maths/sgd_math.hpp"
#include "logreg/part_sums.hpp"

namespace logreg {

struct FeatureRows;  // feature_sgd.hpp

struct CudaProbe {
  bool usable = false;
  int device_count = 0;
  std::string device_name;  // of device 0 when usable, e.g. "NVIDIA H100 80GB HBM3"
  std::string reason;       // why not usable, e.g. "no CUDA driver found (cudaErrorInsufficientDriver)"
  bool emulated = false;    // the device is the CPU emulator (LOGREG_CUDA=emulated): `--device auto` skips it
};

// Never throws: cudaGetDeviceCount and friends, errors reported in `reason`.
CudaProbe probe_cuda();

// Where the training set lives while training.
//   kDevice: the uint8 pixels and labels are uploaded once; each epoch uploads only its order
//            (row indices) and a kernel gathers + converts every batch on the device.
//   kStream: the set stays on the host; batches are gathered into pinned buffers and streamed.
//   kAuto:   kDevice when resident_bytes() fits in half of the free device memory, else kStream.
enum class Residency { kAuto, kDevice, kStream };

inline constexpr NameTable<Residency, 3> kResidencyNames = {{
    {Residency::kAuto, "auto", "device when it fits in half the free GPU memory"},
    {Residency::kDevice, "device", "uploaded once, batches gathered on the GPU"},
    {Residency::kStream, "stream", "pinned host batches uploaded while the previous one computes"},
}};

inline const char* residency_name(Residency r) { return name_of(kResidencyNames, r); }
inline bool parse_residency(const std::string& s, Residency* out) { return parse_name(kResidencyNames, s, out); }

// Device bytes the kDevice mode adds for a training set of `rows` images of `dim` pixels and `classes`
// classes: the pixels, the labels, the epoch order (uint32 per row), the cuBLAS workspace and the L-BFGS
// objective's buffers (objective_device_bytes).
std::size_t resident_bytes(std::size_t rows, std::size_t dim, int classes, std::size_t cublas_workspace_bytes);

// Device bytes the full-batch objective allocates for `rows` rows with the set on the device: its row list
// (uint32 per row), the parameters, each row part's summed gradient and loss, and one such slot per row block
// (kernels::objective_blocks_per_part per part), all double. With the set streamed it allocates the same less the
// row list. (An MPI rank that computes some of the parts needs less: this is the bound.)
std::size_t objective_device_bytes(std::size_t rows, std::size_t dim, int classes);

// kAuto -> kDevice when resident <= free_bytes / 2, else kStream; kDevice and kStream are returned as
// given (kDevice that does not fit then fails with "out of GPU memory" when the set is uploaded).
Residency resolve_residency(Residency requested, std::size_t resident, std::size_t free_bytes);

// Which kernels run the SGD steps of an epoch (each choice's limits, and the batches auto gives it, are its row
// of the epoch plan, src/cuda/epoch_plan.cpp):
//   kCublas:     per step a gather kernel, two cuBLAS GEMMs, the loss kernel and the update kernel (replayed
//                as one CUDA graph per step with cuda_graphs); any shape.
//   kPersistent: one launch per epoch runs every step on one SM with W in shared memory
//                (kernels/persistent_epoch.cu); small batches and few classes, data on the device.
//   kCluster:    one launch per epoch of one thread block cluster, each block owning a slice of W's pixels
//                (kernels/cluster_epoch.cu); compute capability 9.0+, batches of up to 256 rows, at most 16
//                classes, data on the device. auto does not take it until a GPU run has measured it.
//   kGrid:       one cooperative launch per epoch over every block the GPU holds at once, the batch's rows
//                split over them, a grid barrier before and after a fixed-order reduction and update
//                (kernels/grid_epoch.cu); large batches, D a multiple of 16, at most 16 classes, data on the
//                device. auto does not take it until a GPU run has measured it.
//   kAuto:       the first choice of the plan that can run the shape and takes batches of this size.
enum class CudaKernel { kAuto, kPersistent, kCublas, kCluster, kGrid };

inline constexpr NameTable<CudaKernel, 5> kCudaKernelNames = {{
    {CudaKernel::kAuto, "auto", "persistent for small batches where it can run, else cublas"},
    {CudaKernel::kPersistent, "persistent", "one launch per epoch, W in shared memory (small batches)"},
    {CudaKernel::kCublas, "cublas", "gather, cuBLAS GEMMs, loss and update kernels per step"},
    {CudaKernel::kCluster, "cluster", "one launch per epoch on a cluster of SMs, each owning a slice of W (sm_90+)"},
    {CudaKernel::kGrid, "grid", "one cooperative launch per epoch over all SMs, rows split over them (large batches)"},
}};

inline const char* cuda_kernel_name(CudaKernel k) { return name_of(kCudaKernelNames, k); }

struct CudaOptions {
  int device = 0;
  int ring_slots = 3;            // pinned batch buffers (>= 2), used by Residency::kStream
  Residency residency = Residency::kAuto;
  // With device-resident data: capture one full-batch training step as a CUDA graph once and replay it
  // for every full batch (the partial last batch runs uncaptured). Same kernels, same arguments, so
  // the results are bit-identical to cuda_graphs = false. Not used with Residency::kStream.
  bool cuda_graphs = true;
  CudaKernel kernel = CudaKernel::kAuto;
  int profile_epoch = 0;         // 1-based epoch bracketed by cudaProfilerStart/Stop; 0 = none
  OptimizerConfig optimizer;     // momentum / Nesterov / weight decay, fused into the update kernel
  std::vector<float> velocity;   // (C*D + C) saved momentum state to continue from, or empty
  // The full-batch engine: which of the objective's row parts this process computes and the exchange of the
  // others' (all of them and none by default; under MPI ranks, ranks::part_share() of the executable).
  PartShare parts;
};

// Throws ResourceError (CUDA/cuBLAS failures, out of memory). The image/label sets must outlive it.
std::unique_ptr<TrainerBackend> make_cuda_backend(const ImageSet& train_images,
                                                  const LabelSet& train_labels, const Model& initial,
                                                  const CudaOptions& options = {});

// The SGD engine over a feature file's float32 rows (feature_sgd.hpp): the rows, their labels and row weights
// uploaded once (ResourceError naming the bytes when they do not fit the free device memory), each batch gathered
// on the device, the steps of the cuBLAS path with each row's weight in the loss (the cpu feature engine's weighted
// batch mean), the biases fixed at 0 without an intercept. Of `options` it reads device, cuda_graphs, optimizer
// and velocity; residency stream, the one-launch kernels and profile_epoch are refused (UsageError). `rows` must outlive it.
std::unique_ptr<TrainerBackend> make_cuda_feature_backend(const FeatureRows& rows, const Model& initial,
                                                          const CudaOptions& options = {});

// The full-batch engine (no SGD state: no DeviceStep, step graphs, cuBLAS handle or evaluator): the objective in
// double on the device (src/cuda/device_objective.hpp), for a model of `shape`'s head, classes and pixels (its
// parameters are not used). Of `options` it reads device, residency and parts: with the set on the device its pixels
// and labels are uploaded once; streamed, the rows are gathered once into pinned host memory. No
// Hessian-vector product (UsageError). Throws as make_cuda_backend; the sets must outlive it.
std::unique_ptr<FullBatchEngine> make_cuda_full_batch_engine(const ImageSet& train_images,
                                                             const LabelSet& train_labels, const Model& shape,
                                                             const CudaOptions& options = {});

// The part sums of a feature file's full-batch objective (FeaturePartSums, feature_model.hpp) in double on the
// device (src/cuda/cuda_feature_parts.cu, the kernel of the IDX full-batch engine): dense rows read as stored
// (uint8 as pixel_to_unit<double>, float32, float64), CSR rows densified to float64 when uploaded (UsageError
// when their dense form takes more than max_dense_bytes, the --max-bytes limit), each row's weight of `terms`
// multiplied into its loss and gradient. The rows of the parts a call asks for are uploaded on its first call and
// kept there (a rank's share under MPI); the set must fit in the device's free memory (ResourceError naming the
// bytes otherwise: no streamed path for feature rows). Of `options` it reads device. x, y and terms outlive it.
std::unique_ptr<FeaturePartSums> make_cuda_feature_part_sums(const FeatureMatrix& x, const std::vector<std::uint32_t>& y,
                                                             LossHead head, int num_classes, const FeatureFitTerms& terms,
                                                             const CudaOptions& options, std::uint64_t max_dense_bytes);

}  // namespace logreg
