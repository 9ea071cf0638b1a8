// The check every export encoder runs before writing anything (src/export/). Internal to src/export.
#pragma once

#include "logreg/model_file.hpp"

namespace logreg::export_detail {

// std::invalid_argument unless the model has C >= 1 classes, D >= 1 inputs, rows * cols == D,
// C * D weights and C biases.
void check_exportable(const ModelFile& mf);

}  // namespace logreg::export_detail
