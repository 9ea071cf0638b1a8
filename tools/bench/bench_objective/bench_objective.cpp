// bench_objective: the milliseconds of the fast CPU backend's primitives that a full-batch L-BFGS fit repeats,
// on the first --rows training rows of a data set (default: Debian's Fashion-MNIST): one objective evaluation
// (full_batch_objective: logits, loss, gradient) at 1 and 2 threads and on the reference backend, and the test
// set's logits for the printed accuracy (compute_logits on the shared team, and the scalar reference). Prints a
// table of the median and best wall time of --repeats runs after a warm-up, and the median CPU time (all
// threads: on a busy machine it shows the work apart from the waiting); asserts nothing (tests check the values).
//
// With --lbfgs-memory M1,M2,... it instead fits the rows with minimize_lbfgs (solver.hpp) from zeros at C = 1 and
// --tol for each number of corrections M, and prints the iterations and objective evaluations at which the
// objective first reached --target (e.g. scikit-learn's final objective) and at convergence. With --newton-cg
// E1,E2,... it fits them with minimize_newton_cg for each CG forcing term E (NewtonCgConfig::cg_forcing) and
// prints the same, with the Hessian-vector products: passes over the rows = evaluations + products.
// With --compare it fits them with both full-batch solvers at their defaults (L-BFGS, 20 corrections; Newton-CG)
// alternately over --rounds rounds and prints, per run, the passes, iterations, wall and CPU seconds to --target
// and to convergence, the final objective and the test accuracy, with the load average before and after.
//
// usage: bench_objective [--data DIR] [--rows 10000] [--repeats 30]
//                        [--lbfgs-memory 5,10,20 | --newton-cg 0.1,0.5 | --compare [--rounds 2]] [--target F]
//                        [--tol 1e-6] [--model FILE (the model of the test-set rows)]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "logreg/cpu_fast.hpp"
#include "logreg/cpu_reference.hpp"
#include "logreg/data_source.hpp"
#include "logreg/evaluation.hpp"
#include "logreg/maths/objective_math.hpp"
#include "logreg/model.hpp"
#include "logreg/model_file.hpp"
#include "logreg/rng.hpp"
#include "logreg/solver.hpp"
#include "bounded_predictions.hpp"
#include "logit_rows.hpp"

namespace {

struct Timing {
  double median_ms;
  double best_ms;
  double cpu_ms;  // the process's CPU time per run, median: all threads, spinning workers included
};

double process_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return 1e3 * static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_nsec);
}

