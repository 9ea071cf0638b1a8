#!/usr/bin/env python3
"""`train --data FILE --solver lbfgs` on feature files against scikit-learn's LogisticRegression(solver="lbfgs"),
C = 1, tol 1e-10, both from zeros, on both CPU backends:

  Digits   scikit-learn's bundled digits (8x8, float64 values 0-16, not scaled), 1,400 training rows and 397 test
           rows, written by numpy.savez_compressed as x_train/y_train/x_test/y_test (deflated zip64 members).
  Dense    make_classification (700 rows, 30 features, 5 classes) as float32, labels 10..14, in an .npz without
           x_test and a second .npz given by --test-data.
  Fashion  the first 1,000 training and 1,000 test images of Debian's Fashion-MNIST as a uint8 .npz (Keras'
           (n, 28, 28) layout); scikit-learn fits the same pixels / 255.
  Sparse   make_classification (800 rows, 60 features, 4 classes), values below 0.8 in magnitude set to zero,
           labels -3, 0, 7, 100, written by dump_svmlight_file (1-based) as a training and a test file; read
           back by scikit-learn's load_svmlight_files into CSR for its fit.

For each: our objective (written out below, evaluated in float64 at the weights our model file holds) is at most
scikit-learn's times (1 + 1e-6); the test accuracies are equal; the exported classes_ are scikit-learn's.
The objective is scikit-learn's: mean cross-entropy + ||W||^2 / (2 C n), the bias not penalised.
Run by ctest (FeatureParity.ScikitLearn) with the venv of tools/python_env.sh:
  .venv/bin/python test_feature_parity.py --exe build/logreg_cuda [TestClass ...]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_digits, make_classification
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sklearn_reference import load_idx, objective, report, sparse_svmlight_set  # noqa: E402

C = 1.0
TOL = 1e-10
EXE = None
TMP = None


def fit_sklearn(X, y):
    clf = LogisticRegression(C=C, tol=TOL, max_iter=20000, solver="lbfgs")
    clf.fit(X, y)
    return clf


def fit_ours(name, device, data, test_data=None):
    model = os.path.join(TMP, f"{name}_{device}.lrm")
    args = [EXE, "train", "--data", data, "--device", device, "--solver", "lbfgs", "--C", "1", "--tol", str(TOL),
            "--max-iter", "20000", "--eval-every", "0", "--save", model]
    if test_data:
        args += ["--test-data", test_data]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr}")
    final = re.search(r"Solver: lbfgs\. Iterations: (\d+)\. Objective: ([0-9.e+-]+)\..*Accuracy: ([0-9.]+)\.", r.stdout)
    assert final, r.stdout[-2000:]
    npz = model + ".npz"
    subprocess.run([EXE, "export", "--model", model, "--format", "npz", "--out", npz], check=True, capture_output=True)
    arrays = np.load(npz)
    return (arrays["coef_"].astype(np.float64), arrays["intercept_"].astype(np.float64), arrays["classes_"],
            float(arrays["scale"]), int(final.group(1)), float(final.group(3)))


def compare(test, name, data, test_data, X, y, X_test, y_test, scale=1.0):
    scale_expected = scale
    clf = fit_sklearn(X, y)
    classes = clf.classes_
    y_index = np.searchsorted(classes, y)
    f_sk = objective(clf.coef_, clf.intercept_, X, y_index, C)
    acc_sk = 100.0 * float(np.mean(clf.predict(X_test) == y_test))
    report(f"{name} scikit-learn objective", f"{f_sk:.12g} ({clf.n_iter_[0]} iterations), accuracy {acc_sk:.2f}")
    for device in ("reference", "cpu"):
        with test.subTest(device=device):
            W, b, our_classes, scale, iterations, printed_acc = fit_ours(name, device, data, test_data)
            np.testing.assert_array_equal(our_classes, classes)
            test.assertAlmostEqual(scale, 1.0 if scale_expected == 1.0 else 1.0 / 255.0, places=12)
            f_ours = objective(W, b, X, y_index, C)
            pred = our_classes[np.argmax(np.asarray(X_test @ W.T) + b, axis=1)]
            acc_ours = 100.0 * float(np.mean(pred == y_test))
            report(f"{name} {device} objective", f"{f_ours:.12g} ({iterations} iterations), accuracy {acc_ours:.2f} "
                   f"(printed {printed_acc:.2f}), relative excess {(f_ours - f_sk) / f_sk:.3g}")
            test.assertLessEqual(f_ours, f_sk * (1 + 1e-6))
            test.assertEqual(acc_ours, acc_sk)
            test.assertAlmostEqual(printed_acc, acc_ours, places=2)


class Digits(unittest.TestCase):
    def test_matches_scikit_learn(self):
        d = load_digits()
        X, y = d.data, d.target
        path = os.path.join(TMP, "digits.npz")
        np.savez_compressed(path, x_train=X[:1400], y_train=y[:1400], x_test=X[1400:], y_test=y[1400:])
        compare(self, "digits", path, None, X[:1400], y[:1400], X[1400:], y[1400:])


class Dense(unittest.TestCase):
    def test_matches_scikit_learn(self):
        X, y = make_classification(n_samples=700, n_features=30, n_informative=10, n_classes=5, random_state=7)
        X = X.astype(np.float32)
        labels = y + 10
        train, test = os.path.join(TMP, "dense_train.npz"), os.path.join(TMP, "dense_test.npz")
        np.savez(train, x_train=X[:500], y_train=labels[:500])
        np.savez(test, x_train=X[500:], y_train=labels[500:])
        compare(self, "dense", train, test, X[:500].astype(np.float64), labels[:500], X[500:].astype(np.float64),
                labels[500:])


class Fashion(unittest.TestCase):
    def test_matches_scikit_learn(self):
        data = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
        X = load_idx(f"{data}/train-images-idx3-ubyte.gz", flat=False)[:1000]
        y = load_idx(f"{data}/train-labels-idx1-ubyte.gz")[:1000]
        Xt = load_idx(f"{data}/t10k-images-idx3-ubyte.gz", flat=False)[:1000]
        yt = load_idx(f"{data}/t10k-labels-idx1-ubyte.gz")[:1000]
        path = os.path.join(TMP, "fashion.npz")
        np.savez_compressed(path, x_train=X, y_train=y, x_test=Xt, y_test=yt)
        unit = lambda a: a.reshape(a.shape[0], -1).astype(np.float64) / 255.0
        compare(self, "fashion", path, None, unit(X), y.astype(np.int64), unit(Xt), yt.astype(np.int64), scale=1 / 255.0)


class Sparse(unittest.TestCase):
    def test_matches_scikit_learn(self):
        train, test, X_train, y_train, X_test, y_test = sparse_svmlight_set(
            TMP, "", 600, [-3, 0, 7, 100], n_samples=800, n_features=60, n_informative=12, n_classes=4,
            random_state=3)
        self.assertTrue(sp.issparse(X_train))
        compare(self, "sparse", train, test, X_train, y_train.astype(np.int64), X_test, y_test.astype(np.int64))


def run(module):
    """Runs `module`'s test classes: its EXE set from --exe, its TMP a temporary directory for their files."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--exe", required=True)
    args, rest = parser.parse_known_args()
    module.EXE = os.path.abspath(args.exe)
    with tempfile.TemporaryDirectory() as tmp:
        module.TMP = tmp
        unittest.main(module=module, argv=[sys.argv[0]] + rest, verbosity=2)


def main():
    run(sys.modules[__name__])


if __name__ == "__main__":
    main()
