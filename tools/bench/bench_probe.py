#!/usr/bin/env python3
"""Linear probes on feature files: time to scikit-learn's optimum of `logreg_cuda train --data FILE --solver lbfgs`
against scikit-learn's LogisticRegression(solver="lbfgs") on the same rows, C and tol, alternating over --rounds
rounds (scikit-learn, then ours), the best of each kept. Two generated sets:

  dense    --rows x --dim float32 features (default 200,000 x 512), 10 classes from a random linear teacher plus
           noise, written as an .npz (x_train, y_train)
  sparse   --sparse-rows x --sparse-cols (default 100,000 x 100,000) CSR, about --nnz nonzeros per row, 10 classes
           from a random linear teacher, written as svmlight (scikit-learn reads it back as CSR)

Per set it prints scikit-learn's fit time, iterations and objective (evaluated here in float64 at its
coefficients), and ours: the process's wall time, the solver time at which our printed objective first came
within 1e-6 relative of scikit-learn's final objective, iterations and final objective; the speed-up of ours to
scikit-learn's objective; and the load around the runs (bench_lbfgs.py's LoadWatch: the cores other processes
kept busy and the peak 1-minute load average). Asserts nothing.

With --write it also replaces the marked probe section of BENCHMARKS.md with the table (marked_section.py, as
bench_lbfgs.py); it refuses when other processes kept more than half a core busy, unless --loaded, which writes
the rows labelled "loaded" with the load they ran at.

usage: tools/bench/bench_probe.py --exe build-cpu/logreg_cuda [--rows 200000] [--dim 512] [--sparse-rows 100000]
                                  [--sparse-cols 100000] [--nnz 40] [--C 1] [--tol 1e-6] [--rounds 2] [--sets dense,sparse]
                                  [--write [--loaded]] [--benchmarks FILE]
"""
import argparse
import datetime
import os
import platform
import re
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_lbfgs import QUIET_LOAD, LoadWatch, first_reaching, run_timed  # noqa: E402
from marked_section import replace_marked_section  # noqa: E402

BEGIN, END = "<!-- probe:begin -->", "<!-- probe:end -->"


def objective(W, b, X, y, C):
    """scikit-learn's multinomial objective in float64: mean cross-entropy + ||W||^2 / (2 C n); X dense or CSR."""
    Z = np.asarray(X @ W.T, dtype=np.float64) + b
    Z -= Z.max(axis=1, keepdims=True)
    n = X.shape[0]
    return float(np.mean(np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(n), y]) + (W ** 2).sum() / (2 * C * n))


def dense_set(a, tmp):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((a.rows, a.dim), dtype=np.float32)
    teacher = rng.standard_normal((a.dim, 10)).astype(np.float32) / np.sqrt(a.dim)
    y = np.argmax(X @ teacher * 3.0 + rng.gumbel(size=(a.rows, 10)), axis=1)
    path = os.path.join(tmp, "probe.npz")
    np.savez(path, x_train=X, y_train=y)
    return path, X, y


def sparse_set(a, tmp):
    import scipy.sparse as sp
    from sklearn.datasets import dump_svmlight_file, load_svmlight_file
    rng = np.random.default_rng(2)
    nnz = a.sparse_rows * a.nnz
    rows = np.repeat(np.arange(a.sparse_rows), a.nnz)
    cols = rng.integers(0, a.sparse_cols, nnz)
    X = sp.csr_matrix((rng.uniform(0.1, 1.0, nnz), (rows, cols)), shape=(a.sparse_rows, a.sparse_cols))
    X.sum_duplicates()
    teacher = rng.standard_normal((a.sparse_cols, 10))
    y = np.argmax(np.asarray(X @ teacher) + rng.gumbel(size=(a.sparse_rows, 10)), axis=1)
    path = os.path.join(tmp, "probe.svm")
    dump_svmlight_file(X, y, path, zero_based=True)
    X, y = load_svmlight_file(path, n_features=a.sparse_cols, zero_based=True)
    return path, X, y.astype(np.int64)


def fit_sklearn(X, y, C, tol):
    from sklearn.linear_model import LogisticRegression
    start = time.perf_counter()
    clf = LogisticRegression(C=C, tol=tol, max_iter=100000, solver="lbfgs").fit(X, y)
    return time.perf_counter() - start, int(clf.n_iter_[0]), clf.coef_.astype(np.float64), clf.intercept_.astype(np.float64)


