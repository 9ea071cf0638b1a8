"""What the Python tests against scikit-learn share: scikit-learn's multinomial objective in float64, the IDX
reader, a generated sparse svmlight set, and the MEASURED line a test prints for its figures. No test of its own; each script imports it from its
own folder (the script's folder is first on sys.path)."""

import gzip
import os
import struct

import numpy as np


def objective(W, b, X, y_index, C=1.0, l1_ratio=0.0):
    """scikit-learn's multinomial objective in float64 on the rows X (dense or CSR): the mean cross-entropy plus
    (1 - l1_ratio) ||W||^2 / (2 C n) + l1_ratio ||W||_1 / (C n); C = inf: no penalty."""
    Z = np.asarray(X @ W.T) + b
    Z = Z - Z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(Z).sum(axis=1))
    n = X.shape[0]
    f = float(np.mean(lse - Z[np.arange(n), y_index]))
    if np.isinf(C):
        return f
    return f + (1 - l1_ratio) * float((W ** 2).sum()) / (2 * C * n) + l1_ratio * float(np.abs(W).sum()) / (C * n)


def load_idx(path, flat=True):
    """uint8 labels (N,) or images of a gzipped IDX file: (N, rows*cols), or (N, rows, cols) with flat=False."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    return data.reshape(dims[0], -1) if flat and ndim == 3 else data


def report(name, value):
    """A figure of the test, in the line the test logs are searched for."""
    print(f"MEASURED {name}: {value}", flush=True)


def sparse_svmlight_set(directory, prefix, n_train, class_labels, **make_args):
    """A sparse set in svmlight files: make_classification(**make_args) with |x| < 0.8 set to 0 and class k
    labelled class_labels[k], its first n_train rows in <prefix>train.svm and the others in <prefix>test.svm
    (1-based columns) in `directory`, read back. Returns (train path, test path, X_train, y_train, X_test, y_test)
    with the X as scikit-learn reads them (CSR)."""
    from sklearn.datasets import dump_svmlight_file, load_svmlight_files, make_classification

    X, y = make_classification(**make_args)
    X[np.abs(X) < 0.8] = 0.0
    labels = np.array(class_labels)[y]
    train, test = os.path.join(directory, prefix + "train.svm"), os.path.join(directory, prefix + "test.svm")
    dump_svmlight_file(X[:n_train], labels[:n_train], train, zero_based=False)
    dump_svmlight_file(X[n_train:], labels[n_train:], test, zero_based=False)
    return (train, test, *load_svmlight_files([train, test]))
