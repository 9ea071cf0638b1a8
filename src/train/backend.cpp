// check_set_fits_model: the shape and label check the CPU backends share (backend.hpp), and the default
// full_batch_objective and full_batch_hessian_vector (none).
#include "logreg/backend.hpp"

#include <string>

#include "logreg/errors.hpp"

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

double TrainerBackend::full_batch_objective(const std::vector<std::uint32_t>& /*rows*/, const double* /*params*/,
                                            double /*l2*/, double* /*grad*/) {
  throw UsageError("the " + name() + " backend has no full-batch objective (--solver lbfgs)");
}

void TrainerBackend::full_batch_hessian_vector(const std::vector<std::uint32_t>& /*rows*/, const double* /*params*/,
                                               double /*l2*/, const double* /*v*/, double* /*hv*/) {
  throw UsageError("--solver newton-cg runs on --device cpu or reference (the " + name() + " backend has no "
                   "Hessian-vector product)");
}

}  // namespace logreg