def run_ours(a, path, sk_f):
    cmd = [a.exe, "train", "--data", path, "--solver", "lbfgs", "--device", a.device, "--C", f"{a.C:g}",
           "--tol", f"{a.tol:g}", "--max-iter", "100000", "--eval-every", "0"]
    out, wall = run_timed(cmd, "bench_probe")
    first = first_reaching(out, sk_f)
    reached = first[1] if first is not None else None
    final = re.search(r"^Solver: [a-z-]+\. Iterations: (\d+)\. Objective: ([0-9.e+-]+)\.", out, re.M)
    if final is None:
        sys.exit(f"bench_probe: no 'Solver:' line in the output of {' '.join(cmd)}:\n{out[-2000:]}")
    return {"wall": wall, "reached": reached, "iterations": int(final.group(1)), "objective": float(final.group(2))}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exe", required=True)
    p.add_argument("--rows", type=int, default=200000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--sparse-rows", type=int, default=100000)
    p.add_argument("--sparse-cols", type=int, default=100000)
    p.add_argument("--nnz", type=int, default=40)
    p.add_argument("--C", type=float, default=1.0)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--device", default="cpu")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--sets", default="dense,sparse")
    p.add_argument("--write", action="store_true", help="replace the probe section of BENCHMARKS.md")
    p.add_argument("--loaded", action="store_true", help="with --write: write even when other processes were busy, labelled")
    p.add_argument("--benchmarks", default=os.path.join(HERE, "..", "..", "BENCHMARKS.md"))
    a = p.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    lines, busiest = [], None
    if not os.access(a.exe, os.X_OK):
        sys.exit(f"bench_probe: --exe {a.exe} is not an executable (build it first)")
    header = ("| set | machine (other processes' cores; peak load) | scikit-learn: fit s, iterations, objective"
              " | ours: process s, to its objective s, iterations, objective | speed-up to its objective |")
    lines += [header, "| --- | --- | --- | --- | ---: |"]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_probe_") as tmp:
        for name in a.sets.split(","):
            path, X, y = dense_set(a, tmp) if name == "dense" else sparse_set(a, tmp)
            shape = f"{X.shape[0]:,} x {X.shape[1]:,} {'float32' if name == 'dense' else 'CSR'}"
            load = LoadWatch()
            sk_runs, ours_runs = [], []
            for _ in range(a.rounds):  # alternate, so that a change in the machine's load hits both sides
                load.see()
                s, it, W, b = fit_sklearn(X, y, a.C, a.tol)
                sk_runs.append({"seconds": s, "iterations": it, "f": objective(W, b, X, y, a.C)})
                load.see()
                ours_runs.append(run_ours(a, path, min(r["f"] for r in sk_runs)))
                load.see()
            sk = min(sk_runs, key=lambda r: r["seconds"])
            ours = min(ours_runs, key=lambda r: r["reached"] if r["reached"] is not None else float("inf"))
            to_f = f"{ours['reached']:.2f}" if ours["reached"] is not None else "never"
            speed = f"{sk['seconds'] / ours['reached']:.1f}x" if ours["reached"] else "-"
            line = (f"| {name} ({shape}) | {load.label()} | {sk['seconds']:.2f} s, {sk['iterations']} it., {sk['f']:.10g}"
                    f" | {ours['wall']:.2f} s, {to_f} s, {ours['iterations']} it., {ours['objective']:.10g} | {speed} |")
            lines.append(line)
            print(line, flush=True)
            if busiest is None or load.others > busiest.others:
                busiest = load

    if not a.write or busiest is None:
        return
    if busiest.others > QUIET_LOAD and not a.loaded:
        sys.exit(f"bench_probe: not writing {a.benchmarks}: other processes kept {busiest.others:.2f} cores busy "
                 f"(> {QUIET_LOAD}) during the runs; run again on a quiet machine, or pass --loaded to write the rows "
                 "labelled")
    args = " ".join(sys.argv[1:]).replace("--write", "").replace("--loaded", "").split()
    body = (f"Measured {started:%Y-%m-%d %H:%M} UTC with `tools/bench/bench_probe.py {' '.join(args)}` on "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
            + (f"; **loaded**: other processes kept up to {busiest.others:.2f} cores busy, peak 1-minute load average"
               f" {busiest.peak:.2f}" if busiest.others > QUIET_LOAD else "") + ".\n"
            f"Best of {a.rounds} alternating rounds per side; ours' process s is the whole `train` process, to its"
            " objective the solver time at which it first came within 1e-6 relative of scikit-learn's final"
            " objective.\n\n" + "\n".join(lines) + "\n")
    replace_marked_section(a.benchmarks, BEGIN, END, "Linear probes on feature files (`tools/bench/bench_probe.py`)",
                           body)
    print(f"bench_probe: wrote the probe section of {a.benchmarks}")


if __name__ == "__main__":
    main()
