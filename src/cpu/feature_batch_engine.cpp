// make_feature_batch_engine (feature_model.hpp): the FeatureObjective as a FullBatchEngine over batches of a
// feature matrix's rows, for synchronous SGD over MPI ranks. An adaptor only: each call copies the batch's rows,
// labels and weights out and evaluates a FeatureObjective of them; the loops are FeatureObjective's.
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "logreg/errors.hpp"
#include "logreg/feature_model.hpp"

namespace logreg {
namespace {

class FeatureBatchEngine final : public FullBatchEngine {
 public:
  FeatureBatchEngine(const FeatureMatrix& x, const std::vector<std::uint32_t>& y, LossHead head, int num_classes,
                     int parts, cpu::ThreadTeam* team, FeatureFitTerms terms)
      : x_(x), y_(y), head_(head), C_(num_classes), parts_(parts), team_(team), terms_(std::move(terms)) {}

  std::string name() const override {
    return team_ != nullptr && parts_ > 1
               ? "cpu (double, feature rows in fixed parts, " + std::to_string(team_->size()) + " threads)"
               : "cpu-reference (double, feature rows in fixed parts, each in row order)";
  }

  double full_batch_objective(const std::vector<std::uint32_t>& rows, const double* params, double l2,
                              double* grad) override {
    batch_y_.clear();
    batch_terms_.row_weights.clear();
    for (const std::uint32_t r : rows) {
      if (r >= x_.rows) {
        throw DataError(x_.path, "row " + std::to_string(r) + " is past the " + std::to_string(x_.rows) +
                                     " training rows");
      }
      batch_y_.push_back(y_[r]);
      if (!terms_.row_weights.empty()) batch_terms_.row_weights.push_back(terms_.row_weights[r]);
    }
    batch_terms_.weight_total = static_cast<double>(rows.size());
    batch_terms_.intercept = terms_.intercept;
    batch_x_ = x_.copy_rows(rows);
    FeatureObjective objective(batch_x_, batch_y_, head_, C_, parts_, team_, batch_terms_);
    const double f = objective(params, l2, grad);  // reads and writes the first parameter_count() values
    std::fill(grad + objective.parameter_count(), grad + x_.cols * static_cast<std::size_t>(C_) + C_, 0.0);
    return f;
  }

 private:
  const FeatureMatrix& x_;
  const std::vector<std::uint32_t>& y_;
  LossHead head_;
  int C_;
  int parts_;
  cpu::ThreadTeam* team_;
  FeatureFitTerms terms_;               // every row's a_i (or none) and the intercept
  FeatureMatrix batch_x_;               // (B, D) the step's rows
  std::vector<std::uint32_t> batch_y_;  // (B)
  FeatureFitTerms batch_terms_;         // (B) their a_i, S = B
};

}  // namespace

std::unique_ptr<FullBatchEngine> make_feature_batch_engine(const FeatureMatrix& x, const std::vector<std::uint32_t>& y,
                                                           LossHead head, int num_classes, int parts,
                                                           cpu::ThreadTeam* team, FeatureFitTerms terms) {
  return std::make_unique<FeatureBatchEngine>(x, y, head, num_classes, parts, team, std::move(terms));
}

}  // namespace logreg
