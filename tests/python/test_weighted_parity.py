#!/usr/bin/env python3
"""`train --data FILE` with scikit-learn's sample_weight, class_weight and fit_intercept=False against
LogisticRegression (C = 1, tol 1e-10, multinomial, from zeros), on both CPU backends:

  Balanced        digits (float64 .npz), --class-weight balanced, Newton-CG
  ClassFile       make_classification (600 rows, 40 features, 4 classes) made sparse, svmlight written here,
                  --class-weight FILE (LABEL WEIGHT lines), L-BFGS
  SampleWeights   digits, --sample-weight W.npy (float64, some zeros), Newton-CG
  Combined        make_classification as float32 with its sample weights as w_train in the .npz, and
                  --class-weight balanced, L-BFGS
  NoIntercept     digits, --no-intercept, Newton-CG

The objective is written out here as scikit-learn 1.2 defines it (linear_model/_logistic.py rescales the sample
weights to sum 1 before the class weights multiply them, and divides the penalty by their sum):
  f(W, b) = sum_i s_i cw[y_i] loss_i / sum_i s_i + ||W||^2 / (2 C sum_i s_i)
For each: ours (in float64, at the float32 weights the model file holds) <= scikit-learn's * (1 + 1e-6), and the
predicted labels on the test rows agree. Run by ctest (FeatureParity.Weights):
  .venv/bin/python test_weighted_parity.py --exe build/logreg_cuda [TestClass ...]
"""
import os
import re
import subprocess
import sys
import unittest

import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_digits, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.utils.class_weight import compute_class_weight

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_feature_parity  # noqa: E402  (its runner: --exe, a temporary directory)
from sklearn_reference import sparse_svmlight_set  # noqa: E402

C = 1.0
TOL = 1e-10
EXE = None
TMP = None


def objective(W, b, X, y_index, sw, cw):
    """scikit-learn's weighted multinomial objective in float64 (X dense or CSR)."""
    Z = np.asarray(X @ W.T) + b
    Z = Z - Z.max(axis=1, keepdims=True)
    loss = np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(X.shape[0]), y_index]
    a = sw * cw[y_index]
    S = sw.sum()
    return float((a * loss).sum() / S + (W ** 2).sum() / (2 * C * S))


def fit_ours(name, device, solver, data, extra, test_data=None):
    model = os.path.join(TMP, f"{name}_{device}.lrm")
    args = [EXE, "train", "--data", data, "--device", device, "--solver", solver, "--C", "1", "--tol", str(TOL),
            "--max-iter", "20000", "--eval-every", "0", "--save", model] + extra
    if test_data:
        args += ["--test-data", test_data]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr}")
    final = re.search(r"Solver: " + solver + r"\. Iterations: (\d+)\. Objective: ([0-9.e+-]+)\.", r.stdout)
    assert final, r.stdout[-2000:]
    npz = model + ".npz"
    subprocess.run([EXE, "export", "--model", model, "--format", "npz", "--out", npz], check=True, capture_output=True)
    arrays = np.load(npz)
    return arrays["coef_"].astype(np.float64), arrays["intercept_"].astype(np.float64), arrays["classes_"], int(final.group(1))


