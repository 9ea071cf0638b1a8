#!/usr/bin/env python3
"""`mpirun -np N logreg_cuda train --solver lbfgs|newton-cg` (include/logreg/ranks.hpp): the fitted weights are
byte-identical to the single-process run for N = 1..4 (uneven shards) and 9 (a rank with no rows), only rank 0 prints
and writes files, a rank that sees other data or is killed ends the whole run within seconds with a message
naming the rank, and what does not run over ranks is refused.

Run by ctest (Mpi.*) in a build with LOGREG_MPI on, with the system python3 (standard library only):
  python3 test_mpi.py --exe build/logreg_cuda [TestClass ...]
Data: Debian's dataset-fashion-mnist (installed by tools/setup/install_deps.sh).
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import unittest

DATA = "/usr/share/datasets/fashion-mnist"
EXE = None
MPIRUN = shutil.which("mpirun")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")


def fit_args(solver="lbfgs", rows=700, iters=25):
    return ["train", "--data", DATA, "--device", "cpu", "--solver", solver, "--limit-train", str(rows),
            "--max-iter", str(iters), "--eval-every", "0"]


def run(cmd, timeout=300):
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)


def mpirun(n, args, timeout=300):
    return run([MPIRUN, "--oversubscribe", "-np", str(n), EXE] + args, timeout)


def weights(model, tmp):
    """The tensor bytes of the model's safetensors export (its metadata holds the run's record, which names
    the backend's thread count and the run time)."""
    out = os.path.join(tmp, os.path.basename(model) + ".safetensors")
    r = run([EXE, "export", "--model", model, "--format", "safetensors", "--out", out])
    assert r.returncode == 0, r.stderr
    with open(out, "rb") as f:
        blob = f.read()
    (header,) = struct.unpack("<Q", blob[:8])
    return blob[8 + header:]


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="logreg_mpi_")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def single(self, args):
        path = os.path.join(self.tmp, "single.lrm")
        r = run([EXE] + args + ["--save", path])
        self.assertEqual(r.returncode, 0, r.stderr)
        return weights(path, self.tmp), r.stdout


class SameWeights(Base):
    def assert_same_over_ranks(self, args, counts):
        """Fits with `args` in one process, then under mpirun -np n for each n: the same weights, one output."""
        want, single_out = self.single(args)
        final = [l for l in single_out.splitlines() if l.startswith("Solver:")]
        for n in counts:
            path = os.path.join(self.tmp, f"ranks{n}.lrm")
            r = mpirun(n, args + ["--save", path])
            self.assertEqual(r.returncode, 0, f"{n} ranks: {r.stderr}")
            self.assertEqual(weights(path, self.tmp), want, f"{n} ranks: the weights differ from one process")
            # Rank 0 alone prints: one final line, the single process's.
            self.assertEqual([l for l in r.stdout.splitlines() if l.startswith("Solver:")], final, r.stdout)

    def test_lbfgs_any_rank_count(self):
        # 8 parts of 87-88 rows: 3 ranks get 3, 3 and 2 parts
        self.assert_same_over_ranks(fit_args("lbfgs", rows=700), (1, 2, 3, 4))

    def test_newton_cg(self):
        self.assert_same_over_ranks(fit_args("newton-cg", rows=500, iters=8), (2,))

    def test_rank_without_rows(self):
        # The objective's 8 row parts over 9 ranks: the last computes none and still takes part in every exchange.
        self.assert_same_over_ranks(fit_args("lbfgs", rows=100, iters=5), (9,))

    def test_only_rank_zero_writes(self):
        path = os.path.join(self.tmp, "m.lrm")
        metrics = os.path.join(self.tmp, "m.csv")
        r = mpirun(3, fit_args("lbfgs", rows=300, iters=6) + ["--save", path, "--metrics", metrics])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(metrics) as f:
            rows = f.read().splitlines()
        self.assertEqual(len(rows), 1 + 6, rows)  # a header and one record per iteration: one writer
        left = sorted(f for f in os.listdir(self.tmp) if f != "m.lrm" and not f.startswith("m.csv"))
        self.assertEqual(left, [], "files other than the model and the metrics (temporaries of other ranks?)")


class Failures(Base):
    def test_different_data_on_one_rank(self):
        r = run([MPIRUN, "--oversubscribe", "-np", "1", EXE] + fit_args(rows=400) + [":", "-np", "1", EXE] +
                fit_args(rows=401), timeout=120)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("rank 1 sees different training rows", r.stderr)

    def test_killed_rank_ends_the_run(self):
        # Rank 1 is killed 2 s into a fit of several minutes; every rank must be gone within 10 s of that.
        script = ('if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then (sleep 2; kill -9 $$) & fi; exec "$0" "$@"')
        args = ["train", "--data", DATA, "--device", "cpu", "--solver", "lbfgs", "--max-iter", "100000",
                "--tol", "1e-12", "--eval-every", "0"]
        start = time.monotonic()
        r = run([MPIRUN, "--oversubscribe", "-np", "2", "sh", "-c", script, EXE] + args, timeout=120)
        elapsed = time.monotonic() - start
        self.assertNotEqual(r.returncode, 0)
        self.assertLess(elapsed, 2 + 10 + 5, "the run outlived its killed rank")  # + loading the set
        self.assertRegex(r.stderr, r"rank 1 .*(signal 9|Killed)")

    def test_refused_over_ranks(self):
        for extra, words in ((["--solver", "sgd", "--epochs", "1"], "--solver sgd does not run over MPI ranks"),
                             (["--solver", "lbfgs", "--device", "reference"], "--device reference does not run")):
            args = ["train", "--data", DATA, "--limit-train", "100"] + extra
            r = mpirun(2, args, timeout=120)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(words, r.stderr)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--exe", required=True)
    a, rest = p.parse_known_args()
    EXE = os.path.abspath(a.exe)
    if MPIRUN is None:
        sys.exit("test_mpi: mpirun not found (openmpi-bin, tools/setup/install_deps.sh installs it)")
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
