#!/usr/bin/env python3
"""`train --solver lbfgs` against scikit-learn's LogisticRegression(solver="lbfgs"), on the first
2,000 rows (500 at LOGREG_TEST_SIZE=small) of Debian's Fashion-MNIST, C = 1, tol 1e-8, both from zeros:

  Reference   --device reference (double): the objective (evaluated in float64 here, at each side's
              coefficients) within 1e-6 relative of scikit-learn's, the weights within 1e-3 relative L2, the
              test predictions agreeing on >= 99.9 % of the 10,000 rows; the objective the run prints is the
              float64 objective of the weights it saved.
  FastCpu     --device cpu (float32 logits, double sums): the same bounds.

The objective is scikit-learn's: mean cross-entropy + ||W||^2 / (2 C n), the bias not penalised.
Run by ctest (LbfgsParity.*) with the venv of tools/setup/python_env.sh:
  .venv/bin/python test_lbfgs_parity.py --exe build/logreg_cuda [TestClass ...]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sklearn_reference import load_idx, objective, report  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
# LOGREG_TEST_SIZE=small (the sanitizer stage, where our side runs instrumented): 500 rows, the same bounds.
ROWS = 500 if os.environ.get("LOGREG_TEST_SIZE") == "small" else 2000
C = 1.0
TOL = 1e-8
EXE = None
TMP = None
SK = {}  # scikit-learn's fit, made once


def setUpModule():
    global TMP, X, Y, X_TEST, Y_TEST
    TMP = tempfile.TemporaryDirectory(prefix="logreg_lbfgs_")
    X = load_idx(os.path.join(DATA, "train-images-idx3-ubyte.gz"))[:ROWS] / 255.0
    Y = load_idx(os.path.join(DATA, "train-labels-idx1-ubyte.gz"))[:ROWS]
    X_TEST = load_idx(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")) / 255.0
    Y_TEST = load_idx(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz"))
    start = time.perf_counter()
    clf = LogisticRegression(C=C, tol=TOL, max_iter=100000, solver="lbfgs").fit(X, Y)
    SK.update(seconds=time.perf_counter() - start, W=clf.coef_, b=clf.intercept_, iterations=int(clf.n_iter_[0]),
              objective=objective(clf.coef_, clf.intercept_, X, Y, C), predicted=clf.predict(X_TEST))
    report(f"scikit-learn {sklearn.__version__} ({ROWS} rows, C {C:g}, tol {TOL:g})",
           f"{SK['iterations']} iterations, objective {SK['objective']:.12g}, {SK['seconds']:.2f} s")


def tearDownModule():
    TMP.cleanup()


def fit_ours(device):
    """Our fit: (W, b, the final line's iterations and objective, wall seconds)."""
    model = os.path.join(TMP.name, f"{device}.lrm")
    npz = os.path.join(TMP.name, f"{device}.npz")
    start = time.perf_counter()
    r = subprocess.run([EXE, "train", "--data", DATA, "--device", device, "--solver", "lbfgs", "--limit-train",
                        str(ROWS), "--C", f"{C:g}", "--tol", f"{TOL:g}", "--max-iter", "10000", "--eval-every", "0",
                        "--save", model], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if r.returncode != 0:
        raise AssertionError(f"train exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr}")
    m = re.search(r"^Solver: lbfgs\. Iterations: (\d+)\. Objective: ([0-9.e+-]+)\. Gradient: ([0-9.e+-]+)\. "
                  r"Converged: (yes|no) \((.*)\)\. Accuracy: ([0-9.]+)\.$", r.stdout, re.M)
    if m is None:
        raise AssertionError("no final Solver line in:\n" + r.stdout[-3000:])
    subprocess.run([EXE, "export", "--model", model, "--format", "npz", "--out", npz], check=True, capture_output=True)
    arrays = np.load(npz)
    return (arrays["coef_"].astype(np.float64), arrays["intercept_"].astype(np.float64), int(m.group(1)),
            float(m.group(2)), m.group(4), m.group(5), seconds)


class ParityChecks:
    DEVICE = None

    def test_matches_scikit_learn(self):
        W, b, iterations, printed, converged, reason, seconds = fit_ours(self.DEVICE)
        ours = objective(W, b, X, Y, C)
        rel = abs(ours - SK["objective"]) / SK["objective"]
        # The bias is defined up to a constant shift (softmax); both start from 0, where the shift's gradient is 0.
        w_rel = float(np.linalg.norm(W - SK["W"]) / np.linalg.norm(SK["W"]))
        predicted = (X_TEST @ W.T + b).argmax(axis=1)
        agree = float((predicted == SK["predicted"]).mean())
        report(f"{self.DEVICE}: ours", f"{iterations} iterations, objective {ours:.12g} (printed {printed:.10g}), "
               f"converged {converged} ({reason}), {seconds:.2f} s")
        report(f"{self.DEVICE}: |objective - scikit-learn's| / scikit-learn's", f"{rel:.3g}")
        report(f"{self.DEVICE}: weights, relative L2 to scikit-learn's", f"{w_rel:.3g}")
        report(f"{self.DEVICE}: test predictions agreeing", f"{agree * 100:.2f} %")
        self.assertEqual(converged, "yes", reason)
        self.assertLessEqual(rel, 1e-6)
        self.assertLessEqual(w_rel, 1e-3)
        self.assertGreaterEqual(agree, 0.999)
        self.assertLessEqual(abs(printed - ours) / ours, 1e-6)  # the printed objective is the saved model's


class Reference(ParityChecks, unittest.TestCase):
    DEVICE = "reference"


class FastCpu(ParityChecks, unittest.TestCase):
    DEVICE = "cpu"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exe", required=True, help="the logreg_cuda executable")
    args, rest = parser.parse_known_args()
    EXE = os.path.abspath(args.exe)
    unittest.main(argv=[sys.argv[0], "-v", *rest])
