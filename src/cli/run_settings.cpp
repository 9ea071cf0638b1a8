// The table of RunSettings' fields and what it drives (run_settings.hpp): the CLI11 options, the checks of the
// values training uses, the settings record and --resume's restoring of the saved run's settings.
#include "run_settings.hpp"

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <string>
#include <utility>
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
constexpr RealRange kUnitRange{0.0, false, 1.0, false, false};

void check_real_option(const char* flag, double v, const RealRange& range) {
  const std::string problem = real_range_problem(v, number_text(v), range);
  if (!problem.empty()) throw UsageError(std::string(flag) + ": " + problem);
}

// --penalty with the solver, --l1-ratio and --C.
void check_penalty(const RunSettings& o) {
  if (!is_full_batch(o.solver)) return;  // the scope check names --penalty with SGD
  const std::string given = std::string("--penalty ") + penalty_name(o.penalty);
  if (has_l1(o.penalty) && o.solver != Solver::kLbfgs) {
    throw UsageError(given + ": the L1 and elastic-net penalties run on --solver lbfgs only (OWL-QN), not --solver " +
                     solver_name(o.solver));
  }
  if (o.penalty == Penalty::kElasticNet && !o.is_given("--l1-ratio")) {
    throw UsageError(given + " needs --l1-ratio R in [0, 1] (the L1 share of the penalty)");
  }
  if (o.penalty != Penalty::kElasticNet && o.is_given("--l1-ratio")) {
    throw UsageError("--l1-ratio applies to --penalty elasticnet only, not " + given);
  }
  if (o.penalty == Penalty::kNone && (o.cv > 0 || parse_c_values(o.C).size() > 1)) {
    throw UsageError(given + " has no C to choose: give one --C (it is ignored) and no --cv");
  }
  if (o.penalty == Penalty::kNone && o.is_given("--C")) {
    std::cerr << "logreg_cuda: warning: --C " << o.C << " is ignored with --penalty none (no penalty to scale)\n";
  }
}

// --cv with the values of --C and --val-split.
void check_cv(const RunSettings& o) {
  if (o.cv == 0 || !is_full_batch(o.solver)) return;
  if (o.cv < 2) throw UsageError("--cv " + std::to_string(o.cv) + ": needs K >= 2 folds (0 = off)");
  if (parse_c_values(o.C).size() < 2) {
    throw UsageError("--cv " + std::to_string(o.cv) + " chooses among several --C values; give several (--C "
                     "0.01,0.1,1,10) or no --cv");
  }
  if (o.val_split > 0.0) {
    throw UsageError("--cv and --val-split both choose C (on folds, or on held-out rows); give one of them");
  }
}

// Reads one setting of the saved run from its settings record; DataError naming the file and the key.
class SavedSettings {
 public:
  SavedSettings(const std::string& path, const nlohmann::json& s, LossHead head = LossHead::kSoftmax,
                std::uint64_t seed = 0)
      : path_(path), s_(s), head_(head), seed_(seed) {}

  // The settings the model file's header holds, not its record.
  LossHead header_head() const { return head_; }
  std::uint64_t header_seed() const { return seed_; }

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
  LossHead head_;
  std::uint64_t seed_;
};

void warn_differs(const std::string& path, const std::string& flag, const std::string& given, const std::string& saved) {
  std::cerr << "logreg_cuda: warning: " << flag << " " << given << " differs from the resumed run's " << saved
            << " (" << path << "); using " << given << ", so the run does not continue the saved trajectory\n";
}

// Restores one setting: the saved value when the flag was not given; a warning when it was, and differs.
template <class T, class Text>
void restore(const RunSettings& o, const std::string& path, const char* flag, T* value, const T& saved, Text text) {
  if (!o.is_given(flag)) {
    *value = saved;
  } else if (!(*value == saved)) {
    warn_differs(path, flag, text(*value), text(saved));
  }
}


// ---- The table ----

enum class Scope { kAny, kSgd, kFullBatch };  // the solvers a field applies to (given with the others: a usage error)

