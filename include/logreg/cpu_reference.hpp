// The CPU reference backend: straightforward loops, float32 parameters, every sum in double.
// It is what the CUDA backend is tested against; speed is not its job.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "logreg/backend.hpp"
#include "logreg/engine.hpp"
#include "logreg/maths/sgd_math.hpp"
#include "logreg/part_sums.hpp"

namespace logreg {

// `train_images`/`train_labels` must outlive the backend. `velocity` (C*D + C, or empty for zeros)
// continues a saved momentum state.
std::unique_ptr<TrainerBackend> make_cpu_reference_backend(const ImageSet& train_images,
                                                           const LabelSet& train_labels,
                                                           const Model& initial,
                                                           const OptimizerConfig& optimizer = {},
                                                           const std::vector<float>& velocity = {});

// The reference's full-batch engine (no SGD state): reference_full_batch_objective and
// reference_full_batch_hessian_vector below over the training set, for a model of `shape`'s head and classes
// (its parameters are not used). The sets must outlive it; DataError as check_set_fits_model.
std::unique_ptr<FullBatchEngine> make_cpu_reference_full_batch_engine(const ImageSet& train_images,
                                                                      const LabelSet& train_labels, const Model& shape);

// One SGD step of the reference on explicit rows, exposed for tests:
//   x: (B, D) row-major inputs in [0,1]; labels: (B); model updated in place.
//   logits_out (B, C), dz_out (B, C), dw_out (C, D), db_out (C) receive the intermediates when non-null.
// The update is sgd_param_step (sgd_math.hpp) with `optimizer`; velocity (C*D + C) is needed when
// optimizer.momentum != 0. Returns the summed loss and correct count of the batch before the update.
Totals reference_sgd_step(Model& model, const float* x, const std::uint8_t* labels, int batch, float lr,
                          double* logits_out = nullptr, double* dz_out = nullptr,
                          double* dw_out = nullptr, double* db_out = nullptr,
                          const OptimizerConfig& optimizer = {}, float* velocity = nullptr);

// The reference's full-batch objective (FullBatchEngine::full_batch_objective, maths/objective_math.hpp) of a
// Linear(D -> C) model with `head` over rows `rows` of images/labels, x = pixel_to_unit<double>, every sum in
// double: the rows cut into the fixed parts of maths/row_parts.hpp, each part's rows summed in row order into
// the part's own sums, the parts added in part order (part_sums.hpp). params (C*D + C) W then b, grad
// (C*D + C). Returns f. `share`: the parts this process computes and the exchange of the others' (all parts
// in one process by default; the engine passes ranks::part_share(), so that MPI ranks split the rows); every
// row and label is checked whichever parts are computed here, and only the computed parts' pixels are read.
double reference_full_batch_objective(const ImageSet& images, const LabelSet& labels,
                                      const std::vector<std::uint32_t>& rows, LossHead head, int num_classes,
                                      const double* params, double l2, double* grad, const PartShare& share = {});

// The reference's Hessian-vector product of that objective (FullBatchEngine::full_batch_hessian_vector), softmax
// head only (UsageError otherwise): per row, in double, p from objective_row_probs at params, u = V x + v_b and
// hessian_row (maths/objective_math.hpp), the rows in the same parts (each in row order, the parts added in part
// order); then the penalty's l2 v. v, hv: (C*D + C). `share` as above.
void reference_full_batch_hessian_vector(const ImageSet& images, const LabelSet& labels,
                                         const std::vector<std::uint32_t>& rows, LossHead head, int num_classes,
                                         const double* params, double l2, const double* v, double* hv,
                                         const PartShare& share = {});

}  // namespace logreg
