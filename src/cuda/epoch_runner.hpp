// EpochRunner: one SGD epoch of the CUDA backend as the epoch plan says (epoch_plan.hpp): the whole epoch in
// one launch over the set on the device, or step by step over the batches an input path supplies
// (batch_source.hpp), the full batches replayed as one captured step graph (step_graph.hpp) where the input
// path allows it. The partial last batch always runs uncaptured.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "batch_source.hpp"
#include "device_step.hpp"
#include "logreg/backend.hpp"
#include "logreg/cuda_backend.hpp"
#include "step_graph.hpp"

namespace logreg::cuda {

class EpochRunner {
 public:
  // `kernel`: the --kernel choice; `graphs`: replay a captured step; `shared_optin`: the device's
  // sharedMemPerBlockOptin, which bounds the one-launch kernels.
  EpochRunner(CudaKernel kernel, bool graphs, std::size_t shared_optin)
      : kernel_(kernel), shared_optin_(shared_optin), graph_(graphs) {}

  // One epoch over `order` (rows of the set, checked by the caller) in batches of `batch_size` from `source`,
  // each an SGD step of `step`. Returns the rows of the last batch. Throws UsageError, before anything is
  // enqueued, when the chosen kernel cannot run this batch size.
  int train_epoch(const std::vector<std::uint32_t>& order, int batch_size, DeviceStep& step, BatchSource& source);

  CudaKernel kernel() const { return kernel_; }
  bool graphs() const { return graph_.enabled(); }
  const std::string& graph_failure() const { return graph_.failure(); }

 private:
  CudaKernel kernel_;
  std::size_t shared_optin_;
  StepGraph graph_;
};

// Throws when a row of `order` is outside a set of `rows` images (before any step is taken).
void check_order(const std::vector<std::uint32_t>& order, std::size_t rows);

// An SGD engine's train_epoch over a set of `set_rows` rows: the batch size and the order checked before anything
// is enqueued (a rejected epoch changes nothing), the step state's epoch begun with `lr`, runner.train_epoch, and
// the epoch's totals read back once.
Totals train_sgd_epoch(EpochRunner& runner, DeviceStep& step, BatchSource& source, std::size_t set_rows,
                       const std::vector<std::uint32_t>& order, int batch_size, float lr);

}  // namespace logreg::cuda