// One field of RunSettings, or (flag == nullptr) a fact of the run that the record holds in its place.
struct Field {
  const char* flag = nullptr;  // "--lr"
  const char* key = nullptr;   // its key in the settings record; nullptr: not recorded
  Scope scope = Scope::kAny;
  bool cuda_only = false;      // applies to the CUDA backend only
  std::function<CLI::Option*(CLI::App*, RunSettings*)> bind;
  std::function<nlohmann::ordered_json(const RunSettings&, const RunFacts&)> record;
  // --resume: the saved value, unless the flag is given (a warning when it differs); empty: not restored.
  std::function<void(RunSettings&, const SavedSettings&, const std::string& path)> restore;
  std::function<void(const RunSettings&)> check;  // the value training uses, after --resume too; may be empty
  std::function<bool(const RunSettings&)> omitted;  // true: left out of the record (a default older records lack)
};

template <class T>
using Member = T RunSettings::*;

// The fields' kinds. Each binds its option with the one checked parser of its type (option_values.hpp).
template <class T>
Field integer_field(const char* flag, const char* key, Member<T> m, std::int64_t lo, std::int64_t hi,
                    const char* help, Scope scope = Scope::kAny, bool resumed = false) {
  Field f;
  f.flag = flag;
  f.key = key;
  f.scope = scope;
  f.bind = [=](CLI::App* sub, RunSettings* o) {
    return sub->add_option(flag, o->*m, help)->transform(integer_in(lo, hi))->capture_default_str();
  };
  if (key != nullptr) f.record = [=](const RunSettings& o, const RunFacts&) { return nlohmann::ordered_json(o.*m); };
  if (resumed) {
    f.restore = [=](RunSettings& o, const SavedSettings& saved, const std::string& path) {
      if (!saved.has(key)) return;
      restore(o, path, flag, &(o.*m), static_cast<T>(saved.integer(key, lo, hi)),
              [](T v) { return std::to_string(v); });
    };
  }
  return f;
}

enum class Recorded { kAsGiven, kAsFloat32 };  // a real's value in the record: the double typed, or the float used

Field real_field(const char* flag, const char* key, Member<double> m, RealRange range, const char* help,
                 Scope scope = Scope::kAny, bool resumed = false, Recorded as = Recorded::kAsGiven) {
  Field f;
  f.flag = flag;
  f.key = key;
  f.scope = scope;
  f.bind = [=](CLI::App* sub, RunSettings* o) {
    return sub->add_option(flag, o->*m, help)->transform(real_in(range))->capture_default_str();
  };
  f.record = [=](const RunSettings& o, const RunFacts&) {
    return as == Recorded::kAsFloat32 ? nlohmann::ordered_json(static_cast<float>(o.*m)) : nlohmann::ordered_json(o.*m);
  };
  if (resumed) {
    f.restore = [=](RunSettings& o, const SavedSettings& saved, const std::string& path) {
      if (saved.has(key)) restore(o, path, flag, &(o.*m), saved.real_in(key, range), number_text);
    };
  }
  f.check = [=](const RunSettings& o) { check_real_option(flag, o.*m, range); };
  return f;
}

template <class E, std::size_t N>
Field enum_field(const char* flag, const char* key, Member<E> m, const NameTable<E, N>& table, const char* what,
                 Scope scope = Scope::kAny, bool resumed = false) {
  Field f;
  f.flag = flag;
  f.key = key;
  f.scope = scope;
  f.bind = [=, &table](CLI::App* sub, RunSettings* o) { return add_enum_option(sub, flag, &(o->*m), table, what); };
  if (key != nullptr) {
    f.record = [=, &table](const RunSettings& o, const RunFacts&) { return nlohmann::ordered_json(name_of(table, o.*m)); };
  }
  if (resumed) {
    f.restore = [=, &table](RunSettings& o, const SavedSettings& saved, const std::string& path) {
      if (!saved.has(key)) return;
      E value;
      const std::string name = saved.string(key);
      if (!parse_name(table, name, &value)) saved.fail(key, "'" + name + "' is not " + names_list(table));
      restore(o, path, flag, &(o.*m), value, [&table](E v) { return std::string(name_of(table, v)); });
    };
  }
  return f;
}

Field text_field(const char* flag, const char* key, Member<std::string> m, const char* help, Scope scope = Scope::kAny) {
  Field f;
  f.flag = flag;
  f.key = key;
  f.scope = scope;
  f.bind = [=](CLI::App* sub, RunSettings* o) { return sub->add_option(flag, o->*m, help); };
  if (key != nullptr) f.record = [=](const RunSettings& o, const RunFacts&) { return nlohmann::ordered_json(o.*m); };
  return f;
}

