// check_set_fits_model: the shape and label check the CPU backends share (backend.hpp); the engines' default
// inference, the host's (engine.hpp); the default full_batch_hessian_vector and set_model (none).
#include "logreg/backend.hpp"

#include <string>

#include "logreg/engine.hpp"
#include "logreg/errors.hpp"
#include "logreg/evaluation.hpp"

namespace logreg {

void check_set_fits_model(const Model& m, const ImageSet& images, const LabelSet& labels) {
  if (images.dim() != static_cast<std::size_t>(m.input_dim)) {
    throw DataError(images.path, "images have " + std::to_string(images.dim()) + " pixels, the model expects " +
                                     std::to_string(m.input_dim));
  }
  if (labels.count() != images.count) {
    throw DataError(labels.path, std::to_string(labels.count()) + " labels for " + std::to_string(images.count) +
                                     " images");
  }
  for (std::size_t i = 0; i < labels.count(); ++i) {
    if (labels.labels[i] >= m.num_classes) {
      throw DataError(labels.path, "label " + std::to_string(labels.labels[i]) + " at row " + std::to_string(i) +
                                       " is not below the model's " + std::to_string(m.num_classes) + " classes");
    }
  }
}

void TrainerBackend::set_model(const Model& /*m*/) {
  throw UsageError(name() + " cannot take parameters from outside (local SGD over MPI ranks runs on --device cpu, "
                   "reference or cuda)");
}

std::vector<float> Engine::logits(const Model& model, const ImageSet& images) { return compute_logits(model, images); }

double Engine::accuracy_percent(const Model& model, const ImageSet& images, const LabelSet& labels) {
  return logreg::accuracy_percent(model, images, labels);
}

std::vector<double> Engine::feature_logits(const Model& model, const FeatureMatrix& x) {
  return logreg::feature_logits(model, x);
}

void FullBatchEngine::full_batch_hessian_vector(const std::vector<std::uint32_t>& /*rows*/, const double* /*params*/,
                                                double /*l2*/, const double* /*v*/, double* /*hv*/) {
  throw UsageError("--solver newton-cg runs on --device cpu or reference (the " + name() + " engine has no "
                   "Hessian-vector product)");
}

}  // namespace logreg
