#!/usr/bin/env python3
"""Time to scikit-learn's optimum: the same rows and the same C fitted by scikit-learn's
LogisticRegression(solver="lbfgs") and by `logreg_cuda train --solver lbfgs`, alternating over --rounds rounds
(scikit-learn, ours with the default test accuracy every 10 iterations, ours with --eval-every 0), the best
of each kept. Per row count it prints scikit-learn's fit time, iterations, function evaluations (scipy's nfev)
and objective, and ours: the whole process's wall time, the solver time at which our objective first came
within 1e-6 relative of scikit-learn's final one, iterations, evaluations, our final objective and test
accuracy; both sides' ms per evaluation and per iteration; the cost of the printed test accuracy; and the
load average around the runs. Both objectives are evaluated here in float64 at each side's coefficients (ours
as saved: float32). Asserts nothing.

With --write it also replaces the marked L-BFGS section of BENCHMARKS.md with the table; it refuses when other
processes kept more than half a core busy on average during the runs (a shared machine: the figures would be
the neighbours'), unless --loaded, which writes them labelled "loaded". The 1-minute load average is recorded
too, but it counts our own runs (two busy threads take it towards 2), so it is not the test.

With --solver newton-cg ours runs `train --solver newton-cg` instead; its evaluations then count the passes over
the rows (objective evaluations + Hessian-vector products). The solvers' comparison without scikit-learn, in one
process, is `build-cpu/bench_objective --compare` (docs/solvers.md).

usage: tools/bench/bench_lbfgs.py --exe build/logreg_cuda [--data DIR] [--rows 10000,0] [--C 1] [--tol 1e-6]
                            [--device cpu] [--solver lbfgs] [--threads N] [--rounds 2] [--write [--loaded]]
                            [--benchmarks FILE]
  --rows     comma-separated row counts, 0 = the whole training set (default 10000,0)
  --threads  scikit-learn's BLAS threads (threadpoolctl; default: all cores, as ours)
"""
import argparse
import csv
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "peers"))
sys.path.insert(0, HERE)
import common  # noqa: E402  (tools/bench/peers/common.py: IDX reading and data discovery, as logreg_cuda's)
from marked_section import replace_marked_section  # noqa: E402

BEGIN, END = "<!-- lbfgs:begin -->", "<!-- lbfgs:end -->"
QUIET_LOAD = 0.5  # cores kept busy by other processes


def objective(W, b, X, y, C):
    """scikit-learn's multinomial objective in float64: mean cross-entropy + ||W||^2 / (2 C n)."""
    Z = X @ W.T + b
    Z -= Z.max(axis=1, keepdims=True)
    n = X.shape[0]
    penalty = 0.0 if np.isinf(C) else (W ** 2).sum() / (2 * C * n)
    return float(np.mean(np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(n), y]) + penalty)


def busy_cpu_seconds():
    """CPU seconds the whole machine has spent busy since boot (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    """CPU seconds of this process (scikit-learn runs in it) and of its finished children (ours)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class LoadWatch:
    """What the neighbours did while we measured. The 1-minute load average counts our own runs (two busy
    threads make it approach 2 on two cores), so the quiet-machine test uses `others`: the machine's busy CPU
    time minus ours, per second of wall time, in cores. The peak load average is recorded beside it."""

    def __init__(self):
        self.peak = os.getloadavg()[0]
        self.start = (time.monotonic(), busy_cpu_seconds(), own_cpu_seconds())

    def see(self):
        self.peak = max(self.peak, os.getloadavg()[0])
        return self.peak

    @property
    def others(self):
        wall0, busy0, own0 = self.start
        wall = max(time.monotonic() - wall0, 1e-9)
        return max((busy_cpu_seconds() - busy0) - (own_cpu_seconds() - own0), 0.0) / wall

    def label(self):
        text = f"others {self.others:.2f} cores, load {self.peak:.2f}"
        return text if self.others <= QUIET_LOAD else f"loaded ({text})"


def fit_sklearn(X, y, C, tol, threads):
    """scikit-learn's fit: (seconds, iterations, function evaluations, coef_, intercept_). The evaluations are
    scipy's nfev, read by wrapping scipy.optimize.minimize for the duration of the fit."""
    from scipy import optimize
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits
    nfev = []
    real_minimize = optimize.minimize

    def counting_minimize(*args, **kwargs):
        res = real_minimize(*args, **kwargs)
        nfev.append(int(getattr(res, "nfev", 0)))
        return res

    optimize.minimize = counting_minimize
    try:
        with threadpool_limits(threads if threads > 0 else None):
            start = time.perf_counter()
            clf = LogisticRegression(C=C, tol=tol, max_iter=100000, solver="lbfgs").fit(X, y)
            seconds = time.perf_counter() - start
    finally:
        optimize.minimize = real_minimize
    return seconds, int(clf.n_iter_[0]), sum(nfev), clf.coef_, clf.intercept_


