// minimize_lbfgs (solver.hpp): libLBFGS driven through its C callbacks. The progress callback applies
// scikit-learn's stopping rule (the gradient's max-norm; libLBFGS's own test is on the L2 norm and is turned
// off) and keeps the last accepted point, which is what the result returns whatever way libLBFGS ends. With an L1
// term, libLBFGS runs OWL-QN and the callback tests the pseudo-gradient (maths/objective_math.hpp).
#include "logreg/solver.hpp"

#include <lbfgs.h>

#include <algorithm>
#include <chrono>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>

#include "logreg/errors.hpp"
#include "logreg/maths/objective_math.hpp"
#include "add_elapsed.hpp"

namespace logreg {
namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// libLBFGS's x must come from lbfgs_malloc (aligned for its SSE builds).
struct LbfgsVector {
  explicit LbfgsVector(int n) : p(lbfgs_malloc(n)) {
    if (p == nullptr) throw ResourceError("lbfgs_malloc: out of memory for " + std::to_string(n) + " values");
  }
  ~LbfgsVector() { lbfgs_free(p); }
  LbfgsVector(const LbfgsVector&) = delete;
  LbfgsVector& operator=(const LbfgsVector&) = delete;
  lbfgsfloatval_t* p;
};

// What the progress callback returns; lbfgs() returns a non-zero one as it is, so they stay clear of its codes.
enum ProgressCode : int { kContinue = 0, kStopGradient = 1001, kStopMaxIter = 1002, kStopRequested = 1003 };

struct Run {
  const ObjectiveFunction* f;
  const LbfgsConfig* config;
  const std::function<bool(const LbfgsIteration&)>* on_iteration;
  std::chrono::steady_clock::time_point start;
  std::exception_ptr error;  // thrown by f: later evaluations return +inf at once, libLBFGS gives up
  int evaluations = 0;
  double evaluation_seconds = 0.0;
  int iterations = 0;
  std::vector<double> x;  // the last accepted point and its value and gradient's max-norm
  double fx = 0.0;
  double grad_max = 0.0;
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); }
};

// The max-norm the stopping rule tests: of the gradient, or with an L1 term of the pseudo-gradient (g is the
// smooth part's gradient).
double stopping_grad_max(const LbfgsConfig& config, const double* x, const double* g, int n) {
  double gmax = 0.0;
  for (int j = 0; j < n; ++j) {
    const bool l1 = config.l1 > 0.0 && static_cast<std::size_t>(j) < config.l1_count;
    gmax = std::max(gmax, std::fabs(l1 ? l1_pseudo_grad(g[j], x[j], config.l1) : g[j]));
  }
  return gmax;
}

// The L1 term l1 ||x_[0, l1_count)||_1 (0 without one), summed in j order as libLBFGS's owlqn_x1norm.
double l1_term(const LbfgsConfig& config, const double* x) {
  if (!(config.l1 > 0.0)) return 0.0;
  double norm = 0.0;
  for (std::size_t j = 0; j < config.l1_count; ++j) norm += std::fabs(x[j]);
  return norm * config.l1;
}

lbfgsfloatval_t evaluate(void* instance, const lbfgsfloatval_t* x, lbfgsfloatval_t* g, const int n,
                         const lbfgsfloatval_t /*step*/) {
  Run& run = *static_cast<Run*>(instance);
  if (run.error) {
    std::fill(g, g + n, 0.0);
    return INFINITY;
  }
  try {
    ++run.evaluations;
    const AddElapsed timing(&run.evaluation_seconds);
    return (*run.f)(x, g);
  } catch (...) {  // never unwind through libLBFGS's C frames
    run.error = std::current_exception();
    std::fill(g, g + n, 0.0);
    return INFINITY;
  }
}

int progress(void* instance, const lbfgsfloatval_t* x, const lbfgsfloatval_t* g, const lbfgsfloatval_t fx,
             const lbfgsfloatval_t /*xnorm*/, const lbfgsfloatval_t /*gnorm*/, const lbfgsfloatval_t step, int n, int k,
             int /*ls*/) {
  Run& run = *static_cast<Run*>(instance);
  if (run.error) return kStopRequested;
  const double gmax = stopping_grad_max(*run.config, x, g, n);
  run.iterations = k;
  run.x.assign(x, x + n);
  run.fx = fx;
  run.grad_max = gmax;
  if (*run.on_iteration) {
    LbfgsIteration it;
    it.iteration = k;
    it.objective = fx;
    it.grad_max = gmax;
    it.step = step;
    it.evaluations = run.evaluations;
    it.seconds = run.seconds();
    it.evaluation_seconds = run.evaluation_seconds;
    it.x = x;
    bool go_on = true;
    try {
      go_on = (*run.on_iteration)(it);
    } catch (...) {
      run.error = std::current_exception();
      return kStopRequested;
    }
    if (!go_on) return kStopRequested;
  }
  if (gmax <= run.config->tol) return kStopGradient;
  if (k >= run.config->max_iter) return kStopMaxIter;
  return kContinue;
}

