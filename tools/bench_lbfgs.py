#!/usr/bin/env python3
"""Time to scikit-learn's optimum (issue 13): the same rows and the same C fitted by scikit-learn's
LogisticRegression(solver="lbfgs") and by `logreg_cuda train --solver lbfgs`, one after the other, on this
machine. For each row count it prints scikit-learn's wall time, iterations and objective, then ours: the wall
time of the whole run, the time (from our per-iteration lines) at which our objective first came within
1e-6 relative of scikit-learn's final one, iterations, our final objective, and the speed-up. Both objectives
are evaluated here in float64 at each side's coefficients (ours as saved: float32). A table on stdout;
asserts nothing. tools/bench.sh runs it with --lbfgs.

usage: tools/bench_lbfgs.py --exe build/logreg_cuda [--data DIR] [--rows 10000,0] [--C 1] [--tol 1e-6]
                            [--device cpu] [--threads N]
  --rows     comma-separated row counts, 0 = the whole training set (default 10000,0)
  --threads  scikit-learn's BLAS threads (threadpoolctl; default: all cores, as ours)
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
import common  # noqa: E402  (tools/peers/common.py: IDX reading and data discovery, as logreg_cuda's)


def objective(W, b, X, y, C):
    """scikit-learn's multinomial objective in float64: mean cross-entropy + ||W||^2 / (2 C n)."""
    Z = X @ W.T + b
    Z -= Z.max(axis=1, keepdims=True)
    n = X.shape[0]
    penalty = 0.0 if np.isinf(C) else (W ** 2).sum() / (2 * C * n)
    return float(np.mean(np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(n), y]) + penalty)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exe", required=True)
    p.add_argument("--data")
    p.add_argument("--rows", default="10000,0")
    p.add_argument("--C", type=float, default=1.0)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    data = common.load_data(a.data)
    print(f"| rows | scikit-learn: s, iterations, objective | ours ({a.device}): s, to its objective s, iterations,"
          f" objective | speed-up to its objective |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="bench_lbfgs_") as tmp:
        for rows in (int(r) for r in a.rows.split(",")):
            n = rows if rows > 0 else len(data["train_images"])
            X = data["train_images"][:n].reshape(n, -1) / 255.0
            y = data["train_labels"][:n]
            with threadpool_limits(a.threads if a.threads > 0 else None):
                start = time.perf_counter()
                clf = LogisticRegression(C=a.C, tol=a.tol, max_iter=100000, solver="lbfgs").fit(X, y)
                sk_seconds = time.perf_counter() - start
            sk_f = objective(clf.coef_, clf.intercept_, X, y, a.C)
            model = os.path.join(tmp, f"m{n}.lrm")
            cmd = [a.exe, "train", "--solver", "lbfgs", "--device", a.device, "--limit-train", str(n),
                   "--C", "inf" if np.isinf(a.C) else f"{a.C:g}", "--tol", f"{a.tol:g}", "--max-iter", "100000",
                   "--eval-every", "0", "--save", model] + (["--data", a.data] if a.data else [])
            start = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True)
            ours_seconds = time.perf_counter() - start
            if r.returncode != 0:
                sys.exit(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr}")
            reached = None
            for m in re.finditer(r"^Iteration: (\d+)\. Objective: ([0-9.e+-]+)\. .* Time: ([0-9.]+) s", r.stdout, re.M):
                if float(m.group(2)) <= sk_f * (1 + 1e-6):
                    reached = (int(m.group(1)), float(m.group(3)))
                    break
            final = re.search(r"^Solver: lbfgs\. Iterations: (\d+)\. Objective: ([0-9.e+-]+)\..*Converged: (\w+)",
                              r.stdout, re.M)
            npz = os.path.join(tmp, f"m{n}.npz")
            subprocess.run([a.exe, "export", "--model", model, "--format", "npz", "--out", npz], check=True,
                           capture_output=True)
            arrays = np.load(npz)
            ours_f = objective(arrays["coef_"].astype(np.float64), arrays["intercept_"].astype(np.float64), X, y, a.C)
            to_target = f"{reached[1]:.2f} (iteration {reached[0]})" if reached else "not reached"
            speedup = f"{sk_seconds / reached[1]:.1f}x" if reached and reached[1] > 0 else "-"
            print(f"| {n} | {sk_seconds:.2f} s, {int(clf.n_iter_[0])}, {sk_f:.10f} | {ours_seconds:.2f} s, {to_target},"
                  f" {final.group(1)} ({'converged' if final.group(3) == 'yes' else 'not converged'}), {ours_f:.10f}"
                  f" | {speedup} |", flush=True)


if __name__ == "__main__":
    main()