def run_ours(a, n, tmp, eval_every, sk_f):
    """One `train --solver lbfgs` (or --solver newton-cg) process: a dict of its figures."""
    model = os.path.join(tmp, f"m{n}_{eval_every}.lrm")
    metrics = os.path.join(tmp, f"m{n}_{eval_every}.csv")
    cmd = [a.exe, "train", "--solver", a.solver, "--device", a.device, "--limit-train", str(n),
           "--C", "inf" if np.isinf(a.C) else f"{a.C:g}", "--tol", f"{a.tol:g}", "--max-iter", "100000",
           "--save", model, "--metrics", metrics] + (["--data", a.data] if a.data else [])
    if eval_every is not None:
        cmd += ["--eval-every", str(eval_every)]
    out, wall = run_timed(cmd, "bench_lbfgs")
    reached = first_reaching(out, sk_f)
    final = re.search(r"^Solver: [a-z-]+\. Iterations: (\d+)\. Objective: ([0-9.e+-]+)\..*Converged: (\w+).*"
                      r"Accuracy: ([0-9]+(?:\.[0-9]+)?)", out, re.M)
    if final is None:
        sys.exit(f"bench_lbfgs: no 'Solver:' line in the output of {' '.join(cmd)}:\n{out[-2000:]}")
    with open(metrics, newline="") as f:
        last = list(csv.DictReader(f))[-1]
    return {"wall": wall, "reached": reached, "iterations": int(final.group(1)), "converged": final.group(3) == "yes",
            "accuracy": float(final.group(4)), "solver_s": float(last["seconds"]),
            "objective_s": float(last["evaluation_seconds"]),
            "evaluations": int(last["evaluations"]) + int(last.get("hessian_products") or 0),
            "model": model}


def run_timed(cmd, who):
    """Runs `cmd`: its stdout and wall seconds. A failed run ends the benchmark `who` with the run's output."""
    start = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if r.returncode != 0:
        sys.exit(f"{who}: {' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr}")
    return r.stdout, wall


def first_reaching(stdout, target):
    """(iteration, solver seconds) of the first `Iteration:` line of a train run whose objective is within 1e-6
    relative of `target`, or None."""
    for m in re.finditer(r"^Iteration: (\d+)\. Objective: ([0-9.e+-]+)\. .* Time: ([0-9.]+) s", stdout, re.M):
        if float(m.group(2)) <= target * (1 + 1e-6):
            return int(m.group(1)), float(m.group(3))
    return None