Timing time_it(int repeats, const std::function<void()>& f) {
  f();  // warm-up: caches, lazily started threads, first-touch pages
  std::vector<double> ms, cpu;
  for (int r = 0; r < repeats; ++r) {
    const double c0 = process_cpu_ms();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    cpu.push_back(process_cpu_ms() - c0);
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  return {ms[ms.size() / 2], ms.front(), cpu[cpu.size() / 2]};
}

// The first iteration of a fit at which its objective reached the target (iteration 0: never), and what it had
// cost by then.
struct TargetHit {
  double target;
  double cpu0;  // process_cpu_ms() at the start of the fit
  int iteration = 0, evaluations = 0, products = 0;
  double seconds = 0.0, cpu_seconds = 0.0;

  bool see(const logreg::LbfgsIteration& it) {
    if (iteration == 0 && it.objective <= target) {
      iteration = it.iteration;
      evaluations = it.evaluations;
      products = it.hessian_products;
      seconds = it.seconds;
      cpu_seconds = (process_cpu_ms() - cpu0) / 1e3;
    }
    return true;  // never stops the fit
  }
};

// "a,b,c" -> {"a", "b", "c"}.
std::vector<std::string> comma_list(const std::string& text) {
  std::vector<std::string> items;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    items.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

void row(const char* what, std::size_t rows, const Timing& t) {
  std::printf("| %s | %zu | %.3f | %.3f | %.3f | %.2f |\n", what, rows, t.median_ms, t.best_ms, t.cpu_ms,
              static_cast<double>(rows) / t.median_ms / 1000.0);
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<std::string> data_dir;
  std::size_t rows = 10000;
  int repeats = 30;
  std::string memories;
  std::string forcings;
  bool compare = false;
  std::string model_path;
  int rounds = 2;
  double target = 0.0;
  double tol = 1e-6;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--data" && i + 1 < argc) {
      data_dir = argv[++i];
    } else if (a == "--rows" && i + 1 < argc) {
      rows = std::strtoul(argv[++i], nullptr, 10);
    } else if (a == "--repeats" && i + 1 < argc) {
      repeats = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--lbfgs-memory" && i + 1 < argc) {
      memories = argv[++i];
    } else if (a == "--model" && i + 1 < argc) {
      model_path = argv[++i];
    } else if (a == "--compare") {
      compare = true;
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--newton-cg" && i + 1 < argc) {
      forcings = argv[++i];
    } else if (a == "--target" && i + 1 < argc) {
      target = std::strtod(argv[++i], nullptr);
    } else if (a == "--tol" && i + 1 < argc) {
      tol = std::strtod(argv[++i], nullptr);
    } else {
      std::fprintf(stderr, "usage: bench_objective [--data DIR] [--rows N] [--repeats K] "
                           "[--lbfgs-memory M1,M2,... | --newton-cg E1,E2,... | --compare [--rounds R]] [--target F] "
                           "[--tol T]\n");
      return 2;
    }
  }
  try {
    std::string note;
    const logreg::Dataset data = logreg::load_dataset(logreg::locate_data(data_dir, &note));
    rows = std::min<std::size_t>(rows == 0 ? data.train_images.count : rows, data.train_images.count);
    const int C = data.num_classes;
    const int D = static_cast<int>(data.train_images.dim());
    std::vector<std::uint32_t> fit(rows);
    std::iota(fit.begin(), fit.end(), 0u);
    // A point like the middle of a fit: small random weights (the cost does not depend on the values).
    logreg::Rng rng(1, 2);
    std::vector<double> params(static_cast<std::size_t>(C) * D + C);
    for (double& v : params) v = 0.01 * (static_cast<double>(rng.below(1u << 20)) / (1u << 20) - 0.5);
    std::vector<double> grad(params.size());
    const double l2 = logreg::l2_strength(1.0, static_cast<double>(rows));
    const logreg::Model shape = logreg::init_model(D, C, logreg::LossHead::kSoftmax, 0);

    if (compare) {
      const auto backend = logreg::make_cpu_fast_full_batch_engine(data.train_images, data.train_labels, shape);
      double load[3] = {0, 0, 0};
      getloadavg(load, 3);
      std::printf("L-BFGS and Newton-CG from zeros, C 1, tol %g, first %zu rows (%s); target objective %.10f; "
                  "load average %.2f %.2f %.2f\n\n", tol, rows, backend->name().c_str(), target, load[0], load[1],
                  load[2]);
      std::printf("| round | solver | to the target: iteration, passes, wall s, CPU s | converged: iterations, "
                  "passes (evaluations + products), wall s, CPU s | objective | test accuracy |\n"
                  "| --- | --- | --- | --- | --- | --- |\n");
      for (int round = 1; round <= rounds; ++round) {
        for (const logreg::Solver solver : {logreg::Solver::kLbfgs, logreg::Solver::kNewtonCg}) {
          const double cpu0 = process_cpu_ms();
          TargetHit hit{target, cpu0};
          auto on_iteration = [&](const logreg::LbfgsIteration& it) { return hit.see(it); };
          auto f = [&](const double* x, double* g) { return backend->full_batch_objective(fit, x, l2, g); };
          logreg::LbfgsResult r;
          if (solver == logreg::Solver::kLbfgs) {
            logreg::LbfgsConfig config;
            config.tol = tol;
            config.max_iter = 100000;
            r = logreg::minimize_lbfgs(f, std::vector<double>(params.size(), 0.0), config, on_iteration);
          } else {
            logreg::NewtonCgConfig config;
            config.tol = tol;
            config.max_iter = 100000;
            r = logreg::minimize_newton_cg(
                f,
                [&](const double* x, const double* v, double* hv) {
                  backend->full_batch_hessian_vector(fit, x, l2, v, hv);
                },
                std::vector<double>(params.size(), 0.0), config, on_iteration);
          }
          const double cpu = (process_cpu_ms() - cpu0) / 1e3;
          logreg::Model model = shape;
          for (std::size_t j = 0; j < model.weights.size(); ++j) model.weights[j] = static_cast<float>(r.x[j]);
          for (int c = 0; c < C; ++c) model.bias[static_cast<std::size_t>(c)] = static_cast<float>(r.x[model.weights.size() + c]);
          const double accuracy = logreg::accuracy_percent(model, data.test_images, data.test_labels);
          std::printf("| %d | %s | %d, %d, %.2f, %.2f | %d (%s), %d (%d + %d), %.2f, %.2f | %.10f | %.2f |\n", round,
                      logreg::solver_name(solver), hit.iteration, hit.evaluations + hit.products, hit.seconds, hit.cpu_seconds, r.iterations,
                      r.converged() ? "converged" : "not converged", r.evaluations + r.hessian_products, r.evaluations,
                      r.hessian_products, r.seconds, cpu, r.objective, accuracy);
          std::fflush(stdout);
        }
      }
      getloadavg(load, 3);
      std::printf("\nload average after: %.2f %.2f %.2f\n", load[0], load[1], load[2]);
      return 0;
    }
    if (!forcings.empty()) {
      const auto backend = logreg::make_cpu_fast_full_batch_engine(data.train_images, data.train_labels, shape);
      std::printf("Newton-CG from zeros, C 1, tol %g, first %zu rows; target objective %.10f\n\n", tol, rows, target);
      std::printf("| CG forcing | to the target: iteration, evaluations + products = passes, s, CPU s | converged: "
                  "iterations, passes, objective, s, CPU s |\n| --- | --- | --- |\n");
      for (const std::string& forcing : comma_list(forcings)) {
        logreg::NewtonCgConfig config;
        config.cg_forcing = std::strtod(forcing.c_str(), nullptr);
        config.tol = tol;
        config.max_iter = 100000;
        const double cpu0 = process_cpu_ms();
        TargetHit hit{target, cpu0};
        const logreg::LbfgsResult r = logreg::minimize_newton_cg(
            [&](const double* x, double* g) { return backend->full_batch_objective(fit, x, l2, g); },
            [&](const double* x, const double* v, double* hv) {
              backend->full_batch_hessian_vector(fit, x, l2, v, hv);
            },
            std::vector<double>(params.size(), 0.0), config,
            [&](const logreg::LbfgsIteration& it) { return hit.see(it); });
        const double cpu = (process_cpu_ms() - cpu0) / 1e3;
        std::printf("| %g | %d, %d + %d = %d, %.2f, %.2f | %d, %d, %.10f, %.2f, %.2f (%s) |\n", config.cg_forcing,
                    hit.iteration, hit.evaluations, hit.products, hit.evaluations + hit.products, hit.seconds, hit.cpu_seconds,
                    r.iterations, r.evaluations + r.hessian_products, r.objective, r.seconds, cpu, r.reason.c_str());
        std::fflush(stdout);
      }
      return 0;
    }
    if (!memories.empty()) {
      const auto backend = logreg::make_cpu_fast_full_batch_engine(data.train_images, data.train_labels, shape);
      std::printf("L-BFGS from zeros, C 1, tol %g, first %zu rows; target objective %.10f\n\n", tol, rows, target);
      std::printf("| corrections m | to the target: iteration, evaluations, s | converged: iterations, evaluations, "
                  "objective, s |\n| --- | --- | --- |\n");
      for (const std::string& memory : comma_list(memories)) {
        logreg::LbfgsConfig config;
        config.memory = std::atoi(memory.c_str());
        config.tol = tol;
        config.max_iter = 100000;
        TargetHit hit{target, process_cpu_ms()};
        const logreg::LbfgsResult r = logreg::minimize_lbfgs(
            [&](const double* x, double* g) { return backend->full_batch_objective(fit, x, l2, g); },
            std::vector<double>(params.size(), 0.0), config,
            [&](const logreg::LbfgsIteration& it) { return hit.see(it); });
        std::printf("| %d | %d, %d, %.2f | %d, %d, %.10f, %.2f (%s) |\n", config.memory, hit.iteration, hit.evaluations,
                    hit.seconds, r.iterations, r.evaluations, r.objective, r.seconds, r.reason.c_str());
        std::fflush(stdout);
      }
      return 0;
    }
    std::printf("%s, first %zu training rows, %d classes, %d pixels; test set %u rows; median and best of %d\n\n",
                data.name.c_str(), rows, C, D, data.test_images.count, repeats);
    std::printf("| primitive | rows | median ms | best ms | CPU ms | M rows/s |\n| --- | --- | --- | --- | --- | --- |\n");
    for (const int threads : {1, 2}) {
      const auto backend = logreg::make_cpu_fast_full_batch_engine(data.train_images, data.train_labels, shape, threads);
      const std::string what = "full_batch_objective, cpu, " + std::to_string(threads) + " thread" +
                               (threads == 1 ? "" : "s") + " (" + backend->name() + ")";
      row(what.c_str(), rows, time_it(repeats, [&] { backend->full_batch_objective(fit, params.data(), l2, grad.data()); }));
    }
    {
      const auto backend = logreg::make_cpu_fast_full_batch_engine(data.train_images, data.train_labels, shape, 2);
      std::vector<double> v(params.size()), hv(params.size());
      for (double& x : v) x = static_cast<double>(rng.below(1u << 20)) / (1u << 20) - 0.5;
      backend->full_batch_objective(fit, params.data(), l2, grad.data());  // keeps the probabilities at params
      row("full_batch_hessian_vector, cpu, 2 threads (Newton-CG)", rows,
          time_it(repeats, [&] { backend->full_batch_hessian_vector(fit, params.data(), l2, v.data(), hv.data()); }));
    }
    const auto reference = logreg::make_cpu_reference_full_batch_engine(data.train_images, data.train_labels, shape);
    row("full_batch_objective, reference (1 thread)", rows,
        time_it(std::max(1, repeats / 10), [&] { reference->full_batch_objective(fit, params.data(), l2, grad.data()); }));

    // The test-set rows: at a fitted model (--model) the float32 predictions' margins are those of a real run.
    logreg::Model model = shape;
    for (std::size_t j = 0; j < model.weights.size(); ++j) model.weights[j] = static_cast<float>(params[j]);
    if (!model_path.empty()) model = logreg::load_model_file(model_path).model;
    const std::size_t n_test = data.test_images.count;
    {
      const logreg::cpu::BoundedPredictor bounded = logreg::cpu::BoundedPredictor::of(model);
      std::vector<int> predicted(n_test);
      if (bounded.usable) {
        const std::size_t fallbacks =
            logreg::cpu::predict_rows_bounded(bounded, model, data.test_images, 0, n_test, predicted.data());
        std::printf("(accuracy_percent: %zu of the %zu test rows within the float32 bound, given the reference's "
                    "logits; model %s)\n",
                    fallbacks, n_test, model_path.empty() ? "random, as the objective's point" : model_path.c_str());
        row("predict_rows_bounded alone (float32 + the bound), 1 thread", n_test, time_it(repeats, [&] {
              logreg::cpu::predict_rows_bounded(bounded, model, data.test_images, 0, n_test, predicted.data());
            }));
      }
    }
    row("accuracy_percent (the printed test accuracy), shared team", n_test,
        time_it(repeats, [&] { logreg::accuracy_percent(model, data.test_images, data.test_labels); }));
    row("evaluate_model (loss, confusion matrix), shared team", n_test,
        time_it(repeats, [&] { logreg::evaluate_model(model, data.test_images, data.test_labels); }));
    std::vector<float> logits(n_test * static_cast<std::size_t>(C));
    row("logits, scalar reference (1 thread)", n_test, time_it(std::max(1, repeats / 10), [&] {
          logreg::cpu::reference_logit_rows(model, data.test_images, 0, n_test, logits.data());
        }));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_objective: %s\n", e.what());
    return 1;
  }
  return 0;
}
