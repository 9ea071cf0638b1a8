// The train options on the command line (their CLI11 definitions), their checks after conversion to the
// types training uses, and --resume's restoring of the saved run's trajectory settings (train_options.hpp).
#include "train_options.hpp"

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "cmd_train_lbfgs.hpp"
#include "logreg/errors.hpp"
#include "option_values.hpp"

namespace logreg::cli {
namespace {

// The float32 options' ranges: (0, FLT_MAX] for --lr and --lr-gamma, [0, FLT_MAX] for --weight-decay, [0, 1) for
// --momentum; the range is checked on the float32 the value becomes.
constexpr RealRange kPositiveFloat{0.0, true, INFINITY, false, true};
constexpr RealRange kNonNegativeFloat{0.0, false, INFINITY, false, true};
constexpr RealRange kMomentumRange{0.0, false, 1.0, true, true};
constexpr RealRange kValSplitRange{0.0, false, 1.0, true, false};
constexpr RealRange kTolRange{0.0, true, INFINITY, false, false};

void check_real_option(const char* flag, double v, const RealRange& range) {
  const std::string problem = real_range_problem(v, number_text(v), range);
  if (!problem.empty()) throw UsageError(std::string(flag) + ": " + problem);
}

// Reads one setting of the saved run from its settings record; DataError naming the file and the key.
class SavedSettings {
 public:
  SavedSettings(const std::string& path, const nlohmann::json& s) : path_(path), s_(s) {}

  bool has(const char* key) const { return s_.contains(key) && !s_[key].is_null(); }

