// minimize_newton_cg (solver.hpp): trust-region Newton-CG in the manner of liblinear's TRON (Lin, Weng and
// Keerthi, "Trust region Newton method for large-scale logistic regression", 2008): Steihaug's truncated
// conjugate gradients for the step, the trust region updated from the ratio of actual to predicted decrease.
// The objective and its Hessian-vector product are the caller's; this file only does vector algebra on them.
#include "logreg/solver.hpp"

#include <algorithm>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "logreg/errors.hpp"
#include "add_elapsed.hpp"

namespace logreg {
namespace {

// The trust region's constants, TRON's: a step is accepted when actual > kEta0 * predicted decrease; the ratio
// against kEta1 and kEta2 picks how the radius changes, by the factors kSigma1..kSigma3.
constexpr double kEta0 = 1e-4, kEta1 = 0.25, kEta2 = 0.75;
constexpr double kSigma1 = 0.25, kSigma2 = 0.5, kSigma3 = 4.0;

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (std::size_t j = 0; j < a.size(); ++j) s += a[j] * b[j];
  return s;
}

// y += a x
void axpy(double a, const std::vector<double>& x, std::vector<double>& y) {
  for (std::size_t j = 0; j < x.size(); ++j) y[j] += a * x[j];
}

// Steihaug's conjugate gradients on H s = -g within |s| <= delta, from s = 0: stops when the residual
// r = -g - H s has |r| <= tol_r, at the boundary (along a direction of negative curvature too), or after
// max_cg products, or when stop_requested says so. Returns the products used; s and r hold the step and its
// residual.
int truncated_cg(const HessianVectorFunction& hv, const std::vector<double>& x, const std::vector<double>& g,
                 double delta, double tol_r, int max_cg, const std::function<bool()>& stop_requested,
                 std::vector<double>& s, std::vector<double>& r) {
  const std::size_t n = g.size();
  std::fill(s.begin(), s.end(), 0.0);
  for (std::size_t j = 0; j < n; ++j) r[j] = -g[j];
  std::vector<double> d = r;
  std::vector<double> hd(n);
  double rr = dot(r, r);
  int products = 0;
  while (products < max_cg && std::sqrt(rr) > tol_r) {
    hv(x.data(), d.data(), hd.data());
    ++products;
    if (stop_requested && stop_requested()) break;  // the caller stops: s is not used
    const double dhd = dot(d, hd);
    const double alpha = rr / dhd;
    // The step to the boundary along d: the positive tau with |s + tau d| = delta.
    auto to_boundary = [&]() {
      const double sd = dot(s, d), dd = dot(d, d), ss = dot(s, s);
      const double rad = std::sqrt(sd * sd + dd * (delta * delta - ss));
      // tau = (-sd + rad) / dd, written to avoid cancellation when sd > 0
      return sd >= 0.0 ? (delta * delta - ss) / (sd + rad) : (rad - sd) / dd;
    };
    if (!(dhd > 0.0)) {  // negative or zero curvature: to the boundary (the objective is convex, so rounding)
      const double tau = to_boundary();
      axpy(tau, d, s);
      axpy(-tau, hd, r);
      break;
    }
    std::vector<double> s_next = s;
    axpy(alpha, d, s_next);
    if (std::sqrt(dot(s_next, s_next)) > delta) {
      const double tau = to_boundary();
      axpy(tau, d, s);
      axpy(-tau, hd, r);
      break;
    }
    s.swap(s_next);
    axpy(-alpha, hd, r);
    const double rr_next = dot(r, r);
    const double beta = rr_next / rr;
    for (std::size_t j = 0; j < n; ++j) d[j] = r[j] + beta * d[j];
    rr = rr_next;
  }
  return products;
}

}  // namespace

