// The solvers of `train --solver` (a name table) and the two full-batch drivers: libLBFGS minimises a function
// it sees only as "value and gradient at these parameters" (a backend's full_batch_objective); the trust-region
// Newton-CG also asks for "the Hessian at these parameters times v" (full_batch_hessian_vector). Both apply
// scikit-learn's stopping rule and say why they stopped. L-BFGS also minimises f + l1 ||x_weights||_1 (libLBFGS's
// orthant-wise OWL-QN) for the L1 and elastic-net penalties (`--penalty`, a name table). Not here: the maths (maths/objective_math.hpp), the
// backends, the output lines (src/cli/).
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "logreg/name_table.hpp"

namespace logreg {

enum class Solver { kSgd, kLbfgs, kNewtonCg };

inline constexpr NameTable<Solver, 3> kSolverNames = {{
    {Solver::kSgd, "sgd", "mini-batch SGD over epochs, the tutorial's method"},
    {Solver::kLbfgs, "lbfgs", "full-batch L-BFGS to the optimum of scikit-learn's regularised objective"},
    {Solver::kNewtonCg, "newton-cg",
     "full-batch trust-region Newton-CG (liblinear's TRON) to the same optimum; --loss softmax, --device cpu or "
     "reference"},
}};

// The full-batch solvers (the flags --C, --tol, --max-iter, --eval-every; no SGD epochs).
inline bool is_full_batch(Solver s) { return s == Solver::kLbfgs || s == Solver::kNewtonCg; }

inline const char* solver_name(Solver s) { return name_of(kSolverNames, s); }
inline bool parse_solver(const std::string& s, Solver* out) { return parse_name(kSolverNames, s, out); }

// The penalty of the full-batch objective (maths/objective_math.hpp, penalty_strengths): scikit-learn's names.
enum class Penalty { kL2, kL1, kElasticNet, kNone };

inline constexpr NameTable<Penalty, 4> kPenaltyNames = {{
    {Penalty::kL2, "l2", "||W||^2 / 2, scikit-learn's default; every full-batch solver"},
    {Penalty::kL1, "l1", "||W||_1, sparse weights; --solver lbfgs only, by OWL-QN"},
    {Penalty::kElasticNet, "elasticnet",
     "(1 - R) ||W||^2 / 2 + R ||W||_1 with R = --l1-ratio; --solver lbfgs only, by OWL-QN"},
    {Penalty::kNone, "none", "no penalty; --C is ignored"},
}};

inline const char* penalty_name(Penalty p) { return name_of(kPenaltyNames, p); }
// The share r of the penalty that is L1 (objective_math.hpp's l1_ratio): 0 for l2 and none, 1 for l1.
inline double l1_ratio_of(Penalty p, double elasticnet_ratio) {
  return p == Penalty::kL1 ? 1.0 : p == Penalty::kElasticNet ? elasticnet_ratio : 0.0;
}
// Whether the penalty has an L1 part (OWL-QN, --solver lbfgs only).
inline bool has_l1(Penalty p) { return p == Penalty::kL1 || p == Penalty::kElasticNet; }

// Parameters from which L-BFGS keeps scikit-learn's 10 corrections when an evaluation's cost is not known
// (lbfgs_memory).
constexpr std::size_t kLbfgsLargeParameters = 1000000;
// The most corrections the automatic choice keeps, and the most bytes their 2m vectors of n doubles may take.
constexpr int kLbfgsMaxAutoMemory = 200;
constexpr double kLbfgsMemoryBytes = 256.0 * 1024 * 1024;

// The corrections kept for n parameters when LbfgsConfig::memory is 0. libLBFGS's own work per iteration grows
// with m (about 4 m n serial flops: 1.3 ns per correction and parameter in Debian's scalar build), while an
// evaluation costs about `dense_rows` n multiply-adds twice: so m is one per 100 dense rows of an evaluation,
// which keeps libLBFGS's work below about half an evaluation's on the CPU engines, from 10 (scipy's maxcor, as
// scikit-learn) to kLbfgsMaxAutoMemory, and within kLbfgsMemoryBytes. Ill-conditioned fits gain the most:
// Fashion-MNIST at C = 1 needs 2.5x (10,000 rows, m = 100) and 4.2x (60,000 rows, m = 200) fewer evaluations
// than with 20 (docs/solvers.md). dense_rows 0 (an engine whose evaluation cost is not modelled, the GPU's):
// 20, or 10 from kLbfgsLargeParameters on.
inline int lbfgs_memory(std::size_t n, double dense_rows = 0.0) {
  if (!(dense_rows > 0.0)) return n >= kLbfgsLargeParameters ? 10 : 20;
  const double by_rows = std::min(dense_rows / 100.0, static_cast<double>(kLbfgsMaxAutoMemory));
  const double by_bytes = kLbfgsMemoryBytes / (16.0 * static_cast<double>(std::max<std::size_t>(n, 1)));
  return std::max(10, static_cast<int>(std::min(by_rows, by_bytes)));
}

struct LbfgsConfig {
  double tol = 1e-4;        // converged when max_j |df/dx_j| <= tol (scikit-learn's tol, scipy's gtol)
  int max_iter = 100;       // iterations at most (scikit-learn's max_iter)
  int memory = 0;           // corrections kept; 0: lbfgs_memory(the parameter count, dense_rows)
  double dense_rows = 0.0;  // one evaluation's work in dense rows: rows x the share of their features stored
                            // (0: not modelled); only for the automatic memory
  int max_linesearch = 50;  // function evaluations per line search at most (scikit-learn's maxls)
  double l1 = 0.0;          // > 0: minimise f(x) + l1 sum_{j < l1_count} |x_j| by OWL-QN (the L1 term's weights
  std::size_t l1_count = 0; // are the first l1_count parameters: W, never the bias)
};

struct NewtonCgConfig {
  double tol = 1e-4;     // converged when max_j |df/dx_j| <= tol, as LbfgsConfig
  int max_iter = 100;    // accepted Newton steps at most
  int max_cg = 200;      // conjugate-gradient steps (Hessian-vector products) per Newton step at most
  double cg_forcing = 0.1;  // CG stops when |residual| <= min(cg_forcing, sqrt(|g|)) |g| (2-norms)
};

// Why the solver stopped. kGradientTol and kNoDecrease are convergence, as scipy's L-BFGS-B reports them to
// scikit-learn (status 0: "CONVERGENCE: NORM_OF_PROJECTED_GRADIENT_<=_PGTOL" or "REL_REDUCTION_OF_F_<=_FACTR*EPSMCH");
// the others are not.
enum class LbfgsStop { kGradientTol, kNoDecrease, kMaxIter, kLineSearch, kStopRequested };

// One iteration, as the solver reports it after its line search.
struct LbfgsIteration {
  int iteration = 0;       // 1-based
  double objective = 0.0;  // f at the new point
  double grad_max = 0.0;   // max_j |df/dx_j| at the new point
  double step = 0.0;       // L-BFGS: the line search's step along the search direction; Newton-CG: |s|, the
                           // accepted step's 2-norm
  int evaluations = 0;     // objective evaluations so far (line searches and rejected trial steps included)
  int hessian_products = 0;  // Hessian-vector products so far (Newton-CG; 0 for L-BFGS)
  double seconds = 0.0;    // since the solver started
  double evaluation_seconds = 0.0;  // of seconds, in the objective and Hessian-vector products (the rest: the solver's)
  const double* x = nullptr;  // (n) the new point, valid during the callback
};

struct LbfgsResult {
  std::vector<double> x;  // the last accepted point (the start when no iteration was accepted)
  int iterations = 0;
  double objective = 0.0;
  double grad_max = 0.0;
  int evaluations = 0;
  int hessian_products = 0;
  int memory = 0;          // L-BFGS: the corrections kept (LbfgsConfig::memory, or lbfgs_memory's choice)
  double seconds = 0.0;
  double evaluation_seconds = 0.0;  // of seconds, in the objective and Hessian-vector products
  LbfgsStop stop = LbfgsStop::kMaxIter;
  std::string reason;  // for people: "max |gradient| 8.1e-09 <= tol 1e-08", "max-iter 100 reached", ...
  bool converged() const { return stop == LbfgsStop::kGradientTol || stop == LbfgsStop::kNoDecrease; }
};

// f(x, grad): writes grad (n) and returns the value at x (n).
using ObjectiveFunction = std::function<double(const double* x, double* grad)>;

// Minimises f from x0 with libLBFGS (More-Thuente line search, `memory` corrections, 0: lbfgs_memory(n)). With config.l1 > 0 it
// minimises f + l1 ||x_[0, l1_count)||_1 instead by libLBFGS's orthant-wise OWL-QN (its backtracking line
// search, the only one libLBFGS allows there; iterates keep exact zeros): the objective it reports includes the
// L1 term, and the gradient it reports and tests is the pseudo-gradient (l1_pseudo_grad). Stops when the
// gradient's max-norm is <= tol (at x0 too: 0 iterations), after max_iter iterations, when the objective's
// relative decrease falls below 64 machine epsilons (scipy's ftol, which scikit-learn uses), when the line
// search cannot decrease f (rounding errors), or when on_iteration returns false. An exception thrown by
// f is rethrown here. Deterministic: the same f and x0 give the same iterates.
LbfgsResult minimize_lbfgs(const ObjectiveFunction& f, std::vector<double> x0, const LbfgsConfig& config,
                           const std::function<bool(const LbfgsIteration&)>& on_iteration = {});

// hv (n) = the Hessian of f at x (n) times v (n).
using HessianVectorFunction = std::function<void(const double* x, const double* v, double* hv)>;

// Minimises f from x0 by trust-region Newton-CG, as liblinear's TRON: each step solves H s = -g approximately
// by conjugate gradients inside the trust region (Steihaug), is accepted when the objective's actual decrease
// is at least 1e-4 of the quadratic model's, and the region grows or shrinks by how well the model predicted.
// Stops as minimize_lbfgs: max |gradient| <= tol, max_iter accepted steps, the actual and predicted decrease
// both below 64 machine epsilons of f (converged, scipy's ftol), no decrease possible, or on_iteration false.
// Iterations are accepted steps. stop_requested, when given, is polled after every Hessian-vector product and
// objective evaluation (a Newton step can take hundreds): true ends the run at the last accepted point
// (kStopRequested) within one pass. Deterministic.
LbfgsResult minimize_newton_cg(const ObjectiveFunction& f, const HessianVectorFunction& hv, std::vector<double> x0,
                               const NewtonCgConfig& config,
                               const std::function<bool(const LbfgsIteration&)>& on_iteration = {},
                               const std::function<bool()>& stop_requested = {});

// max_j |g_j|
double max_abs(const std::vector<double>& g);

}  // namespace logreg