  [[noreturn]] void fail(const char* key, const std::string& why) const {
    throw DataError(path_, std::string("saved setting \"") + key + "\": " + why);
  }
  double number(const char* key) const {
    if (!s_[key].is_number()) fail(key, "expected a number");
    return s_[key].get<double>();
  }
  std::int64_t integer(const char* key, std::int64_t lo, std::int64_t hi) const {
    if (!s_[key].is_number_integer()) fail(key, "expected an integer");
    const auto& v = s_[key];
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi)) {
      fail(key, "is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    const std::int64_t x = v.get<std::int64_t>();
    if (x < lo || x > hi) fail(key, std::to_string(x) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return x;
  }
  double real_in(const char* key, const RealRange& range) const {
    const double v = number(key);
    const std::string problem = real_range_problem(v, number_text(v), range);
    if (!problem.empty()) fail(key, problem);
    return v;
  }
  bool boolean(const char* key) const {
    if (!s_[key].is_boolean()) fail(key, "expected true or false");
    return s_[key].get<bool>();
  }
  std::string string(const char* key) const {
    if (!s_[key].is_string()) fail(key, "expected a string");
    return s_[key].get<std::string>();
  }

 private:
  const std::string& path_;
  const nlohmann::json& s_;
};

void warn_differs(const std::string& path, const std::string& flag, const std::string& given, const std::string& saved) {
  std::cerr << "logreg_cuda: warning: " << flag << " " << given << " differs from the resumed run's " << saved
            << " (" << path << "); using " << given << ", so the run does not continue the saved trajectory\n";
}

// Restores one setting: the saved value when the flag was not given; a warning when it was, and differs.
template <class T, class Text>
void restore(const TrainOptions& o, const std::string& path, const char* flag, T* value, const T& saved, Text text) {
  if (!o.is_given(flag)) {
    *value = saved;
  } else if (!(*value == saved)) {
    warn_differs(path, flag, text(*value), text(saved));
  }
}

}  // namespace

void add_train_options(CLI::App* sub, TrainOptions* opts) {
  add_data_option(sub, &opts->data);
  add_enum_option(sub, "--device", &opts->device, kDeviceNames, "Where to train");
  sub->add_option("--epochs", opts->epochs, "Train until this epoch (with --resume: the total, counting the saved epochs)")
      ->transform(integer_in(1, 1000000))
      ->capture_default_str();
  sub->add_option("--batch-size", opts->batch_size, "Rows per SGD step (the last batch of an epoch may be smaller)")
      ->transform(integer_in(1, 1 << 24))
      ->capture_default_str();
  sub->add_option("--lr", opts->lr, "Learning rate (> 0)")->transform(real_in(kPositiveFloat))->capture_default_str();
  add_enum_option(sub, "--loss", &opts->loss, kLossHeadNames, "Loss head");
  sub->add_option("--seed", opts->seed, "Seed of the weight initialisation, the shuffles and the validation split")
      ->transform(unsigned_up_to(std::numeric_limits<std::uint64_t>::max()))
      ->capture_default_str();
  sub->add_option("--limit-train", opts->limit_train, "Use only the first N training rows (0 = all)")
      ->transform(integer_in(0, std::int64_t{1} << 32))
      ->capture_default_str();
  sub->add_option("--momentum", opts->momentum, "SGD momentum in [0, 1) (PyTorch's SGD, dampening 0)")
      ->transform(real_in(kMomentumRange))
      ->capture_default_str();
  sub->add_flag("--nesterov", opts->nesterov, "Nesterov momentum (needs --momentum > 0)");
  sub->add_option("--weight-decay", opts->weight_decay, "L2 weight decay on the weights (not the bias)")
      ->transform(real_in(kNonNegativeFloat))
      ->capture_default_str();
  add_enum_option(sub, "--lr-schedule", &opts->lr_schedule, kLrScheduleNames, "Learning-rate schedule");
  sub->add_option("--lr-step", opts->lr_step, "Epochs between steps of the step schedule")
      ->transform(integer_in(1, 1000000))
      ->capture_default_str();
  sub->add_option("--lr-gamma", opts->lr_gamma, "Factor of the step schedule")
      ->transform(real_in(kPositiveFloat))
      ->capture_default_str();
  sub->add_option("--val-split", opts->val_split, "Hold out this fraction of the training rows for validation")
      ->transform(real_in(kValSplitRange))
      ->capture_default_str();
  sub->add_option("--early-stop", opts->early_stop, "Stop when the validation loss has not improved for N epochs (0 = off)")
      ->transform(integer_in(0, 1000000))
      ->capture_default_str();
  sub->add_option("--metrics", opts->metrics, "Write per-epoch metrics to FILE (.csv or .jsonl)");
  sub->add_option("--save", opts->save, "Save the model to FILE at the end (atomically)");
  sub->add_option("--save-every", opts->save_every, "Also save every N epochs (needs --save)")
      ->transform(integer_in(0, 1000000));
  sub->add_option("--resume", opts->resume,
                  "Continue training from a saved model: its weights, momentum, epoch count and every setting of its "
                  "run (lr, schedule, momentum, weight decay, batch size, epochs, loss, seed, split, data); a flag given "
                  "here wins, with a warning");
  sub->add_option("--init", opts->init,
                  "Start from the weights of a safetensors nn.Linear state_dict (weight [C, D], bias [C] float32, e.g. "
                  "saved from PyTorch) instead of a random initialisation")
      ->excludes("--resume");
  sub->add_option("--profile-epoch", opts->profile_epoch,
                  "CUDA: bracket this epoch with cudaProfilerStart/Stop (for nsys/ncu capture ranges)")
      ->transform(integer_in(0, 1000000));
  add_enum_option(sub, "--residency", &opts->residency, kResidencyNames, "CUDA: where the training set lives");
  sub->add_option("--cuda-graphs", opts->cuda_graphs,
                  "CUDA, device residency: replay one captured training step as a CUDA graph per full batch "
                  "(bit-identical results to off)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  add_enum_option(sub, "--kernel", &opts->cuda_kernel, kCudaKernelNames,
                  "CUDA, device residency: which kernels run the training steps");
  add_enum_option(sub, "--solver", &opts->solver, kSolverNames, "How the model is fitted");
  sub->add_option("--C", opts->C,
                  "L-BFGS, Newton-CG: inverse regularisation strength, scikit-learn's C (> 0; inf: no penalty); several "
                  "comma-separated values (0.01,0.1,1,10) fit the regularisation path on --val-split and refit the best")
      ->check(CLI::Validator(
          [](std::string& input) {
            std::vector<double> values;
            return c_values_problem(input, &values);
          },
          ""))
      ->capture_default_str();
  sub->add_option("--tol", opts->tol, "L-BFGS, Newton-CG: converged when the largest absolute gradient component is <= tol (> 0)")
      ->transform(real_in(kTolRange))
      ->capture_default_str();
  sub->add_option("--max-iter", opts->max_iter, "L-BFGS, Newton-CG: at most this many iterations")
      ->transform(integer_in(1, 1000000))
      ->capture_default_str();
  sub->add_option("--eval-every", opts->eval_every, "L-BFGS, Newton-CG: print the test accuracy every K iterations (0 = only at the end)")
      ->transform(integer_in(0, 1000000))
      ->capture_default_str();
}

void validate_train_options(const TrainOptions& o) {
  check_real_option("--lr", o.lr, kPositiveFloat);
  check_real_option("--momentum", o.momentum, kMomentumRange);
  if (o.nesterov && static_cast<float>(o.momentum) == 0.0f) throw UsageError("--nesterov needs --momentum > 0");
  check_real_option("--weight-decay", o.weight_decay, kNonNegativeFloat);
  check_real_option("--lr-gamma", o.lr_gamma, kPositiveFloat);
  check_real_option("--val-split", o.val_split, kValSplitRange);  // used as a double (round(F * n) rows)
  if (o.early_stop > 0 && o.val_split == 0.0) throw UsageError("--early-stop needs a validation split (--val-split F)");
  if (o.save_every > 0 && o.save.empty()) throw UsageError("--save-every needs --save FILE");
  for (const char* flag : {"--lr-step", "--lr-gamma"}) {
    if (o.is_given(flag) && o.lr_schedule != LrSchedule::kStep) {
      throw UsageError(std::string(flag) + " applies to --lr-schedule step only, not --lr-schedule " +
                       lr_schedule_name(o.lr_schedule));
    }
  }
  validate_solver_options(o);
  validate_cuda_options(o, o.device == Device::kCpu || o.device == Device::kReference ? device_name(o.device) : "");
}

void validate_solver_options(const TrainOptions& o) {
  // Each flag of one solver is refused with the other rather than silently ignored.
  static const std::vector<const char*> kSgdOnly = {"--epochs",     "--batch-size",    "--lr",         "--momentum",
                                                    "--nesterov",   "--weight-decay",  "--lr-schedule", "--lr-step",
                                                    "--lr-gamma",   "--early-stop",    "--save-every",  "--resume",
                                                    "--profile-epoch", "--cuda-graphs", "--kernel"};
  static const std::vector<const char*> kLbfgsOnly = {"--C", "--tol", "--max-iter", "--eval-every"};
  const bool lbfgs = is_full_batch(o.solver);
  for (const char* flag : lbfgs ? kSgdOnly : kLbfgsOnly) {
    if (o.is_given(flag)) {
      throw UsageError(std::string(flag) + " applies to --solver " + (lbfgs ? "sgd" : "lbfgs or newton-cg") +
                       " only, not --solver " + solver_name(o.solver));
    }
  }
  if (!lbfgs) return;
  if (o.solver == Solver::kNewtonCg && o.loss != LossHead::kSoftmax) {
    throw UsageError(std::string("--solver newton-cg needs --loss softmax (its Hessian-vector product is the softmax "
                                 "head's), not --loss ") + loss_head_name(o.loss) + "; use --solver lbfgs for it");
  }
  if (o.solver == Solver::kNewtonCg && o.device == Device::kCuda) {
    throw UsageError("--solver newton-cg runs on --device cpu or reference");
  }
  if (o.is_given("--seed") && o.val_split == 0.0) {
    throw UsageError(std::string("--seed: --solver ") + solver_name(o.solver) + " starts from zeros and uses the seed only for the validation split, so "
                     "without --val-split the seed does nothing");
  }
  check_real_option("--tol", o.tol, kTolRange);
  if (parse_c_values(o.C).size() > 1 && o.val_split == 0.0) {
    throw UsageError("--C with several values (the regularisation path) needs a validation split (--val-split F)");
  }
}

void validate_cuda_options(const TrainOptions& o, const std::string& cpu_backend) {
  static const std::vector<const char*> kCudaOnly = {"--profile-epoch", "--residency", "--cuda-graphs", "--kernel"};
  if (!cpu_backend.empty()) {
    for (const char* flag : kCudaOnly) {
      if (o.is_given(flag)) {
        throw UsageError(std::string(flag) + " applies to the CUDA backend only, and this run trains on " + cpu_backend);
      }
    }
  }
  if (o.residency == Residency::kStream) {
    for (const char* flag : {"--cuda-graphs", "--kernel"}) {
      if (o.is_given(flag)) {
        throw UsageError(std::string(flag) + " applies to --residency device only (the training set on the GPU), not "
                         "--residency stream");
      }
    }
  }
}

EarlyStopState apply_resumed_settings(TrainOptions& o, const ModelFile& mf, std::string* data_dir) {
  const std::string& path = o.resume;
  EarlyStopState state;
  data_dir->clear();
  // Head and seed live in the file's header.
  auto head_text = [](LossHead h) { return std::string(loss_head_name(h)); };
  restore(o, path, "--loss", &o.loss, mf.model.head, head_text);
  restore(o, path, "--seed", &o.seed, mf.seed, [](std::uint64_t v) { return std::to_string(v); });

  const nlohmann::json s = nlohmann::json::parse(mf.settings_json, nullptr, false);
  if (s.is_discarded() || !s.is_object()) {
    std::cerr << "logreg_cuda: warning: " << path
              << " records no readable settings: only its loss head, seed and epoch count are restored; the other "
                 "settings come from the command line\n";
    return state;
  }
  const SavedSettings saved(path, s);
  auto num = [](double v) { return number_text(v); };
  auto integer = [](auto v) { return std::to_string(v); };
  if (saved.has("lr")) restore(o, path, "--lr", &o.lr, saved.real_in("lr", kPositiveFloat), num);
  if (saved.has("momentum")) restore(o, path, "--momentum", &o.momentum, saved.real_in("momentum", kMomentumRange), num);
  if (saved.has("nesterov")) {
    restore(o, path, "--nesterov", &o.nesterov, saved.boolean("nesterov"), [](bool b) { return std::string(b ? "on" : "off"); });
  }
  if (saved.has("weight_decay")) {
    restore(o, path, "--weight-decay", &o.weight_decay, saved.real_in("weight_decay", kNonNegativeFloat), num);
  }
  if (saved.has("lr_schedule")) {
    LrSchedule schedule;
    const std::string name = saved.string("lr_schedule");
    if (!parse_lr_schedule(name, &schedule)) saved.fail("lr_schedule", "'" + name + "' is not " + names_list(kLrScheduleNames));
    restore(o, path, "--lr-schedule", &o.lr_schedule, schedule, [](LrSchedule v) { return std::string(lr_schedule_name(v)); });
  }
  if (saved.has("lr_step")) {
    restore(o, path, "--lr-step", &o.lr_step, static_cast<int>(saved.integer("lr_step", 1, 1000000)), integer);
  }
  if (saved.has("lr_gamma")) restore(o, path, "--lr-gamma", &o.lr_gamma, saved.real_in("lr_gamma", kPositiveFloat), num);
  if (saved.has("batch_size")) {
    restore(o, path, "--batch-size", &o.batch_size, static_cast<int>(saved.integer("batch_size", 1, 1 << 24)), integer);
  }
  if (saved.has("epochs")) {
    // A given --epochs is the usual way to train further; it changes the trajectory only through the cosine
    // schedule (its period is the epochs), so only then is it worth a warning.
    const int saved_epochs = static_cast<int>(saved.integer("epochs", 1, kModelFileMaxEpochs));
    if (!o.is_given("--epochs")) {
      o.epochs = saved_epochs;
    } else if (o.epochs != saved_epochs && o.lr_schedule == LrSchedule::kCosine) {
      warn_differs(path, "--epochs", integer(o.epochs), integer(saved_epochs) + " (the cosine schedule's period)");
    }
  }
  if (saved.has("limit_train")) {
    restore(o, path, "--limit-train", &o.limit_train, saved.integer("limit_train", 0, std::int64_t{1} << 32), integer);
  }
  if (saved.has("val_split")) {
    const double v = saved.number("val_split");
    if (!(v >= 0.0 && v < 1.0)) saved.fail("val_split", number_text(v) + " is outside [0, 1)");
    restore(o, path, "--val-split", &o.val_split, v, num);
  }
  if (saved.has("early_stop")) {
    restore(o, path, "--early-stop", &o.early_stop, static_cast<int>(saved.integer("early_stop", 0, 1000000)), integer);
  }
  if (s.contains("early_stop_state") && s["early_stop_state"].is_object()) {
    const SavedSettings st(path, s["early_stop_state"]);
    if (st.has("best_val_epoch")) state.best_val_epoch = static_cast<int>(st.integer("best_val_epoch", 0, kModelFileMaxEpochs));
    if (st.has("best_val_loss")) {
      const double v = st.number("best_val_loss");
      if (!(v >= 0.0) || !std::isfinite(v)) st.fail("best_val_loss", number_text(v) + " is not a finite loss >= 0");
      state.best_val_loss = v;
    }
  }
  if (s.contains("data") && s["data"].is_object() && s["data"].contains("dir") && s["data"]["dir"].is_string()) {
    *data_dir = s["data"]["dir"].get<std::string>();
  }
  return state;
}

}  // namespace logreg::cli
