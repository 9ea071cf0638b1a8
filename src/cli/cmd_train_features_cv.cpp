// cross_validate_features (cmd_train_features_cv.hpp): each fold's rows copied out of the feature matrix
// (FeatureMatrix::copy_rows) and fitted by their own FeatureObjective.
#include "cmd_train_features_cv.hpp"

#include <memory>
#include <string>
#include <utility>

#include "logreg/backend_factory.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/feature_model.hpp"
#include "logreg/fit_weights.hpp"
#include "logreg/lbfgs_run.hpp"

namespace logreg::cli {
namespace {

// One fold: its fitted rows and held-out rows as matrices, and the objective over the fitted ones.
struct FeatureFold {
  FeatureMatrix fit_x;
  std::vector<std::uint32_t> fit_y;
  FeatureMatrix held_x;
  std::vector<std::uint32_t> held_y;
  std::unique_ptr<FeatureObjective> objective;  // refers to fit_x and fit_y: the fold never moves once made
};

}  // namespace

CvResult cross_validate_features(const RunSettings& o, const FeatureData& d, const std::vector<double>& cs,
                                 const Model& shape, const CvObjectiveTerms& terms,
                                 const std::function<bool()>& stop_requested) {
  const std::vector<int> fold_of = stratified_folds(d.train_y, o.cv);
  std::vector<std::unique_ptr<FeatureFold>> folds;
  for (int k = 0; k < o.cv; ++k) {
    auto fold = std::make_unique<FeatureFold>();
    const std::vector<std::uint32_t> fit_rows = fold_rows(fold_of, k, false);
    const std::vector<std::uint32_t> held_rows = fold_rows(fold_of, k, true);
    fold->fit_x = d.train_x.copy_rows(fit_rows);
    fold->held_x = d.train_x.copy_rows(held_rows);
    for (const std::uint32_t r : fit_rows) fold->fit_y.push_back(d.train_y[r]);
    for (const std::uint32_t r : held_rows) fold->held_y.push_back(d.train_y[r]);
    std::vector<double> fit_weights;
    if (!terms.sample_weights.empty()) {
      for (const std::uint32_t r : fit_rows) fit_weights.push_back(terms.sample_weights[r]);
    }
    fold->objective = std::make_unique<FeatureObjective>(
        fold->fit_x, fold->fit_y, o.loss, shape.num_classes, terms.parts, terms.team,
        fit_terms_of(fit_weights, terms.class_weights, fold->fit_y, !o.no_intercept,
                     "--cv fold " + std::to_string(k + 1) + " of " + *o.data),
        terms.device);
    folds.push_back(std::move(fold));
  }
  LbfgsConfig base;
  base.tol = o.tol;
  base.max_iter = o.max_iter;
  base.memory = o.lbfgs_memory;
  const double l1_ratio = l1_ratio_of(o.penalty, o.l1_ratio);
  CvFits fits;
  fits.fit = [&](int k, double C, std::vector<double> x0) {
    FeatureFold& fold = *folds[static_cast<std::size_t>(k)];
    double l2 = 0.0;
    LbfgsConfig config = penalised_config(base, C, fold.objective->weight_total(), l1_ratio, shape.weights.size(), &l2);
    config.dense_rows = terms.device ? 0.0 : fold.objective->dense_rows();  // on the GPU: lbfgs_memory's fixed rule
    return minimize_lbfgs([&](const double* x, double* g) { return (*fold.objective)(x, l2, g); }, std::move(x0),
                          config, [&](const LbfgsIteration&) { return !(stop_requested && stop_requested()); });
  };
  const std::unique_ptr<Engine> inference = make_inference_engine();
  fits.score = [&](int k, std::vector<double> x) {
    const FeatureFold& fold = *folds[static_cast<std::size_t>(k)];
    x.resize(shape.weights.size() + shape.bias.size(), 0.0);  // the bias, 0, under --no-intercept
    return fold_score_of(evaluate_model(*inference, model_of(x, shape), fold.held_x, fold.held_y).totals);
  };
  std::vector<double> start = params_of(shape);
  start.resize(folds.front()->objective->parameter_count());
  return cross_validate(o.cv, cs, std::move(start), fits);
}

}  // namespace logreg::cli
