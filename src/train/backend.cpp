// check_set_fits_model: the shape check the CPU backends share (backend.hpp).
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
}

}  // namespace logreg
