// SGD over MPI ranks (`mpirun -np N logreg_cuda train --solver sgd`), as two TrainerBackends that the one host loop
// (training.hpp) drives like any other: synchronous data parallelism, whose steps give the same bits at any rank
// count, and local SGD, each rank on its own shard with the models averaged every K epochs. Not here: the
// exchanges themselves (ranks.hpp) and the CLI's rules for when each runs (cmd_train.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "logreg/backend.hpp"
#include "logreg/dataset.hpp"
#include "logreg/engine.hpp"
#include "logreg/maths/sgd_math.hpp"
#include "logreg/model.hpp"

namespace logreg {

// Synchronous SGD over the ranks: every rank is handed the same row order (the host loop's seeded shuffle), and
// each step's global batch of `batch_size` rows goes to `engine` as a full-batch objective over those rows
// (l2 = 0): the batch's mean loss and its gradient, in double. Every engine's objective (the cpu engine's
// make_cpu_fast_full_batch_engine, the reference's, the CUDA device's, a feature file's make_feature_batch_engine)
// cuts the rows into min(8, rows) fixed parts, each rank computes the parts ranks::parts_of gives it, and the
// parts' sums are exchanged and added in part order on every rank (part_sums.hpp); so each rank applies the same
// update (reference_sgd_update: sgd_param_step in double, rounded to float) and the model is bit-identical for
// any rank count, 1 included (for a given engine: the engines differ in their last bits). Every rank holds the
// whole training set (a batch's rows are anywhere in it). The engine counts no training predictions: the returned totals' `correct` stays 0 (no report
// prints it). velocity (C*D + C, or empty for zeros) continues a saved momentum state; the per-epoch scores are
// reference_evaluate's.
std::unique_ptr<TrainerBackend> make_rank_sync_sgd_backend(std::unique_ptr<FullBatchEngine> engine,
                                                           const Model& initial, const OptimizerConfig& optimizer,
                                                           const std::vector<float>& velocity);

// Local SGD over the ranks around `local`, the rank's own SGD backend: of each order the host loop hands over
// (every rank the same: one call per epoch), a rank keeps the rows in [shard_first, shard_last] (its shard of the
// training rows, in the shuffled order) and runs them through `local` in batches of the batch size; the ranks'
// training totals are summed in rank order, so every rank reports (and checks for divergence) the same figures.
// After epochs that are multiples of `average_every`, and after `last_epoch`, the ranks' parameters are averaged
// (summed in double in rank order, divided by the rank count, rounded to float once) and every rank continues
// from the average; momentum velocities stay each rank's own. Bit-identical run to run at a fixed rank count;
// another rank count cuts other shards, so another model.
std::unique_ptr<TrainerBackend> make_local_sgd_backend(std::unique_ptr<TrainerBackend> local, std::uint32_t shard_first,
                                                       std::uint32_t shard_last, int average_every, int last_epoch);

}  // namespace logreg
