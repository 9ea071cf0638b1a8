// bench_objective: the milliseconds of the fast CPU backend's primitives that a full-batch L-BFGS fit repeats,
// on the first --rows training rows of a data set (default: Debian's Fashion-MNIST): one objective evaluation
// (full_batch_objective: logits, loss, gradient) at 1 and 2 threads and on the reference backend, and the test
// set's logits for the printed accuracy (compute_logits on the shared team, and the scalar reference). Prints a
// table of the median and best wall time of --repeats runs after a warm-up, and the median CPU time (all
// threads: on a busy machine it shows the work apart from the waiting); asserts nothing (tests check the values).
//
// With --lbfgs-memory M1,M2,... it instead fits the rows with minimize_lbfgs (solver.hpp) from zeros at C = 1 and
// --tol for each number of corrections M, and prints the iterations and objective evaluations at which the
// objective first reached --target (e.g. scikit-learn's final objective) and at convergence.
//
// usage: bench_objective [--data DIR] [--rows 10000] [--repeats 30]
//                        [--lbfgs-memory 5,10,20 --target F [--tol 1e-6]]
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
#include "logreg/rng.hpp"
#include "logreg/solver.hpp"
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
    } else if (a == "--target" && i + 1 < argc) {
      target = std::strtod(argv[++i], nullptr);
    } else if (a == "--tol" && i + 1 < argc) {
      tol = std::strtod(argv[++i], nullptr);
    } else {
      std::fprintf(stderr, "usage: bench_objective [--data DIR] [--rows N] [--repeats K] "
                           "[--lbfgs-memory M1,M2,... --target F [--tol T]]\n");
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

    if (!memories.empty()) {
      const auto backend = logreg::make_cpu_fast_backend(data.train_images, data.train_labels, shape);
      std::printf("L-BFGS from zeros, C 1, tol %g, first %zu rows; target objective %.10f\n\n", tol, rows, target);
      std::printf("| corrections m | to the target: iteration, evaluations, s | converged: iterations, evaluations, "
                  "objective, s |\n| --- | --- | --- |\n");
      for (std::size_t start = 0; start < memories.size();) {
        const std::size_t comma = std::min(memories.find(',', start), memories.size());
        logreg::LbfgsConfig config;
        config.memory = std::atoi(memories.substr(start, comma - start).c_str());
        config.tol = tol;
        config.max_iter = 100000;
        start = comma + 1;
        int hit_iteration = 0, hit_evaluations = 0;
        double hit_seconds = 0.0;
        const logreg::LbfgsResult r = logreg::minimize_lbfgs(
            [&](const double* x, double* g) { return backend->full_batch_objective(fit, x, l2, g); },
            std::vector<double>(params.size(), 0.0), config, [&](const logreg::LbfgsIteration& it) {
              if (hit_iteration == 0 && it.objective <= target) {
                hit_iteration = it.iteration;
                hit_evaluations = it.evaluations;
                hit_seconds = it.seconds;
              }
              return true;
            });
        std::printf("| %d | %d, %d, %.2f | %d, %d, %.10f, %.2f (%s) |\n", config.memory, hit_iteration, hit_evaluations,
                    hit_seconds, r.iterations, r.evaluations, r.objective, r.seconds, r.reason.c_str());
        std::fflush(stdout);
      }
      return 0;
    }
    std::printf("%s, first %zu training rows, %d classes, %d pixels; test set %u rows; median and best of %d\n\n",
                data.name.c_str(), rows, C, D, data.test_images.count, repeats);
    std::printf("| primitive | rows | median ms | best ms | CPU ms | M rows/s |\n| --- | --- | --- | --- | --- | --- |\n");
    for (const int threads : {1, 2}) {
      const auto backend = logreg::make_cpu_fast_backend(data.train_images, data.train_labels, shape, {}, {}, threads);
      const std::string what = "full_batch_objective, cpu, " + std::to_string(threads) + " thread" +
                               (threads == 1 ? "" : "s") + " (" + backend->name() + ")";
      row(what.c_str(), rows, time_it(repeats, [&] { backend->full_batch_objective(fit, params.data(), l2, grad.data()); }));
    }
    const auto reference = logreg::make_cpu_reference_backend(data.train_images, data.train_labels, shape);
    row("full_batch_objective, reference (1 thread)", rows,
        time_it(std::max(1, repeats / 10), [&] { reference->full_batch_objective(fit, params.data(), l2, grad.data()); }));

    logreg::Model model = shape;
    for (std::size_t j = 0; j < model.weights.size(); ++j) model.weights[j] = static_cast<float>(params[j]);
    const std::size_t n_test = data.test_images.count;
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