def best(runs, key):
    return min(runs, key=lambda r: r[key])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exe", required=True)
    p.add_argument("--data")
    p.add_argument("--rows", default="10000,0")
    p.add_argument("--C", type=float, default=1.0)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--device", default="cpu")
    p.add_argument("--solver", default="lbfgs", choices=["lbfgs", "newton-cg"])
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--write", action="store_true", help="replace the L-BFGS section of BENCHMARKS.md")
    p.add_argument("--loaded", action="store_true", help="with --write: write even when other processes were busy, labelled")
    p.add_argument("--benchmarks", default=os.path.join(HERE, "..", "..", "BENCHMARKS.md"))
    a = p.parse_args()
    if a.rounds < 1:
        sys.exit("bench_lbfgs: --rounds must be at least 1")
    if a.write and a.solver != "lbfgs":
        sys.exit("bench_lbfgs: --write records --solver lbfgs rows only (BENCHMARKS.md's L-BFGS section)")
    if not os.access(a.exe, os.X_OK):
        sys.exit(f"bench_lbfgs: --exe {a.exe} is not an executable (build it first: cmake --build ...)")

    data = common.load_data(a.data)
    load = LoadWatch()
    load.see()
    started = datetime.datetime.now(datetime.timezone.utc)
    header = ("| rows | machine (other processes' cores; peak load average) | scikit-learn: fit s, iterations, evaluations, objective | ms/eval, ms/it"
              f" | ours ({a.device}), default flags: process s, to its objective s, iterations, evaluations,"
              " objective, accuracy | ms/eval (objective alone), ms/it | --eval-every 0: process s | accuracy every 10 it. costs"
              " | speed-up: process / to its objective |")
    lines = [header, "| ---: | ---: | --- | --- | --- | --- | --- | ---: | --- |"]
    print(header)
    print(lines[1], flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_lbfgs_") as tmp:
        for rows in (int(r) for r in a.rows.split(",")):
            n = rows if rows > 0 else len(data["train_images"])
            X = data["train_images"][:n].reshape(n, -1) / 255.0
            y = data["train_labels"][:n]
            row_load = LoadWatch()
            sk_runs, ours_runs, quiet_runs = [], [], []
            for r in range(a.rounds):  # alternate, so that a change in the machine's load hits both sides
                row_load.see()
                s, it, nfev, W, b = fit_sklearn(X, y, a.C, a.tol, a.threads)
                sk_runs.append({"seconds": s, "iterations": it, "nfev": nfev, "W": W, "b": b})
                row_load.see()
                sk_f = objective(W, b, X, y, a.C)
                # Ours with the default flags and with --eval-every 0, first one then the other in turn: the run
                # right after scikit-learn's (two busy cores) starts on a warmer machine.
                for eval_every in ((None, 0) if r % 2 == 0 else (0, None)):
                    (ours_runs if eval_every is None else quiet_runs).append(run_ours(a, n, tmp, eval_every, sk_f))
                    row_load.see()
            load.peak = max(load.peak, row_load.peak)
            row_label = row_load.label()
            sk = best(sk_runs, "seconds")
            sk_f = objective(sk["W"], sk["b"], X, y, a.C)
            ours = best(ours_runs, "wall")
            quiet = best(quiet_runs, "wall")
            npz = os.path.join(tmp, f"m{n}.npz")
            subprocess.run([a.exe, "export", "--model", ours["model"], "--format", "npz", "--out", npz], check=True,
                           capture_output=True)
            arrays = np.load(npz)
            ours_f = objective(arrays["coef_"].astype(np.float64), arrays["intercept_"].astype(np.float64), X, y, a.C)
            reached = [r["reached"] for r in quiet_runs if r["reached"]]
            to_target = min(reached, key=lambda t: t[1]) if reached else None
            sk_ms = f"{1e3 * sk['seconds'] / max(sk['nfev'], 1):.2f}, {1e3 * sk['seconds'] / sk['iterations']:.2f}"
            our_ms = (f"{1e3 * quiet['solver_s'] / max(quiet['evaluations'], 1):.2f}"
                      f" ({1e3 * quiet['objective_s'] / max(quiet['evaluations'], 1):.2f}), "
                      f"{1e3 * quiet['solver_s'] / max(quiet['iterations'], 1):.2f}")
            overhead = (ours["wall"] - quiet["wall"]) / quiet["wall"]
            label = row_label
            speed = f"{sk['seconds'] / ours['wall']:.1f}x"
            speed += f" / {sk['seconds'] / to_target[1]:.1f}x" if to_target and to_target[1] > 0 else " / -"
            line = (f"| {n:,} | {label} | {sk['seconds']:.2f} s, {sk['iterations']:,}, {sk['nfev']:,}, {sk_f:.10f}"
                    f" | {sk_ms} | {ours['wall']:.2f} s, "
                    + (f"{to_target[1]:.2f} s (iteration {to_target[0]:,})" if to_target else "not reached")
                    + f", {ours['iterations']:,} ({'converged' if ours['converged'] else 'not converged'}),"
                    f" {ours['evaluations']:,}, {ours_f:.10f}, {ours['accuracy']:.2f} % | {our_ms}"
                    f" | {quiet['wall']:.2f} s | {100 * overhead:+.1f} % | {speed} |")
            lines.append(line)
            print(line, flush=True)

    if not a.write:
        return
    if load.others > QUIET_LOAD and not a.loaded:
        sys.exit(f"bench_lbfgs: not writing {a.benchmarks}: other processes kept {load.others:.2f} cores busy "
                 f"(> {QUIET_LOAD}) during the runs; run again on a quiet machine, or pass --loaded to write the rows "
                 "labelled")
    body = (f"Measured {started:%Y-%m-%d %H:%M} UTC with `tools/bench/bench_lbfgs.py --rows {a.rows} --C {a.C:g} --tol {a.tol:g}"
            f" --rounds {a.rounds}` on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
            f" (other processes: {load.others:.2f} cores on average; peak 1-minute load average, ours included,"
            f" {load.peak:.2f}"
            + ("; **loaded**: other processes shared the cores" if load.others > QUIET_LOAD else "") + ").\n"
            f"Best of {a.rounds} alternating rounds per side. Process s: the whole `logreg_cuda train --solver lbfgs`"
            " process (data loading, the fit, the test accuracy every 10 iterations, the final report, the save);"
            " to its objective: the solver time at which ours first came within 1e-6 relative of scikit-learn's final"
            " objective (--eval-every 0 runs). ms/eval and ms/it: the fit's time divided by function evaluations and"
            " iterations (scikit-learn: scipy's nfev and n_iter_; ours: --eval-every 0, and in brackets the time"
            " inside the objective alone per evaluation, the rest being libLBFGS's own work).\n\n"
            + "\n".join(lines) + "\n")
    replace_marked_section(a.benchmarks, BEGIN, END, "Time to scikit-learn's optimum (L-BFGS)", body)
    print(f"bench_lbfgs: wrote the L-BFGS section of {a.benchmarks}")


if __name__ == "__main__":
    main()
