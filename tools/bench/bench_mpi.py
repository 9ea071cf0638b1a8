#!/usr/bin/env python3
"""Time per L-BFGS iteration over MPI ranks: one process on one core against N ranks of one core each, on a
training set of about 1 GB (Fashion-MNIST's 60,000 training rows repeated, written once as raw IDX files
into --work), alternating the two over --rounds, with the load average beside each figure. With --memory, the
peak memory (maximum resident set, /usr/bin/time -v) of each rank instead, for 1 process and 1, 2 and 4 ranks.

usage: tools/bench/bench_mpi.py --exe build/logreg_cuda [--copies 22] [--ranks 2] [--iters 8] [--rounds 2]
                                [--work /tmp/logreg_mpi_bench] [--memory]

The time per iteration is taken between the first and the last iteration's "Time:" (so loading the set and
starting the ranks are not counted). Each rank reads only the rows of its parts of the raw IDX files.
Standard library only (the system python3 will do).
"""
import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import time

SOURCE = "/usr/share/datasets/fashion-mnist"
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def read(path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            with (gzip.open(p, "rb") if p.endswith(".gz") else open(p, "rb")) as f:
                return f.read()
    sys.exit(f"bench_mpi: {path} not found (dataset-fashion-mnist)")


def make_set(work, copies):
    """Raw IDX files holding `copies` copies of the training set, and the test set as it is."""
    os.makedirs(work, exist_ok=True)
    images = os.path.join(work, "train-images-idx3-ubyte")
    want_rows = 60000 * copies
    if os.path.exists(images) and int.from_bytes(open(images, "rb").read(8)[4:8], "big") == want_rows:
        return work
    img = read(os.path.join(SOURCE, "train-images-idx3-ubyte"))
    lab = read(os.path.join(SOURCE, "train-labels-idx1-ubyte"))
    with open(images + ".tmp", "wb") as f:
        f.write(img[:4] + want_rows.to_bytes(4, "big") + img[8:16])
        for _ in range(copies):
            f.write(img[16:])
    with open(os.path.join(work, "train-labels-idx1-ubyte"), "wb") as f:
        f.write(lab[:4] + want_rows.to_bytes(4, "big"))
        for _ in range(copies):
            f.write(lab[8:])
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with open(os.path.join(work, name), "wb") as f:
            f.write(read(os.path.join(SOURCE, name)))
    os.replace(images + ".tmp", images)
    return work


def per_iteration(stdout):
    times = [float(t) for t in re.findall(r"^Iteration: \d+\..*Time: ([0-9.]+) s", stdout, re.M)]
    if len(times) < 3:
        sys.exit("bench_mpi: fewer than 3 iterations reported:\n" + stdout[-2000:])
    return (times[-1] - times[0]) / (len(times) - 1)


def peak_memory(exe, fit):
    """Maximum resident set of every rank (MB), for one process without mpirun and 1, 2 and 4 ranks."""
    print(f"| ranks | peak resident MB per rank (load average) |\n| --- | --- |")
    for n in (0, 1, 2, 4):
        timed = ["/usr/bin/time", "-v", exe] + fit
        cmd = timed if n == 0 else [shutil.which("mpirun") or "mpirun", "--oversubscribe", "-np", str(n)] + timed
        load = os.getloadavg()[0]
        r = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"bench_mpi: {cmd} failed ({r.returncode}):\n{r.stderr[-3000:]}")
        rss = [int(k) / 1024 for k in re.findall(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)]
        label = "1 process (no mpirun)" if n == 0 else str(n)
        print(f"| {label} | {', '.join(f'{m:.0f}' for m in sorted(rss))} ({load:.2f}) |")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--exe", required=True)
    p.add_argument("--copies", type=int, default=22, help="copies of the 60,000 rows (22: 1.03 GB of pixels)")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--iters", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--work", default="/tmp/logreg_mpi_bench")
    p.add_argument("--memory", action="store_true", help="peak memory per rank instead of time per iteration")
    a = p.parse_args()
    data = make_set(a.work, a.copies)
    size_gb = os.path.getsize(os.path.join(data, "train-images-idx3-ubyte")) / 1e9
    fit = ["train", "--data", data, "--device", "cpu", "--solver", "lbfgs", "--max-iter", str(a.iters),
           "--tol", "1e-12", "--eval-every", "0", "--max-bytes", "8G"]
    if a.memory:
        peak_memory(a.exe, fit)
        return
    variants = {
        "1 process, 1 core": ["taskset", "-c", "0", a.exe] + fit,
        f"{a.ranks} ranks, 1 core each": [shutil.which("mpirun") or "mpirun", "--oversubscribe", "-np",
                                          str(a.ranks), "--bind-to", "core", a.exe] + fit,
    }
    print(f"training set: {60000 * a.copies} rows, {size_gb:.2f} GB of pixels; {a.iters} L-BFGS iterations")
    best = {}
    for rnd in range(a.rounds):
        for name, cmd in variants.items():
            load = os.getloadavg()[0]
            start = time.monotonic()
            r = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"bench_mpi: {name} failed ({r.returncode}):\n{r.stderr[-3000:]}")
            it = per_iteration(r.stdout)
            best[name] = min(best.get(name, it), it)
            print(f"round {rnd + 1}  {name:<24} {it * 1000:8.1f} ms per iteration  "
                  f"(process {time.monotonic() - start:6.1f} s, load {load:.2f})")
    one, many = best.values()
    print(f"\n| variant | ms per iteration (best of {a.rounds}) |\n| --- | ---: |")
    for name, it in best.items():
        print(f"| {name} | {it * 1000:.1f} |")
    print(f"\nspeed-up of {a.ranks} ranks: {one / many:.2f}x  (load average now {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
