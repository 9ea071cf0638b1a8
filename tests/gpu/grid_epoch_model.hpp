// A CPU model of the grid epoch kernel (kernels/grid_epoch.cu): the same sums in the same order, so the kernel
// on the emulated device must give these floats bit for bit, whatever the number of blocks. It shares the
// per-row and per-parameter maths (loss_grad_row, sgd_param_step, pixel_to_unit), the chunk size
// (grid_epoch_chunk_rows) and the loss rows in the warp's order (model_loss_rows, cluster_epoch_model.hpp), and
// writes out only the rest of the order:
//   logit = fmaf chain over the D pixels in order, then the bias (inside loss_grad_row); per chunk of
//   grid_epoch_chunk_rows(B) rows: dW = fmaf chain over its rows in order, db = float sum over them in order;
//   gradient = the chunks' partials added in chunk order (float); loss sum = 32 lanes over the batch's rows
//   (lane l: rows l, l + 32, ...) then the xor butterfly.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cluster_epoch_model.hpp"
#include "grid_epoch.hpp"
#include "logreg/maths/row_math.hpp"
#include "logreg/maths/sgd_math.hpp"
#include "logreg/maths/step_bodies.hpp"

namespace logreg::test {

// One epoch over `order` in batches of `batch` rows, as the kernel runs it: updates params (C*D weights then C
// biases) and velocity (same layout; empty without momentum) in place and returns the epoch's totals.
inline ClusterModelTotals grid_epoch_model(const std::uint8_t* pixels,  // (N, D) uint8 row-major
                                           const std::uint8_t* labels,  // (N)
                                           const std::vector<std::uint32_t>& order, int batch, int dim, int classes,
                                           LossHead head, const kernels::SgdStepParams& p, float lr,
                                           std::vector<float>& params, std::vector<float>& velocity) {
  const int C = classes;
  const int D = dim;
  const int chunk_rows = kernels::grid_epoch_chunk_rows(batch);
  const bool momentum = !velocity.empty();
  const std::size_t weights = static_cast<std::size_t>(C) * D;
  const std::size_t P = weights + static_cast<std::size_t>(C);
  ClusterModelTotals totals;
  std::vector<float> z(static_cast<std::size_t>(batch) * C);
  std::vector<float> dz(static_cast<std::size_t>(batch) * C);
  std::vector<std::uint8_t> y(static_cast<std::size_t>(batch));
  std::vector<float> grad(P);
  for (std::size_t first = 0; first < order.size(); first += static_cast<std::size_t>(batch)) {
    const int rows = static_cast<int>(std::min(order.size() - first, static_cast<std::size_t>(batch)));
    auto x = [&](int i, int d) { return pixel_to_unit<float>(pixels[static_cast<std::size_t>(order[first + i]) * D + d]); };
    for (int i = 0; i < rows; ++i) y[i] = labels[order[first + i]];
    const float* w = params.data();
    const float* b = params.data() + weights;
    for (int i = 0; i < rows; ++i) {
      for (int c = 0; c < C; ++c) {
        float acc = 0.0f;
        for (int d = 0; d < D; ++d) acc = std::fmaf(x(i, d), w[static_cast<std::size_t>(c) * D + d], acc);
        z[static_cast<std::size_t>(i) * C + c] = acc;
      }
    }
    model_loss_rows(head, rows, C, b, y.data(), z, dz, totals);
    // The chunks' partials, added in chunk order as they are made.
    for (int c_first = 0; c_first < rows; c_first += chunk_rows) {
      const int c_end = std::min(rows, c_first + chunk_rows);
      for (int c = 0; c < C; ++c) {
        for (int d = 0; d < D; ++d) {
          float g = 0.0f;
          for (int i = c_first; i < c_end; ++i) g = std::fmaf(dz[static_cast<std::size_t>(i) * C + c], x(i, d), g);
          const std::size_t k = static_cast<std::size_t>(c) * D + d;
          grad[k] = c_first == 0 ? g : grad[k] + g;
        }
        float db = 0.0f;
        for (int i = c_first; i < c_end; ++i) db += dz[static_cast<std::size_t>(i) * C + c];
        grad[weights + c] = c_first == 0 ? db : grad[weights + c] + db;
      }
    }
    for (std::size_t k = 0; k < P; ++k) {
      const float decay = k < weights ? p.weight_decay : 0.0f;
      params[k] = sgd_param_step<float>(params[k], grad[k], momentum ? velocity.data() + k : nullptr, lr, p.momentum,
                                        decay, p.nesterov);
    }
  }
  return totals;
}

}  // namespace logreg::test