const char* lbfgs_status_text(int status) {
  switch (status) {
    case LBFGSERR_ROUNDING_ERROR: return "rounding errors prevent further progress";
    case LBFGSERR_MINIMUMSTEP: return "the line search step became smaller than its minimum";
    case LBFGSERR_MAXIMUMSTEP: return "the line search step became larger than its maximum";
    case LBFGSERR_MAXIMUMLINESEARCH: return "the line search reached its maximum number of evaluations";
    case LBFGSERR_WIDTHTOOSMALL: return "the line search interval became too small";
    case LBFGSERR_INCREASEGRADIENT: return "the search direction does not decrease the objective";
    case LBFGSERR_INVALIDPARAMETERS: return "a logically inconsistent line search";
    case LBFGSERR_OUTOFMEMORY: return "out of memory";
    default: return "libLBFGS stopped";
  }
}

}  // namespace

double max_abs(const std::vector<double>& g) {
  double m = 0.0;
  for (const double v : g) m = std::max(m, std::fabs(v));
  return m;
}

LbfgsResult minimize_lbfgs(const ObjectiveFunction& f, std::vector<double> x0, const LbfgsConfig& config,
                           const std::function<bool(const LbfgsIteration&)>& on_iteration) {
  if (x0.empty()) throw UsageError("minimize_lbfgs: no parameters");
  if (!(config.tol > 0.0) || config.max_iter < 1 || config.memory < 0 || config.max_linesearch < 1) {
    throw UsageError("minimize_lbfgs: tol must be > 0, max_iter and max_linesearch >= 1, memory >= 0");
  }
  if (!(config.l1 >= 0.0) || !std::isfinite(config.l1) || config.l1_count > x0.size()) {
    throw UsageError("minimize_lbfgs: l1 must be finite and >= 0, l1_count at most the parameters");
  }
  const int n = static_cast<int>(x0.size());
  Run run;
  run.f = &f;
  run.config = &config;
  run.on_iteration = &on_iteration;
  run.start = std::chrono::steady_clock::now();

  LbfgsResult result;
  result.memory = config.memory > 0 ? config.memory : lbfgs_memory(x0.size(), config.dense_rows);
  // The start: already optimal?
  std::vector<double> g0(x0.size());
  ++run.evaluations;
  {
    const AddElapsed timing(&run.evaluation_seconds);
    run.fx = f(x0.data(), g0.data());
  }
  run.fx += l1_term(config, x0.data());
  run.grad_max = stopping_grad_max(config, x0.data(), g0.data(), n);
  run.x = x0;
  int status = kStopGradient;
  if (!(run.grad_max <= config.tol)) {
    LbfgsVector x(n);
    std::copy(x0.begin(), x0.end(), x.p);
    lbfgs_parameter_t param;
    lbfgs_parameter_init(&param);
    param.m = result.memory;
    param.epsilon = 0.0;  // libLBFGS's L2-norm test off: the progress callback applies the max-norm test
    param.past = 1;       // scipy's ftol: (f_k - f_{k+1}) / f_k below 64 machine epsilons
    param.delta = 64.0 * DBL_EPSILON;
    param.max_iterations = 0;  // the progress callback counts
    param.max_linesearch = config.max_linesearch;
    param.linesearch = LBFGS_LINESEARCH_MORETHUENTE;
    if (config.l1 > 0.0) {  // OWL-QN: libLBFGS accepts only its backtracking line search here
      param.orthantwise_c = config.l1;
      param.orthantwise_start = 0;
      param.orthantwise_end = static_cast<int>(config.l1_count);
      param.linesearch = LBFGS_LINESEARCH_BACKTRACKING;
    }
    lbfgsfloatval_t fx = 0.0;
    status = lbfgs(n, x.p, &fx, evaluate, progress, &run, &param);
  }
  if (run.error) std::rethrow_exception(run.error);

  result.x = std::move(run.x);
  result.iterations = run.iterations;
  result.objective = run.fx;
  result.grad_max = run.grad_max;
  result.evaluations = run.evaluations;
  result.seconds = run.seconds();
  result.evaluation_seconds = run.evaluation_seconds;
  switch (status) {
    case kStopGradient:
    case LBFGS_SUCCESS:  // libLBFGS's own test with epsilon 0: the gradient is exactly zero
    case LBFGS_ALREADY_MINIMIZED:
      result.stop = LbfgsStop::kGradientTol;
      result.reason = "max |gradient| " + number(result.grad_max) + " <= tol " + number(config.tol);
      break;
    case kStopMaxIter:
      result.stop = LbfgsStop::kMaxIter;
      result.reason = "max-iter " + std::to_string(config.max_iter) + " reached, max |gradient| " +
                      number(result.grad_max) + " > tol " + number(config.tol);
      break;
    case kStopRequested:
      result.stop = LbfgsStop::kStopRequested;
      result.reason = "stopped on request";
      break;
    case LBFGS_STOP:
      result.stop = LbfgsStop::kNoDecrease;
      result.reason = "relative decrease of the objective <= 64 machine epsilons (scipy's ftol), max |gradient| " +
                      number(result.grad_max);
      break;
    default:
      result.stop = LbfgsStop::kLineSearch;
      result.reason = std::string("line search: ") + lbfgs_status_text(status) + ", max |gradient| " +
                      number(result.grad_max) + " > tol " + number(config.tol);
      break;
  }
  return result;
}

}  // namespace logreg