Field bool_field(const char* flag, const char* key, Member<bool> m, const char* help, Scope scope) {
  Field f;
  f.flag = flag;
  f.key = key;
  f.scope = scope;
  f.bind = [=](CLI::App* sub, RunSettings* o) { return sub->add_flag(flag, o->*m, help); };
  f.record = [=](const RunSettings& o, const RunFacts&) { return nlohmann::ordered_json(o.*m); };
  return f;
}

// A field whose option is bound by hand (a parser or a check of its own), not recorded.
Field bound_field(const char* flag, Scope scope, std::function<CLI::Option*(CLI::App*, RunSettings*)> bind) {
  Field f;
  f.flag = flag;
  f.scope = scope;
  f.bind = std::move(bind);
  return f;
}

Field cuda_only(Field f) {
  f.cuda_only = true;
  return f;
}

Field fact(const char* key, std::function<nlohmann::ordered_json(const RunFacts&)> value) {
  Field f;
  f.key = key;
  f.record = [value](const RunSettings&, const RunFacts& facts) { return value(facts); };
  return f;
}

// The fields in the settings record's order (the command line's help lists them in the same order).
const std::vector<Field>& fields() {
  static const std::vector<Field> table = [] {
    std::vector<Field> t;
    t.push_back(bound_field("--data", Scope::kAny, [](CLI::App* sub, RunSettings* o) {
      add_data_option(sub, &o->data);
      return sub->get_option("--data");
    }));
    t.push_back(text_field("--test-data", nullptr, &RunSettings::test_data,
                           "With --data FILE: the test split, a file of the same format (an svmlight file, or an .npz "
                           "without x_test)"));
    t.push_back(fact("backend", [](const RunFacts& r) { return nlohmann::ordered_json(r.backend); }));
    t.push_back(enum_field("--device", "device", &RunSettings::device, kDeviceNames, "Where to train"));
    {
      Field loss = enum_field("--loss", "loss", &RunSettings::loss, kLossHeadNames, "Loss head");
      loss.restore = [](RunSettings& o, const SavedSettings& saved, const std::string& path) {
        restore(o, path, "--loss", &o.loss, saved.header_head(), [](LossHead h) { return std::string(loss_head_name(h)); });
      };
      t.push_back(loss);
    }
    {
      // A given --epochs is the usual way to train further; it changes the trajectory only through the cosine
      // schedule (its period is the epochs), so only then is it worth a warning.
      Field epochs = integer_field("--epochs", "epochs", &RunSettings::epochs, 1, 1000000,
                                   "Train until this epoch (with --resume: the total, counting the saved epochs)",
                                   Scope::kSgd);
      epochs.restore = [](RunSettings& o, const SavedSettings& saved, const std::string& path) {
        if (!saved.has("epochs")) return;
        const int saved_epochs = static_cast<int>(saved.integer("epochs", 1, kModelFileMaxEpochs));
        if (!o.is_given("--epochs")) {
          o.epochs = saved_epochs;
        } else if (o.epochs != saved_epochs && o.lr_schedule == LrSchedule::kCosine) {
          warn_differs(path, "--epochs", std::to_string(o.epochs),
                       std::to_string(saved_epochs) + " (the cosine schedule's period)");
        }
      };
      t.push_back(epochs);
    }
    t.push_back(fact("first_epoch", [](const RunFacts& r) { return nlohmann::ordered_json(r.first_epoch); }));
    t.push_back(integer_field("--batch-size", "batch_size", &RunSettings::batch_size, 1, 1 << 24,
                              "Rows per SGD step (the last batch of an epoch may be smaller)", Scope::kSgd, true));
    {
      // Not in the settings record: the backend's name there says "local SGD averaged every K epochs".
      Field average = integer_field("--average-every", nullptr, &RunSettings::average_every, 0, 1000000,
                                    "Under mpirun: local SGD, each rank on its shard, the models averaged every K "
                                    "epochs (0 = synchronous SGD over a global batch)", Scope::kSgd);
      average.check = [](const RunSettings& o) {
        if (o.average_every > 0 && o.early_stop > 0) {
          throw UsageError("--average-every and --early-stop do not go together: between averages each rank's "
                           "model is its own, so the validation loss of one epoch is not the run's");
        }
      };
      t.push_back(average);
    }
    t.push_back(real_field("--lr", "lr", &RunSettings::lr, kPositiveFloat, "Learning rate (> 0)", Scope::kSgd, true));
    t.push_back(enum_field("--lr-schedule", "lr_schedule", &RunSettings::lr_schedule, kLrScheduleNames,
                           "Learning-rate schedule", Scope::kSgd, true));
    t.push_back(integer_field("--lr-step", "lr_step", &RunSettings::lr_step, 1, 1000000,
                              "Epochs between steps of the step schedule", Scope::kSgd, true));
    t.push_back(real_field("--lr-gamma", "lr_gamma", &RunSettings::lr_gamma, kPositiveFloat,
                           "Factor of the step schedule", Scope::kSgd, true));
    t.push_back(real_field("--momentum", "momentum", &RunSettings::momentum, kMomentumRange,
                           "SGD momentum in [0, 1) (PyTorch's SGD, dampening 0)", Scope::kSgd, true,
                           Recorded::kAsFloat32));
    {
      Field nesterov;
      nesterov.flag = "--nesterov";
      nesterov.key = "nesterov";
      nesterov.scope = Scope::kSgd;
      nesterov.bind = [](CLI::App* sub, RunSettings* o) {
        return sub->add_flag("--nesterov", o->nesterov, "Nesterov momentum (needs --momentum > 0)");
      };
      nesterov.record = [](const RunSettings& o, const RunFacts&) { return nlohmann::ordered_json(o.nesterov); };
      nesterov.restore = [](RunSettings& o, const SavedSettings& saved, const std::string& path) {
        if (!saved.has("nesterov")) return;
        restore(o, path, "--nesterov", &o.nesterov, saved.boolean("nesterov"),
                [](bool b) { return std::string(b ? "on" : "off"); });
      };
      nesterov.check = [](const RunSettings& o) {
        if (o.nesterov && static_cast<float>(o.momentum) == 0.0f) throw UsageError("--nesterov needs --momentum > 0");
      };
      t.push_back(nesterov);
    }
    t.push_back(real_field("--weight-decay", "weight_decay", &RunSettings::weight_decay, kNonNegativeFloat,
                           "L2 weight decay on the weights (not the bias)", Scope::kSgd, true, Recorded::kAsFloat32));
    {
      Field seed;
      seed.flag = "--seed";
      seed.key = "seed";
      seed.bind = [](CLI::App* sub, RunSettings* o) {
        return sub->add_option("--seed", o->seed, "Seed of the weight initialisation, the shuffles and the validation split")
            ->transform(unsigned_up_to(std::numeric_limits<std::uint64_t>::max()))
            ->capture_default_str();
      };
      seed.record = [](const RunSettings& o, const RunFacts&) { return nlohmann::ordered_json(o.seed); };
      seed.restore = [](RunSettings& o, const SavedSettings& saved, const std::string& path) {
        restore(o, path, "--seed", &o.seed, saved.header_seed(), [](std::uint64_t v) { return std::to_string(v); });
      };
      t.push_back(seed);
    }
    t.push_back(integer_field("--limit-train", "limit_train", &RunSettings::limit_train, 0, std::int64_t{1} << 32,
                              "Use only the first N training rows (0 = all)", Scope::kAny, true));
    t.push_back(fact("train_rows", [](const RunFacts& r) { return nlohmann::ordered_json(r.train_rows); }));
    t.push_back(real_field("--val-split", "val_split", &RunSettings::val_split, kValSplitRange,
                           "Hold out this fraction of the training rows for validation", Scope::kAny, true));
    t.push_back(fact("val_rows", [](const RunFacts& r) { return nlohmann::ordered_json(r.val_rows); }));
    {
      Field early = integer_field("--early-stop", "early_stop", &RunSettings::early_stop, 0, 1000000,
                                  "Stop when the validation loss has not improved for N epochs (0 = off)", Scope::kSgd,
                                  true);
      early.check = [](const RunSettings& o) {
        if (o.early_stop > 0 && o.val_split == 0.0) throw UsageError("--early-stop needs a validation split (--val-split F)");
      };
      t.push_back(early);
    }
    t.push_back(text_field("--metrics", nullptr, &RunSettings::metrics,
                           "Write per-epoch metrics to FILE (.csv or .jsonl)"));
    t.push_back(text_field("--save", nullptr, &RunSettings::save, "Save the model to FILE at the end (atomically)"));
    {
      Field save_every = bound_field("--save-every", Scope::kSgd, [](CLI::App* sub, RunSettings* o) {
        return sub->add_option("--save-every", o->save_every, "Also save every N epochs (needs --save)")
            ->transform(integer_in(0, 1000000));
      });
      save_every.check = [](const RunSettings& o) {
        if (o.save_every > 0 && o.save.empty()) throw UsageError("--save-every needs --save FILE");
      };
      t.push_back(save_every);
    }
    t.push_back(text_field("--resume", "resume", &RunSettings::resume,
                           "Continue training from a saved model: its weights, momentum, epoch count and every setting "
                           "of its run (lr, schedule, momentum, weight decay, batch size, epochs, loss, seed, split, "
                           "data); a flag given here wins, with a warning",
                           Scope::kSgd));
    {
      Field init = text_field("--init", "init", &RunSettings::init,
                              "Start from the weights of a safetensors nn.Linear state_dict (weight [C, D], bias [C] "
                              "float32, e.g. saved from PyTorch) instead of a random initialisation; with --data FILE, a model file "
                              "saved by a feature-file run (its classes, features, intercept and scaler those of the run)");
      const auto bind = init.bind;
      init.bind = [bind](CLI::App* sub, RunSettings* o) { return bind(sub, o)->excludes("--resume"); };
      t.push_back(init);
    }
    t.push_back(cuda_only(bound_field("--profile-epoch", Scope::kSgd, [](CLI::App* sub, RunSettings* o) {
      return sub->add_option("--profile-epoch", o->profile_epoch,
                             "CUDA: bracket this epoch with cudaProfilerStart/Stop (for nsys/ncu capture ranges)")
          ->transform(integer_in(0, 1000000));
    })));
    t.push_back(cuda_only(enum_field("--residency", nullptr, &RunSettings::residency, kResidencyNames,
                                     "CUDA: where the training set lives")));
    t.push_back(cuda_only(bound_field("--cuda-graphs", Scope::kSgd, [](CLI::App* sub, RunSettings* o) {
      return sub->add_option("--cuda-graphs", o->cuda_graphs,
                             "CUDA, device residency: replay one captured training step as a CUDA graph per full "
                             "batch (bit-identical results to off)")
          ->check(CLI::IsMember({"on", "off"}))
          ->capture_default_str();
    })));
    t.push_back(cuda_only(enum_field("--kernel", nullptr, &RunSettings::cuda_kernel, kCudaKernelNames,
                                     "CUDA, device residency: which kernels run the training steps", Scope::kSgd)));
    t.push_back(enum_field("--solver", "solver", &RunSettings::solver, kSolverNames, "How the model is fitted"));
    {
      Field c = text_field("--C", "C", &RunSettings::C,
                           "L-BFGS, Newton-CG: inverse regularisation strength, scikit-learn's C (> 0; inf: no penalty); several "
                           "comma-separated values (0.01,0.1,1,10) fit the regularisation path on --val-split or --cv "
                           "and refit the best",
                           Scope::kFullBatch);
      const auto bind = c.bind;
      c.bind = [bind](CLI::App* sub, RunSettings* o) {
        return bind(sub, o)
            ->check(CLI::Validator(
                [](std::string& input) {
                  std::vector<double> values;
                  return c_values_problem(input, &values);
                },
                ""))
            ->capture_default_str();
      };
      t.push_back(c);
    }
    {
      // The penalty, recorded when it is not the default L2 (records of L2 runs stay as they were).
      Field penalty = enum_field("--penalty", "penalty", &RunSettings::penalty, kPenaltyNames,
                                 "L-BFGS, Newton-CG: the penalty of scikit-learn's objective", Scope::kFullBatch);
      penalty.omitted = [](const RunSettings& o) { return o.penalty == Penalty::kL2; };
      penalty.check = check_penalty;
      t.push_back(penalty);
      Field ratio = real_field("--l1-ratio", "l1_ratio", &RunSettings::l1_ratio, kUnitRange,
                               "--penalty elasticnet: the L1 share R in [0, 1] of (1 - R) ||W||^2 / 2 + R ||W||_1 "
                               "(scikit-learn's l1_ratio)",
                               Scope::kFullBatch);
      ratio.omitted = [](const RunSettings& o) { return o.penalty != Penalty::kElasticNet; };
      t.push_back(ratio);
      Field cv = integer_field("--cv", "cv", &RunSettings::cv, 0, 1000000,
                               "L-BFGS, Newton-CG: choose among the --C values by K-fold stratified cross-validation "
                               "(the best mean accuracy), then refit on all training rows (0 = off)",
                               Scope::kFullBatch);
      cv.omitted = [](const RunSettings& o) { return o.cv == 0; };
      cv.check = check_cv;
      t.push_back(cv);
    }
    t.push_back(real_field("--tol", "tol", &RunSettings::tol, kTolRange,
                           "L-BFGS, Newton-CG: converged when the largest absolute gradient component is <= tol (> 0)",
                           Scope::kFullBatch));
    t.push_back(integer_field("--max-iter", "max_iter", &RunSettings::max_iter, 1, 1000000,
                              "L-BFGS, Newton-CG: at most this many iterations", Scope::kFullBatch));
    {
      Field memory = integer_field("--lbfgs-memory", "lbfgs_memory", &RunSettings::lbfgs_memory, 0, 100000,
                                   "L-BFGS: the corrections kept (scipy's maxcor; 0 = chosen from the parameters and "
                                   "the rows: one per 100 rows, 10 to 200)",
                                   Scope::kFullBatch);
      memory.omitted = [](const RunSettings& o) { return o.lbfgs_memory == 0; };
      memory.check = [](const RunSettings& o) {
        if (o.lbfgs_memory != 0 && o.solver == Solver::kNewtonCg) {
          throw UsageError("--lbfgs-memory " + std::to_string(o.lbfgs_memory) +
                           " applies to --solver lbfgs; newton-cg keeps no corrections");
        }
      };
      t.push_back(memory);
    }
    t.push_back(integer_field("--eval-every", "eval_every", &RunSettings::eval_every, 0, 1000000,
                              "L-BFGS, Newton-CG: print the test accuracy every K iterations (0 = only at the end)", Scope::kFullBatch));
    {
      // Recorded by the feature path beside its data record (cmd_train_features.cpp), as IDX runs do not take it.
      Field standardize;
      standardize.flag = "--standardize";
      standardize.bind = [](CLI::App* sub, RunSettings* o) {
        return sub->add_flag("--standardize", o->standardize,
                             "Feature files: scale each feature to mean 0 and standard deviation 1 over the training "
                             "rows (scikit-learn's StandardScaler; CSR rows are scaled, not centred); the model "
                             "keeps the scaler and eval, predict and export apply it");
      };
      standardize.check = [](const RunSettings& o) {
        if (o.standardize && !is_feature_file(o.data)) {
          throw UsageError("--standardize applies to --data FILE (an .npz or svmlight file), not to IDX images");
        }
      };
      t.push_back(standardize);
    }
    for (Field f : {text_field("--sample-weight", "sample_weight", &RunSettings::sample_weight,
                               "Feature files (--data FILE), every solver: per-row weights, a 1-D float .npy of one "
                               "weight per training row (scikit-learn's sample_weight; an .npz may hold them as w_train)"),
                    text_field("--class-weight", "class_weight", &RunSettings::class_weight,
                               "Feature files (--data FILE), every solver: none, balanced, or a file of `LABEL WEIGHT` "
                               "lines (scikit-learn's class_weight)"),
                    bool_field("--no-intercept", "no_intercept", &RunSettings::no_intercept,
                               "Feature files (--data FILE), every solver: fit no bias, kept at 0 (scikit-learn's "
                               "fit_intercept=False)",
                               Scope::kAny)}) {
      // Feature files only: the IDX engines take neither weights nor a missing intercept. An IDX SGD run's record
      // leaves them out (it never had them).
      f.omitted = [](const RunSettings& o) { return !is_full_batch(o.solver) && !is_feature_file(o.data); };
      f.check = [flag = f.flag](const RunSettings& o) {
        if (o.is_given(flag) && (!o.data || std::filesystem::is_directory(*o.data))) {
          throw UsageError(std::string(flag) + " applies to --data FILE (an .npz or svmlight file), not to IDX image sets");
        }
      };
      t.push_back(f);
    }
    t.push_back(fact("data", [](const RunFacts& r) { return r.data; }));
    return t;
  }();
  return table;
}

