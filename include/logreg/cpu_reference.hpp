// The CPU reference backend: straightforward loops, float32 parameters, every sum in double.
// It is what the CUDA backend is tested against; speed is not its job.
#pragma once

#include <memory>

#include "logreg/backend.hpp"

namespace logreg {

// `train_images`/`train_labels` must outlive the backend.
std::unique_ptr<TrainerBackend> make_cpu_reference_backend(const ImageSet& train_images,
                                                           const LabelSet& train_labels,
                                                           const Model& initial);

// One SGD step of the reference on explicit rows, exposed for tests:
//   x: (B, D) row-major inputs in [0,1]; labels: (B); model updated in place.
//   logits_out (B, C), dz_out (B, C), dw_out (C, D), db_out (C) receive the intermediates when non-null.
// Returns the summed loss and correct count of the batch before the update.
Totals reference_sgd_step(Model& model, const float* x, const std::uint8_t* labels, int batch, float lr,
                          double* logits_out = nullptr, double* dz_out = nullptr,
                          double* dw_out = nullptr, double* db_out = nullptr);

}  // namespace logreg
