#!/usr/bin/env python3
"""`train --data FILE --solver lbfgs` with --penalty l1, elasticnet and none, and --cv K, against scikit-learn 1.2
on small standardized sets written as .npz files, on both CPU backends:

  L1Digits       the first 360 rows of scikit-learn's bundled digits, standardized; --penalty l1 --C 0.05 against
                 LogisticRegression(penalty="l1", solver="saga", tol=1e-8).
  ElasticNet     make_classification (240 rows, 12 features, 3 classes, 5 % labels flipped), standardized;
                 --penalty elasticnet --l1-ratio 0.5 --C 0.5 against saga, and --penalty l1 --C 0.2.
  NoPenalty      the same set; --penalty none against LogisticRegression(penalty="none", solver="lbfgs").
  CrossValidated the same set; --cv 4 against LogisticRegressionCV(Cs=..., cv=StratifiedKFold(4)): the same mean
                 validation accuracy for every C and the same chosen C, with --C 0.003,0.03,0.3,3 (one best C)
                 and with --C 0.01,0.1,1,10 (the last three tie: the first of them is chosen); and --cv 3 on
                 a sparse make_classification set (300 rows, 30 features, values below 0.8 set to 0) written as
                 svmlight, whose folds are CSR row copies.

For L1 and elastic-net: our objective (written out below in numpy, evaluated at the float32 weights of our model
file) is at most scikit-learn's + 1e-6, and the zero patterns agree: each weight is exactly 0 in our model where
scikit-learn's is below 1e-6 in magnitude, and nonzero where scikit-learn's is not. The objective is
scikit-learn's: mean cross-entropy + (1 - r) ||W||^2 / (2 C n) + r ||W||_1 / (C n), the bias not penalised
(1.2's saga: alpha = (1 - r) / C, beta = r / C, both divided by n).
Run by ctest (PenaltyParity.ScikitLearn) with the venv of tools/python_env.sh:
  .venv/bin/python test_penalty_parity.py --exe build/logreg_cuda [TestClass ...]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import unittest
import warnings

import numpy as np
from sklearn.datasets import dump_svmlight_file, load_digits, load_svmlight_file, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sklearn_reference import objective, report  # noqa: E402

EXE = None
TMP = None


def write_npz(name, X, y):
    path = os.path.join(TMP, f"{name}.npz")
    np.savez(path, x_train=X, y_train=y)
    return path


def train(name, path, device, flags):
    model = os.path.join(TMP, f"{name}_{device}.lrm")
    args = [EXE, "train", "--data", path, "--device", device, "--solver", "lbfgs", "--eval-every", "0",
            "--save", model] + flags
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr}")
    npz = model + ".npz"
    subprocess.run([EXE, "export", "--model", model, "--format", "npz", "--out", npz], check=True, capture_output=True)
    arrays = np.load(npz)
    return arrays["coef_"].astype(np.float64), arrays["intercept_"].astype(np.float64), r.stdout


def standardized_classification():
    X, y = make_classification(n_samples=240, n_features=12, n_informative=5, n_classes=3, flip_y=0.05,
                               random_state=1)
    return StandardScaler().fit_transform(X), y


def compare_sparse(test, name, X, y, penalty, C, l1_ratio, flags):
    clf = LogisticRegression(penalty=penalty, solver="saga", C=C, tol=1e-8, max_iter=100000,
                             l1_ratio=l1_ratio if penalty == "elasticnet" else None).fit(X, y)
    r = 1.0 if penalty == "l1" else l1_ratio
    f_sk = objective(clf.coef_, clf.intercept_, X, y, C, r)
    sk_zero = np.abs(clf.coef_) < 1e-6
    report(f"{name} scikit-learn saga objective", f"{f_sk:.12g} ({clf.n_iter_[0]} epochs), {sk_zero.sum()} of "
           f"{sk_zero.size} weights below 1e-6")
    path = write_npz(name, X, y)
    for device in ("reference", "cpu"):
        with test.subTest(device=device):
            W, b, out = train(name, path, device, flags + ["--C", str(C), "--tol", "1e-8", "--max-iter", "20000"])
            f_ours = objective(W, b, X, y, C, r)
            final = re.search(r"Solver: lbfgs\. Iterations: (\d+)\..*Converged: (yes|no)", out)
            report(f"{name} {device} objective", f"{f_ours:.12g} ({final.group(1)} iterations, converged "
                   f"{final.group(2)}), excess {f_ours - f_sk:.3g}, {int((W == 0).sum())} weights exactly 0")
            test.assertLessEqual(f_ours, f_sk + 1e-6)
            np.testing.assert_array_equal(W == 0, sk_zero)


class L1Digits(unittest.TestCase):
    def test_matches_saga(self):
        d = load_digits()
        X = StandardScaler().fit_transform(d.data[:360])
        compare_sparse(self, "digits_l1", X, d.target[:360], "l1", 0.05, None, ["--penalty", "l1"])


class ElasticNet(unittest.TestCase):
    def test_elasticnet_matches_saga(self):
        X, y = standardized_classification()
        compare_sparse(self, "classification_elasticnet", X, y, "elasticnet", 0.5, 0.5,
                       ["--penalty", "elasticnet", "--l1-ratio", "0.5"])

    def test_l1_matches_saga(self):
        X, y = standardized_classification()
        compare_sparse(self, "classification_l1", X, y, "l1", 0.2, None, ["--penalty", "l1"])


class NoPenalty(unittest.TestCase):
    def test_matches_lbfgs_without_penalty(self):
        X, y = standardized_classification()
        clf = LogisticRegression(penalty="none", solver="lbfgs", tol=1e-10, max_iter=20000).fit(X, y)
        f_sk = objective(clf.coef_, clf.intercept_, X, y, np.inf, 0.0)
        report("none scikit-learn lbfgs objective", f"{f_sk:.12g}")
        path = write_npz("none", X, y)
        for device in ("reference", "cpu"):
            with self.subTest(device=device):
                W, b, _ = train("none", path, device, ["--penalty", "none", "--tol", "1e-10", "--max-iter", "20000"])
                f_ours = objective(W, b, X, y, np.inf, 0.0)
                report(f"none {device} objective", f"{f_ours:.12g}, excess {f_ours - f_sk:.3g}")
                self.assertLessEqual(f_ours, f_sk + 1e-6)
                # the same predicted probabilities (W itself is unique only up to a shift shared by the classes)
                p_ours = np.exp(X @ W.T + b)
                p_ours /= p_ours.sum(axis=1, keepdims=True)
                np.testing.assert_allclose(p_ours, clf.predict_proba(X), atol=1e-4)


class CrossValidated(unittest.TestCase):
    def check(self, name, Cs, unique_best, data=None, K=4):
        X, y = standardized_classification() if data is None else data[:2]
        cv = LogisticRegressionCV(Cs=Cs, cv=StratifiedKFold(K), tol=1e-10, max_iter=20000).fit(X, y)
        mean_accuracy = cv.scores_[0].mean(axis=0)
        report(f"{name} scikit-learn", f"C_ {cv.C_[0]}, mean accuracies {mean_accuracy}")
        self.assertEqual(int(np.sum(mean_accuracy == mean_accuracy.max())) == 1, unique_best)  # the case it claims
        path = write_npz(name, X, y) if data is None else data[2]
        for device in ("reference", "cpu"):
            with self.subTest(device=device):
                W, b, out = train(name, path, device, ["--C", ",".join(str(c) for c in Cs), "--cv", str(K),
                                                       "--tol", "1e-10", "--max-iter", "20000"])
                rows = re.findall(r"^  ([0-9.e+-]+|inf) +([0-9.]+) +([0-9.]+) +\d+ +(?:yes|no)", out, re.M)
                self.assertEqual(len(rows), len(Cs), out)
                for (c, _, acc), sk_acc in zip(rows, mean_accuracy):
                    self.assertAlmostEqual(float(acc), 100.0 * sk_acc, places=3, msg=f"C {c}")
                best = re.search(r"^Best C: ([0-9.e+-]+) ", out, re.M)
                self.assertIsNotNone(best, out)
                report(f"{name} {device}", f"best C {best.group(1)}")
                self.assertEqual(float(best.group(1)), cv.C_[0])
                # the refit is the fit at that C on all rows
                ref = LogisticRegression(C=cv.C_[0], tol=1e-10, max_iter=20000).fit(X, y)
                self.assertLessEqual(objective(W, b, X, y, cv.C_[0], 0.0),
                                     objective(ref.coef_, ref.intercept_, X, y, cv.C_[0], 0.0) + 1e-6)

    def test_chooses_the_best_c(self):
        self.check("cv_best", [0.003, 0.03, 0.3, 3.0], True)

    def test_chooses_the_first_of_tied_cs(self):
        self.check("cv_tied", [0.01, 0.1, 1.0, 10.0], False)

    def test_cuts_sparse_rows_into_folds(self):
        X, y = make_classification(n_samples=300, n_features=30, n_informative=8, n_classes=3, flip_y=0.05,
                                   random_state=4)
        X[np.abs(X) < 0.8] = 0.0
        path = os.path.join(TMP, "cv_sparse.svm")
        dump_svmlight_file(X, y, path, zero_based=False)
        X_csr, y_read = load_svmlight_file(path)
        self.check("cv_sparse", [0.01, 0.1, 1.0, 10.0], True, (X_csr, y_read.astype(np.int64), path), K=3)


def main():
    global EXE, TMP
    parser = argparse.ArgumentParser()
    parser.add_argument("--exe", required=True)
    args, rest = parser.parse_known_args()
    EXE = os.path.abspath(args.exe)
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.simplefilter("ignore", FutureWarning)  # 1.2 deprecates penalty="none" for None, which 1.2 also takes
    with tempfile.TemporaryDirectory() as tmp:
        TMP = tmp
        unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