const char* solver_of(Scope scope) { return scope == Scope::kFullBatch ? "lbfgs or newton-cg" : "sgd"; }

}  // namespace

void add_train_options(CLI::App* sub, RunSettings* opts) {
  for (const Field& f : fields()) {
    if (f.bind) f.bind(sub, opts);
  }
}

nlohmann::ordered_json settings_record(const RunSettings& o, const RunFacts& facts) {
  nlohmann::ordered_json s;
  s["program"] = "logreg_cuda 0.1.0";
  for (const Field& f : fields()) {
    if (f.key == nullptr || !f.record) continue;
    if (f.scope == Scope::kFullBatch && !is_full_batch(o.solver)) continue;
    if (f.omitted && f.omitted(o)) continue;
    s[f.key] = f.record(o, facts);
  }
  return s;
}

void validate_train_options(const RunSettings& o) {
  for (const Field& f : fields()) {
    if (f.check) f.check(o);
  }
  for (const char* flag : {"--lr-step", "--lr-gamma"}) {
    if (o.is_given(flag) && o.lr_schedule != LrSchedule::kStep) {
      throw UsageError(std::string(flag) + " applies to --lr-schedule step only, not --lr-schedule " +
                       lr_schedule_name(o.lr_schedule));
    }
  }
  validate_solver_options(o);
  validate_cuda_options(o, o.device == Device::kCpu || o.device == Device::kReference ? device_name(o.device) : "");
}

