// AddElapsed: adds the wall time of a scope to a running total, so the full-batch solvers can report how much of a
// fit went into the objective's evaluations (LbfgsIteration::evaluation_seconds) and how much was their own work.
// Not here: the solvers (lbfgs_solver.cpp, newton_cg_solver.cpp).
#pragma once

#include <chrono>

namespace logreg {

class AddElapsed {
 public:
  explicit AddElapsed(double* total) : total_(total), start_(std::chrono::steady_clock::now()) {}
  ~AddElapsed() { *total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }
  AddElapsed(const AddElapsed&) = delete;
  AddElapsed& operator=(const AddElapsed&) = delete;

 private:
  double* total_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace logreg