LbfgsResult minimize_newton_cg(const ObjectiveFunction& objective, const HessianVectorFunction& hessian_vector,
                               std::vector<double> x0,
                               const NewtonCgConfig& config,
                               const std::function<bool(const LbfgsIteration&)>& on_iteration,
                               const std::function<bool()>& stop_requested) {
  if (x0.empty()) throw UsageError("minimize_newton_cg: no parameters");
  if (!(config.tol > 0.0) || config.max_iter < 1 || config.max_cg < 1 || !(config.cg_forcing > 0.0)) {
    throw UsageError("minimize_newton_cg: tol and cg_forcing must be > 0, max_iter and max_cg >= 1");
  }
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&]() { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  const std::size_t n = x0.size();
  std::vector<double> x = std::move(x0);
  std::vector<double> g(n), s(n), r(n), x_new(n), g_new(n);

  LbfgsResult result;
  // The objective and the products, timed (result.evaluation_seconds).
  const ObjectiveFunction f = [&](const double* at, double* grad) {
    const AddElapsed timing(&result.evaluation_seconds);
    return objective(at, grad);
  };
  const HessianVectorFunction hv = [&](const double* at, const double* v, double* out) {
    const AddElapsed timing(&result.evaluation_seconds);
    hessian_vector(at, v, out);
  };
  double fx = f(x.data(), g.data());
  result.evaluations = 1;
  double gmax = max_abs(g);
  double delta = std::sqrt(dot(g, g));  // the trust region's radius
  bool first = true;
  result.stop = LbfgsStop::kGradientTol;
  while (!(gmax <= config.tol)) {
    if (result.iterations >= config.max_iter) {
      result.stop = LbfgsStop::kMaxIter;
      break;
    }
    const double gnorm = std::sqrt(dot(g, g));
    const double tol_r = std::min(config.cg_forcing, std::sqrt(gnorm)) * gnorm;
    result.hessian_products += truncated_cg(hv, x, g, delta, tol_r, config.max_cg, stop_requested, s, r);
    if (stop_requested && stop_requested()) {
      result.stop = LbfgsStop::kStopRequested;
      break;
    }
    for (std::size_t j = 0; j < n; ++j) x_new[j] = x[j] + s[j];
    // The quadratic model's decrease: -(g.s + s.H s / 2), with H s = -g - r.
    const double gs = dot(g, s);
    const double predicted = -0.5 * (gs - dot(s, r));
    const double f_new = f(x_new.data(), g_new.data());
    ++result.evaluations;
    if (stop_requested && stop_requested()) {
      result.stop = LbfgsStop::kStopRequested;
      break;
    }
    const double actual = fx - f_new;
    const double snorm = std::sqrt(dot(s, s));
    if (first) delta = std::min(delta, snorm);
    first = false;
    // The radius, from how well the model predicted (TRON's rule; alpha minimises the quadratic interpolating
    // f along s).
    const double curvature = f_new - fx - gs;
    const double alpha = curvature <= 0.0 ? kSigma3 : std::max(kSigma1, -0.5 * (gs / curvature));
    if (!(actual >= kEta0 * predicted)) {  // NaN too
      delta = std::min(std::max(alpha, kSigma1) * snorm, kSigma2 * delta);
    } else if (actual < kEta1 * predicted) {
      delta = std::max(kSigma1 * delta, std::min(alpha * snorm, kSigma2 * delta));
    } else if (actual < kEta2 * predicted) {
      delta = std::max(kSigma1 * delta, std::min(alpha * snorm, kSigma3 * delta));
    } else {
      delta = std::max(delta, std::min(alpha * snorm, kSigma3 * delta));
    }
    if (actual > kEta0 * predicted) {  // accepted
      x.swap(x_new);
      g.swap(g_new);
      fx = f_new;
      gmax = max_abs(g);
      ++result.iterations;
      if (on_iteration) {
        LbfgsIteration it;
        it.iteration = result.iterations;
        it.objective = fx;
        it.grad_max = gmax;
        it.step = snorm;
        it.evaluations = result.evaluations;
        it.hessian_products = result.hessian_products;
        it.seconds = seconds();
        it.evaluation_seconds = result.evaluation_seconds;
        it.x = x.data();
        if (!on_iteration(it)) {
          result.stop = LbfgsStop::kStopRequested;
          break;
        }
      }
      continue;
    }
    const double tiny = 64.0 * DBL_EPSILON * std::fabs(fx);
    if (std::fabs(actual) <= tiny && std::fabs(predicted) <= tiny) {
      result.stop = LbfgsStop::kNoDecrease;
      break;
    }
    if (!(predicted > 0.0) || !(delta > 0.0)) {
      result.stop = LbfgsStop::kLineSearch;
      break;
    }
  }
  result.x = std::move(x);
  result.objective = fx;
  result.grad_max = gmax;
  result.seconds = seconds();
  switch (result.stop) {
    case LbfgsStop::kGradientTol:
      result.reason = "max |gradient| " + number(gmax) + " <= tol " + number(config.tol);
      break;
    case LbfgsStop::kMaxIter:
      result.reason = "max-iter " + std::to_string(config.max_iter) + " reached, max |gradient| " + number(gmax) +
                      " > tol " + number(config.tol);
      break;
    case LbfgsStop::kStopRequested:
      result.reason = "stopped on request";
      break;
    case LbfgsStop::kNoDecrease:
      result.reason = "actual and predicted decrease of the objective <= 64 machine epsilons, max |gradient| " +
                      number(gmax);
      break;
    case LbfgsStop::kLineSearch:
      result.reason = "trust region: no step decreases the objective, max |gradient| " + number(gmax) + " > tol " +
                      number(config.tol);
      break;
  }
  return result;
}

}  // namespace logreg
