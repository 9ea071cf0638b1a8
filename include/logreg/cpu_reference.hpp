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
//   x: (B, D) row-major inputs (pixels in [0,1], or feature rows); labels: (B); model updated in place.
//   logits_out (B, C), dz_out (B, C), dw_out (C, D), db_out (C) receive the intermediates when non-null.
//   row_weights (B): row i's loss and gradient are multiplied by row_weights[i] (nullptr: all 1), so the step
//   descends sum_i a_i loss_i / B; without fit_intercept the bias is left as it is (the feature path keeps it 0).
// The update is sgd_param_step (sgd_math.hpp) with `optimizer`; velocity (C*D + C) is needed when
// optimizer.momentum != 0. Returns the summed loss (sum_i a_i loss_i) and correct count of the batch before the
// update.
Totals reference_sgd_step(Model& model, const float* x, const std::uint8_t* labels, int batch, float lr,
                          double* logits_out = nullptr, double* dz_out = nullptr,
                          double* dw_out = nullptr, double* db_out = nullptr,
                          const OptimizerConfig& optimizer = {}, float* velocity = nullptr,
                          const double* row_weights = nullptr, bool fit_intercept = true);

// Loss (scale 1, summed) and correct predictions of `model` on a labelled image set, in double and row order: the
// reference's TrainerBackend::evaluate. DataError as check_set_fits_model.
Totals reference_evaluate(const Model& model, const ImageSet& images, const LabelSet& labels);

struct FeatureRows;
// DataError naming rows.path when the rows do not have the model's D features, one label and (when given) one
// weight per row, or a label is not below the model's C.
void check_feature_rows_fit_model(const Model& m, const FeatureRows& rows);

// reference_sgd_step's update: sgd_param_step on every parameter with the gradients dw (C, D) and db (C), in
// double, rounded to float (no weight decay on the bias; without fit_intercept the bias is left as it is);
// velocity (C*D + C) is needed when optimizer.momentum != 0. Also the update of synchronous SGD over ranks
// (rank_sgd.hpp).
void reference_sgd_update(Model& model, const double* dw, const double* db, float lr, const OptimizerConfig& optimizer,
                          float* velocity, bool fit_intercept = true);

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