def compare(test, name, solver, data, extra, X, y, X_test, sample_weight=None, class_weight=None, fit_intercept=True,
            test_data=None):
    clf = LogisticRegression(C=C, tol=TOL, max_iter=20000, solver="lbfgs", class_weight=class_weight,
                             fit_intercept=fit_intercept)
    clf.fit(X, y, sample_weight=sample_weight)
    classes = clf.classes_
    y_index = np.searchsorted(classes, y)
    sw = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if class_weight is None:
        cw = np.ones(len(classes))
    elif class_weight == "balanced":
        cw = compute_class_weight("balanced", classes=classes, y=y)
    else:
        cw = np.array([class_weight.get(c, 1.0) for c in classes])
    f_sk = objective(clf.coef_, clf.intercept_, X, y_index, sw, cw)
    pred_sk = clf.predict(X_test)
    print(f"MEASURED {name} scikit-learn objective: {f_sk:.12g} ({clf.n_iter_[0]} iterations)", flush=True)
    for device in ("reference", "cpu"):
        with test.subTest(device=device):
            W, b, our_classes, iterations = fit_ours(name, device, solver, data, extra, test_data)
            np.testing.assert_array_equal(our_classes, classes)
            if not fit_intercept:
                test.assertTrue(np.all(b == 0.0))
            f_ours = objective(W, b, X, y_index, sw, cw)
            pred = our_classes[np.argmax(np.asarray(X_test @ W.T) + b, axis=1)]
            agree = float(np.mean(pred == pred_sk))
            print(f"MEASURED {name} {device} objective: {f_ours:.12g} ({iterations} iterations), relative excess "
                  f"{(f_ours - f_sk) / f_sk:.3g}, predictions agreeing {100 * agree:.2f}%", flush=True)
            test.assertLessEqual(f_ours, f_sk * (1 + 1e-6))
            test.assertEqual(agree, 1.0)


def digits():
    d = load_digits()
    X, y = d.data, d.target
    path = os.path.join(TMP, "digits.npz")
    np.savez(path, x_train=X[:1400], y_train=y[:1400], x_test=X[1400:], y_test=y[1400:])
    return path, X[:1400], y[:1400], X[1400:]


class Balanced(unittest.TestCase):
    def test_matches_scikit_learn(self):
        path, X, y, Xt = digits()
        compare(self, "balanced", "newton-cg", path, ["--class-weight", "balanced"], X, y, Xt, class_weight="balanced")


class ClassFile(unittest.TestCase):
    def test_matches_scikit_learn(self):
        train, test, X_train, y_train, X_test, _ = sparse_svmlight_set(
            TMP, "cw_", 450, [-2, 3, 8, 21], n_samples=600, n_features=40, n_informative=10, n_classes=4,
            random_state=5)
        self.assertTrue(sp.issparse(X_train))
        weights = {-2: 0.5, 8: 3.0, 21: 1.5}  # label 3 keeps 1
        cw_file = os.path.join(TMP, "class_weights.txt")
        with open(cw_file, "w") as f:
            f.write("# label weight\n" + "".join(f"{k} {v}\n" for k, v in weights.items()))
        compare(self, "classfile", "lbfgs", train, ["--class-weight", cw_file], X_train, y_train.astype(np.int64),
                X_test, class_weight=weights, test_data=test)


class SampleWeights(unittest.TestCase):
    def test_matches_scikit_learn(self):
        path, X, y, Xt = digits()
        sw = np.random.default_rng(3).uniform(0.0, 3.0, X.shape[0])
        sw[::9] = 0.0
        w_path = os.path.join(TMP, "sw.npy")
        np.save(w_path, sw)
        compare(self, "sampleweights", "newton-cg", path, ["--sample-weight", w_path], X, y, Xt, sample_weight=sw)


class Combined(unittest.TestCase):
    def test_matches_scikit_learn(self):
        X, y = make_classification(n_samples=700, n_features=30, n_informative=10, n_classes=5, random_state=7,
                                   weights=[0.4, 0.3, 0.15, 0.1, 0.05])
        X = X.astype(np.float32)
        sw = np.random.default_rng(1).uniform(0.5, 2.0, 500)
        path = os.path.join(TMP, "combined.npz")
        np.savez(path, x_train=X[:500], y_train=y[:500], w_train=sw, x_test=X[500:], y_test=y[500:])
        compare(self, "combined", "lbfgs", path, ["--class-weight", "balanced"], X[:500].astype(np.float64), y[:500],
                X[500:].astype(np.float64), sample_weight=sw, class_weight="balanced")


class NoIntercept(unittest.TestCase):
    def test_matches_scikit_learn(self):
        path, X, y, Xt = digits()
        compare(self, "nointercept", "newton-cg", path, ["--no-intercept"], X, y, Xt, fit_intercept=False)


def main():
    test_feature_parity.run(sys.modules[__name__])


if __name__ == "__main__":
    main()
