// EpochRunner (epoch_runner.hpp): the plan, then one launch or the steps, with the step graph.
#include "epoch_runner.hpp"

#include <algorithm>
#include <string>

#include "epoch_plan.hpp"
#include "logreg/errors.hpp"
#include "nvtx_range.hpp"
#include "resident_input.hpp"

namespace logreg::cuda {
namespace {

// One SGD step on the next `rows` rows: the batch from the input path, then the step's maths.
void step_once(std::size_t start, int rows, DeviceStep& step, BatchSource& source) {
  const DeviceBatch batch = source.next_batch(start, rows, step);
  step.forward_backward(batch.labels, rows, batch.labels_consumed, batch.row_weights);
  step.update(rows);
}

}  // namespace

void check_order(const std::vector<std::uint32_t>& order, std::size_t rows) {
  for (const std::uint32_t row : order) {
    if (row >= rows) {
      throw Error(ExitCode::kFailure, "train_epoch: row index " + std::to_string(row) + " outside the training set of " +
                                          std::to_string(rows) + " images");
    }
  }
}

Totals train_sgd_epoch(EpochRunner& runner, DeviceStep& step, BatchSource& source, std::size_t set_rows,
                       const std::vector<std::uint32_t>& order, int batch_size, float lr) {
  if (batch_size <= 0) throw UsageError("batch size must be positive (got " + std::to_string(batch_size) + ")");
  Totals totals;
  totals.count = static_cast<std::int64_t>(order.size());
  if (order.empty()) return totals;
  check_order(order, set_rows);
  step.begin_epoch(lr);
  const int last_batch_rows = runner.train_epoch(order, batch_size, step, source);
  const kernels::DeviceTotals t = step.read_totals(step.train_totals());  // one read-back per epoch
  totals.loss_sum = t.loss_sum;
  totals.correct = static_cast<std::int64_t>(t.correct);
  totals.last_batch_loss = t.last_batch_loss_sum / static_cast<double>(last_batch_rows);
  return totals;
}

// 1. The plan (a refusal before anything is enqueued). 2. The buffers and the input path's epoch. 3. One
// launch; or every full batch replays the captured step graph (or is enqueued when graphs are off or the input
// path cannot be captured), then the partial last batch, uncaptured.
int EpochRunner::train_epoch(const std::vector<std::uint32_t>& order, int batch_size, DeviceStep& step,
                             BatchSource& source) {
  const ResidentInput* resident = source.resident();
  EpochShape shape;
  shape.batch = batch_size;
  shape.dim = step.dim();
  shape.classes = step.classes();
  shape.momentum = step.momentum();
  shape.resident = resident != nullptr;
  shape.shared_optin = shared_optin_;
  const EpochPlan plan = plan_epoch(kernel_, shape);

  const std::size_t batch = static_cast<std::size_t>(batch_size);
  const std::size_t max_rows = std::min(order.size(), batch);
  if (step.reserve(max_rows)) graph_.reset();  // it used the buffers that were reallocated
  if (source.begin_epoch(order, max_rows, step)) graph_.reset();
  const std::int64_t full_batches = static_cast<std::int64_t>(order.size() / batch);
  const int rest = static_cast<int>(order.size() % batch);

  if (plan.one_launch()) {
    const std::string range_name = std::string(cuda_kernel_name(plan.kernel->kernel)) + " epoch";  // "persistent epoch"
    NvtxRange range(range_name.c_str());
    kernels::PersistentEpochArgs args =
        step.epoch_args(resident->pixels(), resident->labels(), resident->order(), order.size(), batch_size);
    if (plan.kernel->scratch_floats != nullptr) args.scratch = step.epoch_scratch(plan.kernel->scratch_floats(shape));
    plan.kernel->run_epoch(args, plan.shared_bytes, step.stream());
    return rest > 0 ? rest : batch_size;
  }
  const bool replay = graph_.enabled() && source.capturable() && full_batches > 0;
  std::int64_t b = 0;
  if (replay && !graph_.ready(batch_size)) {
    // The first full batch runs eagerly, so module loading and cuBLAS's kernel choice happen outside the
    // capture; then the step is recorded (nothing runs) and replayed for the other full batches.
    step_once(0, batch_size, step, source);
    ++b;
    graph_.capture(step.stream(), batch_size, [&] { step_once(batch, batch_size, step, source); });
  }
  for (; b < full_batches; ++b) {
    if (replay && graph_.ready(batch_size)) {
      graph_.launch(step.stream());
    } else {
      step_once(static_cast<std::size_t>(b) * batch, batch_size, step, source);
    }
  }
  if (rest > 0) step_once(static_cast<std::size_t>(full_batches) * batch, rest, step, source);
  return rest > 0 ? rest : batch_size;
}

}  // namespace logreg::cuda