void validate_solver_options(const RunSettings& o) {
  // Each flag of one solver is refused with the other rather than silently ignored.
  const Scope other = is_full_batch(o.solver) ? Scope::kSgd : Scope::kFullBatch;
  for (const Field& f : fields()) {
    if (f.flag != nullptr && f.scope == other && o.is_given(f.flag)) {
      throw UsageError(std::string(f.flag) + " applies to --solver " + solver_of(other) + " only, not --solver " +
                       solver_name(o.solver));
    }
  }
  if (!is_full_batch(o.solver)) return;
  if (o.solver == Solver::kNewtonCg && o.loss != LossHead::kSoftmax) {
    throw UsageError(std::string("--solver newton-cg needs --loss softmax (its Hessian-vector product is the softmax "
                                 "head's), not --loss ") + loss_head_name(o.loss) + "; use --solver lbfgs for it");
  }
  if (o.solver == Solver::kNewtonCg && o.device == Device::kCuda) {
    throw UsageError("--solver newton-cg runs on --device cpu or reference");
  }
  if (o.is_given("--seed") && o.val_split == 0.0) {
    throw UsageError(std::string("--seed: --solver ") + solver_name(o.solver) + " starts from zeros and uses the seed "
                     "only for the validation split, so without --val-split the seed does nothing");
  }
  if (parse_c_values(o.C).size() > 1 && o.val_split == 0.0 && o.cv == 0) {
    throw UsageError("--C with several values (the regularisation path) needs a validation split (--val-split F) or "
                     "cross-validation (--cv K)");
  }
}

