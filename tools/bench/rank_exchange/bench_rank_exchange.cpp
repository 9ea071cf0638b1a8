// bench_rank_exchange: the time of one exchange of part sums between MPI ranks (ranks::allgather_parts), the
// step a data-parallel solver pays per evaluation (L-BFGS: 8 parts) or would pay per SGD step (a batch's
// gradient in one part per rank, added in rank order). Prints a table: parts, doubles per part, median and 90th
// percentile microseconds over --repeats exchanges after a warm-up, and the load average. Not here: the
// objective's compute (bench_objective), the fits themselves (tools/bench/bench_mpi.py).
//
// usage: mpirun -np N bench_rank_exchange [--repeats 2000] [--classes 10] [--dim 784]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "logreg/ranks.hpp"

namespace {

struct Options {
  int repeats = 2000;
  std::size_t classes = 10;
  std::size_t dim = 784;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const long value = std::strtol(argv[i + 1], nullptr, 10);
    if (value <= 0) {
      std::fprintf(stderr, "bench_rank_exchange: %s needs a positive number\n", argv[i]);
      std::exit(2);
    }
    if (flag == "--repeats") o.repeats = static_cast<int>(value);
    else if (flag == "--classes") o.classes = static_cast<std::size_t>(value);
    else if (flag == "--dim") o.dim = static_cast<std::size_t>(value);
    else {
      std::fprintf(stderr, "bench_rank_exchange: unknown option %s\n", argv[i]);
      std::exit(2);
    }
  }
  return o;
}

// Median and 90th percentile of `repeats` exchanges of (parts, stride) doubles, in microseconds.
std::pair<double, double> time_exchange(int parts, std::size_t stride, int repeats) {
  std::vector<double> buffer(static_cast<std::size_t>(parts) * stride, 1.0);
  std::vector<double> us;
  for (int r = 0; r < repeats + repeats / 10; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    logreg::ranks::allgather_parts(buffer.data(), parts, stride);
    const auto t1 = std::chrono::steady_clock::now();
    if (r >= repeats / 10) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 9 / 10]};
}

}  // namespace

int main(int argc, char** argv) {
  logreg::ranks::start(&argc, &argv);
  const Options o = parse(argc, argv);
  const std::size_t stride = o.classes * o.dim + o.classes + 1;  // a part's gradient, bias sums and loss
  const int n = logreg::ranks::size();
  double load = 0.0;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1) load = 0.0;
    std::fclose(f);
  }
  const std::pair<double, double> lbfgs = time_exchange(8, stride, o.repeats);
  const std::pair<double, double> sgd = time_exchange(n, stride, o.repeats);
  if (logreg::ranks::is_root()) {
    std::printf("| ranks | exchange | parts x doubles | median us | p90 us |\n| ---: | --- | --- | ---: | ---: |\n");
    std::printf("| %d | full-batch evaluation | 8 x %zu | %.1f | %.1f |\n", n, stride, lbfgs.first, lbfgs.second);
    std::printf("| %d | one SGD step (a part per rank) | %d x %zu | %.1f | %.1f |\n", n, n, stride, sgd.first, sgd.second);
    std::printf("load average %.2f at the start\n", load);
  }
  logreg::ranks::finish();
  return 0;
}
