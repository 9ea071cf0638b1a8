// Launchers of the training-step kernels (each enqueues on the given stream and checks the launch),
// and the device-resident running totals they add into. The kernel bodies are in step_bodies.hpp;
// CPU tests include that one, never this header (it needs the CUDA runtime).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "logreg/feature_data.hpp"  // FeatureDtype: the objective's element types
#include "logreg/maths/row_math.hpp"
#include "logreg/maths/launch_sizes.hpp"
#include "logreg/maths/step_bodies.hpp"
#include "logreg/maths/step_state.hpp"

namespace logreg::kernels {

// Loss summed over rows and correct predictions, kept on the device across the batches of an epoch
// (or of an evaluation) and copied back once; plus the loss sum of the latest batch alone.
struct DeviceTotals {
  double loss_sum;
  unsigned long long correct;
  double last_batch_loss_sum;
};

// x[k] = pixels[k] / 255 for k < n.
void convert_pixels(const std::uint8_t* pixels,  // (n) uint8, e.g. (B, D) row-major
                    float* x,                    // (n) float in [0, 1]
                    std::size_t n,
                    cudaStream_t stream);

// The device-resident pixel path's batch: x (B, D) = pixels[order[start .. start + B)] / 255 and
// y (B) = labels[order[start .. start + B)], with start = state->start read on the device
// (gather_convert_element).
void gather_convert(const std::uint8_t* pixels,   // (N, D) the training set, uint8 row-major
                    const std::uint8_t* labels,   // (N)
                    const std::uint32_t* order,   // (epoch rows) row indices, each < N
                    const DeviceStepState* state, // (1) on the device: the batch's position in order
                    std::size_t rows,             // B
                    std::size_t dim,              // D
                    float* x,                     // (B, D) row-major
                    std::uint8_t* y,              // (B)
                    cudaStream_t stream);

// The same gather over a feature file's float32 rows, unconverted, and each row's weight when `weights` is
// given: w (B) = weights[order[start .. start + B)].
void gather_convert(const float* features,        // (N, D) the training rows, float32 row-major
                    const std::uint8_t* labels,   // (N)
                    const double* weights,        // (N) row weights, or nullptr
                    const std::uint32_t* order,   // (epoch rows) row indices, each < N
                    const DeviceStepState* state, // (1) on the device: the batch's position in order
                    std::size_t rows,             // B
                    std::size_t dim,              // D
                    float* x,                     // (B, D) row-major
                    std::uint8_t* y,              // (B)
                    double* w,                    // (B) when weights is given, else unused
                    cudaStream_t stream);

// Per-block partial results of the many-block loss kernel (batches of more than kLossThreads rows), reduced
// in block order by a second kernel so the sums stay bit-reproducible.
struct LossPartials {
  double* loss = nullptr;                 // (blocks)
  unsigned long long* correct = nullptr;  // (blocks)
  double* db = nullptr;                   // (blocks, C) bias-gradient partials
};

// Blocks the loss step of `batch` rows uses: one for up to kLossThreads rows (one thread per row), else one
// block per kLossThreads rows; the LossPartials must hold that many.
inline int loss_blocks(int batch) { return batch <= kLossThreads ? 1 : (batch + kLossThreads - 1) / kLossThreads; }

// The fused loss step of one batch (bit-reproducible sums):
//   z += bias (in place); per row loss and, when dz != nullptr, dz = dloss/dz * scale and
//   db = sum over rows of dz; totals += (loss sum, correct count) of the batch, and
//   totals->last_batch_loss_sum = the batch's loss sum.
//   With row_weights (a feature file's a_i): row i's loss counts a_i times in those sums and its dz is scaled
//   by weighted_row_scale(a_i, B) instead of `scale` (the feature engines' weighted batch mean).
// Up to kLossThreads rows: one block of kLossThreads threads. More rows: one block per kLossThreads rows
// writes its partial sums to `partials`, and one more block adds them up in block order (loss_blocks(batch)
// blocks; `partials` may be empty for small batches). Evaluation passes dz = db = nullptr. classes <= kMaxClasses.
void loss_grad(LossHead head,
               int batch,
               int classes,
               float scale,                 // 1/B
               float* z,                    // (B, C) in: X·Wᵀ, out: X·Wᵀ + b, row-major
               const float* bias,           // (C)
               const std::uint8_t* labels,  // (B) in [0, C)
               const double* row_weights,   // (B) a_i, or nullptr (every row 1)
               float* dz,                   // (B, C) row-major, or nullptr
               float* db,                   // (C), or nullptr
               DeviceTotals* totals,        // (1) on the device
               const LossPartials& partials,
               cudaStream_t stream);

// The SGD step of every parameter (sgd_update_element, step_bodies.hpp): the C*D weights and the C biases that
// follow them, one launch, with the learning rate read from state->lr on the device (p.lr is ignored); thread
// 0 then advances state->start by `rows`, moving the device-resident path's cursor to the next batch.
// velocity is nullptr without momentum.
void sgd_update_from_state(float* params,       // (C*D + C)
                           const float* grads,  // (C*D + C)
                           float* velocity,     // (C*D + C), or nullptr
                           const SgdStepParams& p,
                           DeviceStepState* state,  // (1) on the device
                           unsigned long long rows,
                           cudaStream_t stream);

// The persistent small-batch epoch (persistent_epoch.cu): one launch of one block runs every SGD step of an
// epoch over the device-resident set, W and b (and velocity) in shared memory throughout.
constexpr int kPersistentThreads = 1024;
constexpr int kPersistentMaxClasses = 16;  // the forward pass keeps C accumulators per lane in registers
constexpr std::size_t kPersistentMaxBatchBytes = 64 << 10;  // B * D: two batches of uint8 in shared memory

struct PersistentEpochArgs {
  const std::uint8_t* pixels;   // (N, D) the training set, uint8 row-major
  const std::uint8_t* labels;   // (N) each < classes
  const std::uint32_t* order;   // (>= state->start + rows) the epoch's order, each < N
  std::size_t rows;             // rows of the epoch, from state->start on
  int batch;                    // B; the last batch may be shorter
  int dim;                      // D, a multiple of 16
  int classes;                  // C <= kPersistentMaxClasses
  LossHead head;
  SgdStepParams sgd;            // momentum, Nesterov, weight decay, n_weights; lr is read from state->lr
  float* params;                // (C*D + C) weights then bias, updated in place once at the end
  float* velocity;              // (C*D + C) momentum buffers, or nullptr without momentum
  DeviceStepState* state;       // (1) lr of the epoch; start advances by rows
  DeviceTotals* totals;         // (1) += loss sum and correct count; last_batch_loss_sum = the last batch's
  float* scratch;               // the grid epoch's gradient slots (grid_epoch_scratch_floats); null for the others
};

// Dynamic shared memory the persistent epoch needs for this shape; 0 when it cannot run it (D not a multiple
// of 16, C > kPersistentMaxClasses, B * D > kPersistentMaxBatchBytes). The caller compares it with the
// device's sharedMemPerBlockOptin.
std::size_t persistent_epoch_shared_bytes(int batch, int dim, int classes, bool momentum);

// Enqueues the whole epoch (one launch). shared_bytes = persistent_epoch_shared_bytes(...) > 0.
void persistent_epoch(const PersistentEpochArgs& a, std::size_t shared_bytes, cudaStream_t stream);

// The L-BFGS objective's data term in double (objective_fp64.cu), for some of the objective's fixed row parts
// (maths/row_parts.hpp): one launch of objective_blocks_per_part(n) fixed row blocks per part, of
// kObjectiveThreads threads, each summing its rows' loss and gradient into its own slot, then one launch adding
// each part's slots in slot order into the part's sums. Bit-reproducible, and the same on every device: the
// parts and their row blocks depend on n alone.
// (The block counts and sizes are in launch_sizes.hpp, which plain C++ reads to count the device bytes.)

// Where a block keeps its data: a tile of tile_rows rows (1..kObjectiveMaxTileRows) of elements as doubles,
// W (w_shared) and the block's gradient (g_shared) in shared memory when they fit, else read from / added into
// global memory. tile_rows == 0: the shape does not fit even one row (refused).
struct ObjectivePlan {
  int tile_rows;
  bool w_shared;
  bool g_shared;
  std::size_t shared_bytes;  // dynamic shared memory per block
};

// The plan for C classes of D pixels on a device with shared_optin bytes of shared memory per block
// (cudaDeviceProp::sharedMemPerBlockOptin): the W-and-g plan with 8 rows (175 KiB at 10 x 784) where it fits.
ObjectivePlan objective_plan(int classes, int dim, std::size_t shared_optin);

struct ObjectiveArgs {
  const void* x;               // (N, D) row-major, device or pinned host memory, elements of `element`: uint8
                               // (read as pixel_to_unit<double>, as the host reads IDX pixels and uint8 features),
                               // float32 or float64
  FeatureDtype element;
  const std::uint8_t* labels;  // (N) each < classes
  const double* weights;       // (N) each row's weight a_i, multiplied into its loss and dz; nullptr: all 1
  const std::uint32_t* rows;   // (last_row - first_row) the rows at positions first_row.. of the objective's
                               // rows, each < N; nullptr: position i is row i - first_row
  int n;                       // rows of the whole objective (the parts are cut from them)
  int first_part;              // the launch's parts: [first_part, first_part + part_count) of full_batch_parts(n)
  int first_row;               // part_start(n, first_part, full_batch_parts(n)): the position rows[0] stands at
  int dim;                     // D
  int classes;                 // C
  LossHead head;
  double inv_n;                // 1/S (S = n, or the sum of the sample weights): dz = a_i inv_n dloss/dz
                               // (objective_row)
  const double* params;        // (C*D + C) W (C, D) row-major, then b
  double* partials;            // (part_count * objective_blocks_per_part(n), C*D + C + 1) per block: its rows'
                               // data gradient, then their loss sum
};

// Enqueues one evaluation of parts [a.first_part, a.first_part + part_count): out (part_count, C*D + C + 1) =
// for each part the data gradient sum_i dz_i x_iᵀ of its rows (dW then db, each already scaled by a_i / S) and,
// last, their weighted loss sum sum_i a_i loss_i (not divided by S). plan.tile_rows > 0.
void objective_evaluate(const ObjectiveArgs& a, const ObjectivePlan& plan, int part_count, double* out,
                        cudaStream_t stream);

// cudaSuccess when this binary has a kernel image the current device can run
// (cudaErrorNoKernelImageForDevice / cudaErrorInvalidDeviceFunction otherwise).
cudaError_t kernel_image_status();

}  // namespace logreg::kernels