void validate_cuda_options(const RunSettings& o, const std::string& cpu_backend) {
  if (!cpu_backend.empty()) {
    for (const Field& f : fields()) {
      if (f.cuda_only && o.is_given(f.flag)) {
        throw UsageError(std::string(f.flag) + " applies to the CUDA backend only, and this run trains on " + cpu_backend);
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

CudaOptions cuda_options_of(const RunSettings& o) {
  CudaOptions c;
  c.profile_epoch = o.profile_epoch;
  c.residency = o.residency;
  c.cuda_graphs = o.cuda_graphs == "on";
  c.kernel = o.cuda_kernel;
  return c;
}

EarlyStopState apply_resumed_settings(RunSettings& o, const ModelFile& mf, std::string* data_dir) {
  const std::string& path = o.resume;
  EarlyStopState state;
  data_dir->clear();
  const nlohmann::json s = nlohmann::json::parse(mf.settings_json, nullptr, false);
  const bool readable = !s.is_discarded() && s.is_object();
  const nlohmann::json record = readable ? s : nlohmann::json::object();
  const SavedSettings saved(path, record, mf.model.head, mf.seed);
  if (!readable) {
    // Head and seed live in the file's header.
    for (const Field& f : fields()) {
      if (f.restore && (std::string(f.flag) == "--loss" || std::string(f.flag) == "--seed")) f.restore(o, saved, path);
    }
    std::cerr << "logreg_cuda: warning: " << path
              << " records no readable settings: only its loss head, seed and epoch count are restored; the other "
                 "settings come from the command line\n";
    return state;
  }
  // In the table's order, except the schedule first: whether a given --epochs is worth a warning depends on it.
  for (const Field& f : fields()) {
    if (f.restore && std::string(f.flag) == "--lr-schedule") f.restore(o, saved, path);
  }
  for (const Field& f : fields()) {
    if (f.restore && std::string(f.flag) != "--lr-schedule") f.restore(o, saved, path);
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

std::string settings_json_with_early_stop(nlohmann::ordered_json settings, const EarlyStopState& state) {
  if (std::isfinite(state.best_val_loss)) {
    settings["early_stop_state"] = {{"best_val_loss", state.best_val_loss}, {"best_val_epoch", state.best_val_epoch}};
  }
  return json_text(settings);
}

void check_val_rows(const RunSettings& o, std::size_t fitted_rows, std::size_t val_rows) {
  if (o.val_split == 0.0 || val_rows > 0) return;
  if (o.early_stop > 0) {
    throw UsageError("--early-stop needs validation rows, but --val-split " + json_text(o.val_split) + " of " +
                     std::to_string(fitted_rows) + " training rows rounds to 0 rows");
  }
  std::cerr << "logreg_cuda: warning: --val-split " << o.val_split << " of " << fitted_rows
            << " training rows rounds to 0 validation rows: no validation\n";
}

TrainConfig sgd_config(const RunSettings& o) {
  TrainConfig cfg;
  cfg.head = o.loss;
  cfg.schedule = o.lr_schedule;
  cfg.epochs = o.epochs;
  cfg.batch_size = o.batch_size;
  cfg.lr = static_cast<float>(o.lr);
  cfg.lr_step = o.lr_step;
  cfg.lr_gamma = static_cast<float>(o.lr_gamma);
  cfg.seed = o.seed;
  return cfg;
}

ResumedRun resume_run(RunSettings& o) {
  ResumedRun out;
  out.file = load_model_file(o.resume);
  const ModelFile& mf = out.file;
  const bool feature_model = !mf.class_labels.empty();  // versions 2 and 3: trained on a feature file
  const nlohmann::json saved = nlohmann::json::parse(mf.settings_json, nullptr, false);
  Solver saved_solver = Solver::kSgd;
  if (saved.is_object() && saved.contains("solver") && saved["solver"].is_string() &&
      parse_solver(saved["solver"].get<std::string>(), &saved_solver) && is_full_batch(saved_solver)) {
    const std::string start_sgd =
        feature_model ? "train --data FILE --init " + o.resume
                      : "export --model " + o.resume + " --out FILE.safetensors, then train --init FILE.safetensors";
    throw UsageError("--resume " + o.resume + ": the model was fitted by --solver " + solver_name(saved_solver) +
                     ", which leaves no SGD epochs or momentum to continue, and --resume continues SGD runs only. "
                     "Refit it with --solver " + solver_name(saved_solver) + ", or start SGD from its weights: " + start_sgd);
  }
  if (feature_model != is_feature_file(o.data)) {
    std::string trained_on;
    if (saved.is_object() && saved.contains("data") && saved["data"].is_object() && saved["data"].contains("files") &&
        saved["data"]["files"].is_array() && !saved["data"]["files"].empty() &&
        saved["data"]["files"][0].is_object() && saved["data"]["files"][0].value("path", nlohmann::json()).is_string()) {
      trained_on = " (" + saved["data"]["files"][0]["path"].get<std::string>() + ")";
    }
    throw UsageError(feature_model ? "--resume " + o.resume + ": the model was trained on a feature file" + trained_on +
                                         " (it holds class labels); give that file as --data FILE"
                                   : "--resume " + o.resume + ": the model was trained on IDX images (it holds no class "
                                         "labels), not on a feature file like " + *o.data);
  }
  std::string saved_dir;
  out.early_stop = apply_resumed_settings(o, mf, &saved_dir);
  validate_train_options(o);
  if (!o.data && !saved_dir.empty() && std::filesystem::is_directory(saved_dir)) {
    o.data = saved_dir;
    std::cerr << "logreg_cuda: using the data " << o.resume << " was trained on: " << saved_dir << " (no --data given)\n";
  }
  if (static_cast<std::int64_t>(mf.epochs_done) >= o.epochs) {
    throw UsageError("--resume " + o.resume + ": its run has " + std::to_string(mf.epochs_done) +
                     " epochs done and trains to --epochs " + std::to_string(o.epochs) +
                     "; give --epochs N with N > " + std::to_string(mf.epochs_done) + " to train further");
  }
  return out;
}

}  // namespace logreg::cli
