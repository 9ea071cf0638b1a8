// The SGD backends over a feature file's rows (`train --data FILE --solver sgd`): the dense float32 rows they
// step over (made from a feature matrix within --max-bytes) and the factories of the reference and cpu engines
// that train on them with per-row weights and an optional intercept. Rows of uint8 features without weights train
// on the IDX pixel backends instead (pixel_rows_of): the same maths as an IDX image set, the same model bytes.
// Not here: the run loop (training.hpp), the CLI path (src/cli/cmd_train_features_sgd.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "logreg/backend.hpp"
#include "logreg/dataset.hpp"
#include "logreg/feature_data.hpp"
#include "logreg/feature_model.hpp"
#include "logreg/maths/sgd_math.hpp"

namespace logreg {

// A feature file's training rows as SGD reads them: x (count, dim) float32 row-major (uint8 scaled by 1/255,
// float64 rounded to float32, CSR zeros filled in), the class index of each row, and FeatureFitTerms
// (per-row weights a_i, the intercept).
struct FeatureRows {
  std::string path;
  std::size_t count = 0;
  std::size_t dim = 0;
  std::vector<float> x;           // (count, dim)
  LabelSet labels;                // (count) class indices, < kFeatureMaxClasses
  FeatureFitTerms terms;          // row_weights (count) or empty for all 1; intercept

  const float* row(std::size_t i) const { return x.data() + i * dim; }
  double weight(std::size_t i) const { return terms.row_weights.empty() ? 1.0 : terms.row_weights[i]; }
};

// The bytes of a matrix's dense float32 form: rows * cols * 4.
std::uint64_t dense_float_bytes(const FeatureMatrix& x);

// The rows of `x` (labels y, class indices) as FeatureRows. UsageError when the dense form is over `max_bytes`,
// naming the file, the rows x features, the bytes and --max-bytes.
FeatureRows dense_float_rows(const FeatureMatrix& x, const std::vector<std::uint32_t>& y, FeatureFitTerms terms,
                             std::uint64_t max_bytes);

// A dense uint8 matrix and its labels as an IDX image set of 1 x cols images (what the pixel backends train on).
// std::invalid_argument for another matrix; DataError when cols or rows do not fit an IDX set.
void pixel_rows_of(const FeatureMatrix& x, const std::vector<std::uint32_t>& y, ImageSet* images, LabelSet* labels);

// The reference's SGD engine over `rows` (reference_sgd_step: double sums, in row order) and the cpu engine
// (float32 sums, the step bodies of step_bodies.hpp, the thread team's rows). `rows` must outlive the engine;
// without an intercept the bias is set to 0 and never updated. `velocity`: a resumed run's momentum state (C*D + C),
// or empty for zeros. DataError as check_set_fits_model, or for a velocity of another size.
std::unique_ptr<TrainerBackend> make_reference_feature_backend(const FeatureRows& rows, const Model& initial,
                                                               const OptimizerConfig& optimizer,
                                                               const std::vector<float>& velocity = {});
std::unique_ptr<TrainerBackend> make_cpu_feature_backend(const FeatureRows& rows, const Model& initial,
                                                         const OptimizerConfig& optimizer,
                                                         const std::vector<float>& velocity = {});

}  // namespace logreg
