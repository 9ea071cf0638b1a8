// Inference with a trained model on the host (float32 parameters, double accumulation): the logits of IDX images
// and of feature matrices (what every engine's Engine::logits and Engine::feature_logits give, engine.hpp),
// class probabilities, and the evaluation report of `eval`, the confusion matrix and the full-batch runs' scores
// (loss, accuracy, confusion matrix, per-class precision/recall), written once over any engine's logits of
// either kind of rows, with its text table and JSON. Training and model files are elsewhere.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "logreg/backend.hpp"
#include "logreg/cpu_fast.hpp"
#include "logreg/dataset.hpp"
#include "logreg/engine.hpp"
#include "logreg/feature_data.hpp"
#include "logreg/model.hpp"
#include "logreg/thread_team.hpp"

namespace logreg {

// (N, C) row-major logits W x + b of every image, x = pixel_to_unit<float>(pixel); each dot product
// is summed in double over the pixels in order, each product rounded then added, and rounded to float once
// (cpu::reference_logit_rows, src/cpu/logit_rows.hpp, defines it; every SIMD level gives it bit for bit).
// On the shared thread team (thread_team.hpp), the widest SIMD level of the CPU. DataError when the image
// size is not the model's D.
std::vector<float> compute_logits(const Model& model, const ImageSet& images);
// The same on `team` with the loops of `simd` (kAuto: the widest; UsageError when the CPU lacks it).
std::vector<float> compute_logits(const Model& model, const ImageSet& images, CpuSimd simd, cpu::ThreadTeam& team);

// (N, C) row-major logits W x + b of every row of `x` (N = x.rows), in double: each logit is the bias plus the
// row's products summed in feature order (CSR rows over their nonzeros, dense rows through row_to_double), never
// rounded to float. Rows are computed alone, shared out on the shared thread team: the same doubles on any
// number of threads. DataError when x.cols is not the model's D.
std::vector<double> feature_logits(const Model& model, const FeatureMatrix& x);

// The class probabilities of one row of logits (C) under `head` (row_probabilities.hpp): softmax,
// softmax(sigmoid(z)), or independent per-class sigmoids for ovr (these do not sum to 1).
std::vector<double> class_probabilities(LossHead head, const float* logits, int C);

struct EvaluationReport {
  Totals totals;                      // loss_sum: row_loss_grad<double> of every row (scale 1); correct; count
  std::vector<std::int64_t> confusion;  // (C, C) row-major: row = true class, column = predicted class
  std::vector<double> precision;      // (C) confusion[c][c] / column c's sum; 0 when class c was never predicted
  std::vector<double> recall;         // (C) confusion[c][c] / row c's sum; 0 when class c never occurs
  int num_classes = 0;

  std::int64_t at(int true_class, int predicted) const {
    return confusion[static_cast<std::size_t>(true_class) * static_cast<std::size_t>(num_classes) +
                     static_cast<std::size_t>(predicted)];
  }
};

// Evaluates `model` on every labelled image; the prediction is row_argmax of the float logits (the
// same prediction `predict` prints). DataError when the image size is not the model's D, the label
// count differs from the image count, or a label is >= the model's C.
EvaluationReport evaluate_model(const Model& model, const ImageSet& images, const LabelSet& labels);
// The same report from `engine`'s logits (Engine::logits): what eval, the final confusion matrix of a run and the
// full-batch run's scores use. Same errors, and UsageError when the engine gives the wrong number of logits.
EvaluationReport evaluate_model(Engine& engine, const Model& model, const ImageSet& images, const LabelSet& labels);

// The same report for a feature matrix from `engine`'s Engine::feature_logits (double; the prediction is
// row_argmax of the doubles): what eval and the fit of `train --data FILE` print. DataError when x.cols is not
// the model's D or the labels are not one per row or not below the model's C; UsageError when the engine gives
// the wrong number of logits.
EvaluationReport evaluate_model(Engine& engine, const Model& model, const FeatureMatrix& x,
                                const std::vector<std::uint32_t>& y);

// The percentage of rows whose prediction (as evaluate_model's) is their label, without the loss and the
// confusion matrix: the test accuracy printed during a fit. Same errors as evaluate_model.
double accuracy_percent(const Model& model, const ImageSet& images, const LabelSet& labels);

// An aligned table: a header row of predicted classes, one row per true class ("true 0", ...) with its
// counts, precision and recall, and a totals line.
std::string format_confusion_matrix(const EvaluationReport& report);

// {"loss": mean loss per row, "loss_sum", "accuracy": fraction in [0, 1], "accuracy_percent", "correct",
//  "count", "num_classes", "confusion": [[...], ...] (row = true class), "precision": [...], "recall": [...]}
std::string evaluation_json(const EvaluationReport& report);

}  // namespace logreg
