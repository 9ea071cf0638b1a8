// A CPU model of the cluster epoch kernel (kernels/cluster_epoch.cu): the same sums in the same order, so the
// kernel on the emulated device must give these floats bit for bit. It shares the per-row and per-parameter
// maths (loss_grad_row, sgd_param_step, pixel_to_unit) and writes out only the kernel's summation order:
//   partial logit of rank r = fmaf chain over its S pixels in order; logit = partials added in rank order,
//   then the bias (inside loss_grad_row); loss sum = 32 lanes over rows (lane l: rows l, l + 32, ...) then
//   an xor butterfly; db = rows in order (double); dW = fmaf chain over rows in order.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "logreg/maths/row_math.hpp"
#include "logreg/maths/sgd_math.hpp"
#include "logreg/maths/step_bodies.hpp"

namespace logreg::test {

struct ClusterModelTotals {
  double loss_sum = 0.0;
  unsigned long long correct = 0;
  double last_batch_loss_sum = 0.0;
};

// The warp's xor butterfly of __shfl_xor_sync: at each offset every lane adds its partner's value to its own.
inline double butterfly_sum(std::vector<double> lanes) {
  for (int offset = 16; offset > 0; offset /= 2) {
    std::vector<double> next(32);
    for (int l = 0; l < 32; ++l) next[l] = lanes[l] + lanes[l ^ offset];
    lanes = next;
  }
  return lanes[0];
}

// The loss step of a batch as the one-launch kernels run it: loss_grad_row on each of the `rows` rows (z gets the
// bias, dz the gradient scaled by 1/rows), then the batch's loss sum in the warp's order (lanes over rows, the
// butterfly) and its correct count into `totals`.
inline void model_loss_rows(LossHead head, int rows, int C, const float* b, const std::uint8_t* y, std::vector<float>& z,
                            std::vector<float>& dz, ClusterModelTotals& totals) {
  const float scale = 1.0f / static_cast<float>(rows);
  std::vector<double> lanes(32, 0.0);
  unsigned long long batch_correct = 0;
  for (int i = 0; i < rows; ++i) {
    const kernels::RowOutcome o = kernels::loss_grad_row(i, head, z.data(), b, y, C, scale, z.data(), dz.data());
    lanes[i % 32] += static_cast<double>(o.loss);
    batch_correct += static_cast<unsigned long long>(o.correct);
  }
  const double batch_loss = butterfly_sum(lanes);
  totals.loss_sum += batch_loss;
  totals.correct += batch_correct;
  totals.last_batch_loss_sum = batch_loss;
}

// One epoch over `order` in batches of `batch` rows with `ranks` blocks, as the kernel runs it: updates params
// (C*D weights then C biases) and velocity (same layout; empty without momentum) in place and returns the
// epoch's totals.
inline ClusterModelTotals cluster_epoch_model(const std::uint8_t* pixels,  // (N, D) uint8 row-major
                                              const std::uint8_t* labels,  // (N)
                                              const std::vector<std::uint32_t>& order, int batch, int dim,
                                              int classes, int ranks, LossHead head,
                                              const kernels::SgdStepParams& p, float lr, std::vector<float>& params,
                                              std::vector<float>& velocity) {
  const int C = classes;
  const int D = dim;
  const int S = D / ranks;
  const bool momentum = !velocity.empty();
  const std::size_t weights = static_cast<std::size_t>(C) * D;
  float* w = params.data();
  float* b = params.data() + weights;
  float* v = momentum ? velocity.data() : nullptr;
  float* vb = momentum ? velocity.data() + weights : nullptr;
  ClusterModelTotals totals;
  std::vector<float> z(static_cast<std::size_t>(batch) * C);
  std::vector<float> dz(static_cast<std::size_t>(batch) * C);
  std::vector<std::uint8_t> y(static_cast<std::size_t>(batch));
  for (std::size_t first = 0; first < order.size(); first += static_cast<std::size_t>(batch)) {
    const int rows = static_cast<int>(std::min(order.size() - first, static_cast<std::size_t>(batch)));
    auto x = [&](int i, int d) { return pixel_to_unit<float>(pixels[static_cast<std::size_t>(order[first + i]) * D + d]); };
    for (int i = 0; i < rows; ++i) y[i] = labels[order[first + i]];
    // Forward: each rank's partial, then the partials in rank order.
    for (int i = 0; i < rows; ++i) {
      for (int c = 0; c < C; ++c) {
        float sum = 0.0f;
        for (int r = 0; r < ranks; ++r) {
          float acc = 0.0f;
          for (int j = 0; j < S; ++j) acc = std::fmaf(x(i, r * S + j), w[static_cast<std::size_t>(c) * D + r * S + j], acc);
          sum = r == 0 ? acc : sum + acc;
        }
        z[static_cast<std::size_t>(i) * C + c] = sum;
      }
    }
    model_loss_rows(head, rows, C, b, y.data(), z, dz, totals);
    // Bias: rows in order, in double.
    for (int c = 0; c < C; ++c) {
      double db = 0.0;
      for (int i = 0; i < rows; ++i) db += static_cast<double>(dz[static_cast<std::size_t>(i) * C + c]);
      b[c] = sgd_param_step<float>(b[c], static_cast<float>(db), momentum ? vb + c : nullptr, lr, p.momentum, 0.0f,
                                   p.nesterov);
    }
    // W: an fmaf chain over the rows in order, then the update.
    for (int c = 0; c < C; ++c) {
      for (int d = 0; d < D; ++d) {
        float g = 0.0f;
        for (int i = 0; i < rows; ++i) g = std::fmaf(dz[static_cast<std::size_t>(i) * C + c], x(i, d), g);
        const std::size_t k = static_cast<std::size_t>(c) * D + d;
        w[k] = sgd_param_step<float>(w[k], g, momentum ? v + k : nullptr, lr, p.momentum, p.weight_decay, p.nesterov);
      }
    }
  }
  return totals;
}

}  // namespace logreg::test
