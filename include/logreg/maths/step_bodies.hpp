// The bodies of the CUDA training-step kernels as __host__ __device__ per-element / per-row functions.
// The kernels in kernels/*.cu only compute an index, check bounds and reduce; the CPU tests call these
// very functions in a loop over every index. No CUDA headers, no launches, no loops over rows here; the launch
// sizes are in launch_sizes.hpp, the device step state a step graph replays with in step_state.hpp.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "logreg/maths/row_math.hpp"
#include "logreg/maths/sgd_math.hpp"

namespace logreg::kernels {

// Labels are uint8, so at most 256 classes (the loss kernel's bias reduction relies on C <= kLossThreads,
// launch_sizes.hpp).
constexpr int kMaxClasses = 256;

struct RowOutcome {
  float loss;   // loss of the row (not scaled)
  int correct;  // 1 when argmax(z) == label
};

// ToTensor() of one element: out[k] = in[k] / 255.
LOGREG_HD inline void convert_pixel_element(std::size_t k,
                                            const std::uint8_t* in,  // (n) pixels
                                            float* out) {            // (n) in [0, 1]
  out[k] = pixel_to_unit<float>(in[k]);
}

// The value an element of the training set has in a batch: a pixel / 255 (ToTensor()); a float32 feature as it is.
LOGREG_HD inline float batch_value(std::uint8_t pixel) { return pixel_to_unit<float>(pixel); }
LOGREG_HD inline float batch_value(float feature) { return feature; }

// The device-resident data paths' gather of one batch element, for k < rows * D:
//   x[k] = batch_value(set[order[start + i] * D + d]) with i = k / D, d = k % D  (row i of the batch is row
//   order[start + i] of the training set), and for k < rows also the label y[k] = labels[order[start + k]] and,
//   when `weights` is given, the row weight w[k] = weights[order[start + k]].
// T = uint8: the pixel path (the same values gather_batch (src/cuda/batch_ring.hpp) + convert_pixel_element give
// on the streamed path); T = float: a feature file's float32 rows (no conversion). Indices k >= rows * D write
// nothing. Every order[start + i] must be < N (the host checks).
// (`start` is DeviceStepState::start, step_state.hpp, read on the device.)
template <class T>
LOGREG_HD inline void gather_convert_element(std::size_t k,
                                             const T* set,                // (N, D) the training set, row-major
                                             const std::uint8_t* labels,  // (N)
                                             const std::uint32_t* order,  // (>= start + rows) rows of the set
                                             std::size_t start,           // position of the batch in order
                                             std::size_t rows,            // B
                                             std::size_t dim,             // D
                                             float* x,                    // (B, D) row-major
                                             std::uint8_t* y,             // (B)
                                             const double* weights = nullptr,  // (N) row weights, or nullptr
                                             double* w = nullptr) {            // (B) when weights is given
  if (k >= rows * dim) return;
  const std::size_t i = k / dim;
  const std::size_t d = k - i * dim;
  x[k] = batch_value(set[static_cast<std::size_t>(order[start + i]) * dim + d]);
  if (k < rows) {
    y[k] = labels[order[start + k]];
    if (weights != nullptr) w[k] = weights[order[start + k]];
  }
}

// The feature engines' weighted batch mean (1/B) sum_i a_i loss_i (reference_sgd_step's definition; the
// weights are not normalised by their sum): row i's loss counts a_i times in the batch's loss sum, and its
// dloss/dz is scaled by a_i / B, computed in double and rounded once to float.
LOGREG_HD inline float weighted_row_scale(double weight, int batch) {
  return static_cast<float>(weight / static_cast<double>(batch));
}

// Row i of the fused bias + loss + dloss/dz step:
//   z_out[i, :] = logits[i, :] + bias;  dz[i, :] = scale * dloss/dz (skipped when dz == nullptr).
// z_out may alias logits (each element is read before it is written). The loss is then taken over the
// z_out row itself rather than a local copy: a local float[kMaxClasses] costs every thread a 1 KiB
// stack frame in local memory, and ptxas spilled registers around it.
LOGREG_HD inline RowOutcome loss_grad_row(int i,
                                          LossHead head,
                                          const float* logits,         // (B, C) X·Wᵀ without bias, row-major
                                          const float* bias,           // (C)
                                          const std::uint8_t* labels,  // (B) in [0, C)
                                          int C,
                                          float scale,                 // 1/B for the batch mean
                                          float* z_out,                // (B, C) logits with bias, row-major
                                          float* dz) {                 // (B, C) row-major, or nullptr
  const std::size_t row = static_cast<std::size_t>(i) * static_cast<std::size_t>(C);
  for (int c = 0; c < C; ++c) z_out[row + c] = logits[row + c] + bias[c];
  const float* z = z_out + row;
  const int label = labels[i];
  RowOutcome out;
  out.loss = row_loss_grad<float>(head, z, C, label, scale, dz == nullptr ? nullptr : dz + row);
  out.correct = row_argmax(z, C) == label ? 1 : 0;
  return out;
}

// Bias gradient db[c] = sum_i dz[i, c] in a fixed order, in two stages so `threads` threads share it:
// thread t < groups * C sums class t % C over rows t / C, t / C + groups, ...; then class c adds the
// partials of groups 0, 1, ..., groups - 1 in that order.
LOGREG_HD inline int bias_grad_groups(int threads, int C) { return threads / C; }  // >= 1 for C <= threads

LOGREG_HD inline double bias_grad_partial(int t,
                                          const float* dz,  // (B, C) row-major
                                          int B,
                                          int C,
                                          int groups) {
  const int c = t % C;
  double s = 0.0;
  for (int i = t / C; i < B; i += groups) s += static_cast<double>(dz[static_cast<std::size_t>(i) * C + c]);
  return s;
}

LOGREG_HD inline float bias_grad_combine(int c,
                                         const double* partials,  // (groups, C) row-major
                                         int C,
                                         int groups) {
  double s = 0.0;
  for (int g = 0; g < groups; ++g) s += partials[g * C + c];
  return static_cast<float>(s);
}

// The scalars of one SGD update launch (PyTorch's SGD: momentum, Nesterov, L2 decay on the weights only).
struct SgdStepParams {
  float lr = 0.0f;
  float momentum = 0.0f;
  float weight_decay = 0.0f;
  bool nesterov = false;
  std::size_t n_weights = 0;  // C*D: parameters [0, n_weights) are weights, the rest biases
  std::size_t n = 0;          // C*D + C
};

// SGD of parameter j through sgd_param_step (sgd_math.hpp), the formula the CPU reference uses too.
LOGREG_HD inline void sgd_update_element(std::size_t j,
                                         float* w,          // (n) parameters: C*D weights, then C biases
                                         const float* dw,   // (n) gradients, same layout
                                         float* velocity,   // (n) momentum buffers, or nullptr without momentum
                                         const SgdStepParams& p) {
  if (j >= p.n) return;
  const float decay = j < p.n_weights ? p.weight_decay : 0.0f;
  w[j] = sgd_param_step<float>(w[j], dw[j], velocity == nullptr ? nullptr : velocity + j, p.lr, p.momentum, decay,
                               p.nesterov);
}

}  // namespace logreg::kernels
