// RunSettings: every setting of one `train` run, and the one table of its fields (run_settings.cpp) that binds
// each to its command-line option (name, help, range, default), checks the value training uses, writes it into
// the run's settings record (the JSON that --save stores in the model file, --metrics writes beside its file
// and --resume reads back) and restores it on --resume. A new flag is a member here and a row in the table,
// then the code that uses it. Not here: running the training (cmd_train.cpp), the settings lines printed from
// the record (train_settings.cpp).
#pragma once

#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "logreg/backend_factory.hpp"
#include "logreg/model_file.hpp"
#include "logreg/training.hpp"
#include "logreg/solver.hpp"
#include "logreg/training.hpp"

namespace logreg::cli {

struct RunSettings {
  std::optional<std::string> data;
  std::string test_data;  // --test-data: the test split of a feature file with one split (not recorded for IDX)
  Device device = Device::kAuto;
  int epochs = 50;
  int batch_size = 32;
  double lr = 0.001;
  LossHead loss = LossHead::kSoftmax;
  std::uint64_t seed = 0;
  std::int64_t limit_train = 0;
  int profile_epoch = 0;
  Residency residency = Residency::kAuto;  // CUDA only (CudaOptions::residency)
  std::string cuda_graphs = "on";  // CUDA: on or off (CudaOptions::cuda_graphs; device residency only)
  CudaKernel cuda_kernel = CudaKernel::kAuto;  // CUDA: CudaOptions::kernel (device residency only)
  double momentum = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;
  LrSchedule lr_schedule = LrSchedule::kConstant;
  int lr_step = 10;
  double lr_gamma = 0.1;
  double val_split = 0.0;
  int early_stop = 0;
  int average_every = 0;  // SGD over MPI ranks: local SGD, the ranks' models averaged every K epochs (0: synchronous)
  std::string metrics;
  std::string save;
  int save_every = 0;
  std::string resume;
  std::string init;  // --init: starting weights from a safetensors nn.Linear (export_safetensors.hpp)
  Solver solver = Solver::kSgd;   // --solver: sgd (the options above) or lbfgs (the four below)
  std::string C = "1";             // L-BFGS: scikit-learn's C, "inf", or several comma-separated (the path)
  double tol = 1e-4;               // L-BFGS: max |gradient component| at which it has converged
  int max_iter = 100;              // L-BFGS: iterations at most
  int eval_every = 10;             // L-BFGS: test accuracy every K iterations (0 = only at the end)
  int lbfgs_memory = 0;            // L-BFGS: corrections kept (0: lbfgs_memory's choice from the set's size)
  bool standardize = false;        // feature files: fit StandardScaler on the training rows (model file v3)
  Penalty penalty = Penalty::kL2;  // L-BFGS, Newton-CG: l2, none; L-BFGS also l1, elasticnet (OWL-QN)
  double l1_ratio = 0.0;           // --penalty elasticnet: the L1 share R in [0, 1]
  int cv = 0;                      // >= 2: choose among the --C values by K-fold cross-validation (0 = off)
  std::string sample_weight;           // feature files: a 1-D float .npy of per-row weights ("" = none)
  std::string class_weight = "none";   // feature files: none, balanced, or a file of LABEL WEIGHT lines
  bool no_intercept = false;           // feature files: no bias (scikit-learn's fit_intercept=False)
  std::set<std::string> given;  // the flags given on the command line ("--lr", ...)
  bool is_given(const std::string& flag) const { return given.count(flag) > 0; }
};

// Where a resumed run's early stopping stands (the best validation loss so far and its epoch).
struct EarlyStopState {
  double best_val_loss = INFINITY;
  int best_val_epoch = 0;
};

// The facts of a run that its settings record holds beside the settings.
struct RunFacts {
  std::string backend;     // the backend's name()
  int first_epoch = 1;     // > 1 when resuming
  std::size_t train_rows = 0;
  std::uint32_t val_rows = 0;
  nlohmann::ordered_json data;  // data_record() of the files
};

// Defines every option of the train subcommand on `sub`, each writing into `*opts` (which must outlive the
// parse), from the table: names, help texts, ranges and defaults; the enum options read their name tables.
void add_train_options(CLI::App* sub, RunSettings* opts);

// The run's settings record: "program", then the table's fields in order (the facts among them), each under
// its key; the full-batch solvers' fields only for --solver lbfgs or newton-cg.
nlohmann::ordered_json settings_record(const RunSettings& o, const RunFacts& facts);

// The SGD run's schedule from the settings (head, learning-rate schedule, epochs, batch, seed); early stopping and
// the epoch to start from are the caller's.
TrainConfig sgd_config(const RunSettings& o);

// --val-split F of `fitted_rows` training rows that rounds to no validation rows: UsageError with --early-stop
// (nothing to stop on), else a warning on stderr (the run goes on without validation).
void check_val_rows(const RunSettings& o, std::size_t fitted_rows, std::size_t val_rows);

// --resume FILE, for IDX and feature runs alike: the model file read; UsageError when a full-batch solver fitted it
// (it has no SGD epochs or momentum to continue; the message says how to start SGD from its weights: through a
// safetensors export for IDX images, --init FILE for a feature file), when a feature file's model is resumed
// without --data FILE or an IDX model with one, or when its epochs reach --epochs. Restores the saved run's
// settings (apply_resumed_settings) and checks them again (validate_train_options); an IDX run without --data
// takes the recorded data directory when it exists (saying so on stderr).
struct ResumedRun {
  ModelFile file;
  EarlyStopState early_stop;
};
ResumedRun resume_run(RunSettings& o);

// UsageError naming the option when a value is out of its range, checked on the value training uses:
// the float32 that --lr, --momentum, --weight-decay and --lr-gamma become must not underflow to 0 or a
// subnormal, overflow to infinity, or round out of the range (0.99999999999 is 1.0f for --momentum).
void validate_train_options(const RunSettings& o);

// Part of validate_train_options: the flags of one solver given with the other (UsageError naming the flag),
// --seed for L-BFGS without a validation split (it would do nothing), --tol finite and > 0, --C's values
// (parse_c_values), several --C values without --val-split.
void validate_solver_options(const RunSettings& o);

// The CUDA-only flags (--profile-epoch, --residency, --cuda-graphs, --kernel) given for a run on a CPU backend
// (`cpu_backend` names it; "" when the backend is CUDA or not known yet), and --cuda-graphs or --kernel with
// --residency stream: UsageError naming the flag. validate_train_options calls it for --device cpu and
// reference; cmd_train.cpp again once --device auto has chosen.
void validate_cuda_options(const RunSettings& o, const std::string& cpu_backend);

// The CUDA engine's options the flags give (--profile-epoch, --residency, --cuda-graphs, --kernel); the optimizer
// and velocity are the engine factory's (BackendRequest).
CudaOptions cuda_options_of(const RunSettings& o);

// --resume: every setting that shapes the trajectory (lr, schedule, step, gamma, momentum, Nesterov, weight
// decay, batch size, epochs, limit-train, validation split, early stopping; the loss head and the seed from
// the file's header) comes from the saved run, unless the flag is given; a given flag that differs wins and
// a warning on stderr names it. Values read from the file are range-checked (DataError naming the file and
// the setting). Returns the early-stopping state the run had, and `data_dir` the run's data directory (""
// when none is recorded).
EarlyStopState apply_resumed_settings(RunSettings& o, const ModelFile& mf, std::string* data_dir);

// The settings record a saved SGD model holds: `settings` with early stopping's state ("early_stop_state": its best
// validation loss and epoch, once it has one), which apply_resumed_settings reads back.
std::string settings_json_with_early_stop(nlohmann::ordered_json settings, const EarlyStopState& state);

}  // namespace logreg::cli
