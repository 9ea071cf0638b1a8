#!/usr/bin/env python3
"""`train --standardize` on feature files, the exports of feature models, and `predict --output`, checked against
scikit-learn, ONNX Runtime and numpy on small generated sets (seconds each):

  PipelineParity        dense float32 features of scales 1e-3 to 1e3 plus a constant column, labels 2, 7, 11:
                        the exported mean_/scale_ are StandardScaler's, our objective on the standardised rows is at
                        most make_pipeline(StandardScaler(), LogisticRegression())'s times (1 + 1e-6), and the test
                        predictions are the pipeline's; the same for CSR rows (svmlight) against
                        StandardScaler(with_mean=False) (our mean_: zeros, as nothing is subtracted).
  OnnxRoundTrip         `export --format onnx` of that standardised model: onnx.checker passes, and ONNX Runtime on
                        the raw test rows gives the labels `predict --output class` prints and the logits of
                        `predict --output logits`.
  SafetensorsRoundTrip  `export --format safetensors`: classes, mean, scale, weight and bias in numpy predict what
                        `predict` predicts, and `eval --model F.safetensors` reads the scaler back (eval's counts).
  PredictOutput         `predict --output logits|proba|class` (csv and jsonl, --top-k) against numpy on the npz
                        export's arrays, for the feature model and for a model trained on Debian's Fashion-MNIST IDX.

Run by ctest (Standardize.*) with the venv of tools/setup/python_env.sh:
  .venv/bin/python test_standardize.py --exe build/logreg_cuda [TestClass ...]
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import onnx
import onnxruntime as ort
from safetensors.numpy import load_file
from sklearn.datasets import dump_svmlight_file, load_svmlight_files, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sklearn_reference import objective, report  # noqa: E402

TOL = 1e-10
EXE = None
TMP = None
LABELS = np.array([2, 7, 11])
FASHION = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist


def run(*args):
    r = subprocess.run([EXE, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"logreg_cuda {' '.join(args)} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr}")
    return r.stdout


def path(name):
    return os.path.join(TMP, name)


def dense_set():
    """(x_train, y_train, x_test, y_test) float32, saved once as dense.npz."""
    X, y = make_classification(n_samples=600, n_features=12, n_informative=6, n_classes=3, random_state=5)
    X = X * 10.0 ** np.linspace(-3, 3, 12) + np.linspace(-50, 50, 12)
    X = np.hstack([X, np.full((600, 1), 4.0)]).astype(np.float32)  # a constant feature: scale 1
    labels = LABELS[y]
    split = (X[:450], labels[:450], X[450:], labels[450:])
    if not os.path.exists(path("dense.npz")):
        np.savez(path("dense.npz"), x_train=split[0], y_train=split[1], x_test=split[2], y_test=split[3])
    return split


def train(data, name, *extra, device="cpu"):
    model = path(f"{name}_{device}.lrm")
    if not os.path.exists(model):
        run("train", "--data", data, "--device", device, "--solver", "lbfgs", "--C", "1", "--tol", str(TOL),
            "--max-iter", "20000", "--eval-every", "0", "--standardize", "--save", model, *extra)
    return model


def export(model, fmt):
    """`export --format FMT` of `model` beside it; the file's path."""
    out = f"{model}.{fmt}"
    run("export", "--model", model, "--format", fmt, "--out", out)
    return out


def export_npz(model):
    return np.load(export(model, "npz"))


def predict_csv(model, images, output, *extra):
    """The rows of `predict --all --output OUTPUT` as (header, predicted (N,), values (N, K))."""
    lines = run("predict", "--model", model, "--images", images, "--all", "--output", output, *extra).splitlines()
    rows = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    return lines[0], rows[:, 1].astype(np.int64), rows[:, 2:]


def ours_logits(arrays, X):
    """The logits our exported arrays give in float64: ((X * scale - mean_) / scale_) @ coef_.T + intercept_."""
    x = (X.toarray() if hasattr(X, "toarray") else np.asarray(X, dtype=np.float64)) * float(arrays["scale"])
    if "mean_" in arrays.files:
        x = (x - arrays["mean_"]) / arrays["scale_"]
    return x @ arrays["coef_"].astype(np.float64).T + arrays["intercept_"].astype(np.float64)


class PipelineParity(unittest.TestCase):
    def check(self, name, data, test_data, X, y, X_test, y_test, with_mean):
        pipe = make_pipeline(StandardScaler(with_mean=with_mean),
                             LogisticRegression(C=1.0, tol=TOL, max_iter=20000, solver="lbfgs"))
        pipe.fit(X, y)
        scaler, clf = pipe[0], pipe[1]
        Xs = scaler.transform(X)
        y_index = np.searchsorted(clf.classes_, y)
        f_sk = objective(clf.coef_, clf.intercept_, Xs, y_index)
        sk_pred = pipe.predict(X_test)
        for device in ("reference", "cpu"):
            with self.subTest(name=name, device=device):
                model = train(data, name, *(["--test-data", test_data] if test_data else []), device=device)
                a = export_npz(model)
                np.testing.assert_array_equal(a["classes_"], clf.classes_)
                np.testing.assert_allclose(a["scale_"], scaler.scale_, rtol=1e-12)
                if with_mean:
                    np.testing.assert_allclose(a["mean_"], scaler.mean_, rtol=1e-12, atol=1e-12)
                else:  # scikit-learn records the means it does not subtract; ours are the zeros subtracted
                    np.testing.assert_array_equal(a["mean_"], 0.0)
                W, b = a["coef_"].astype(np.float64), a["intercept_"].astype(np.float64)
                f_ours = objective(W, b, Xs, y_index)
                pred = a["classes_"][np.argmax(ours_logits(a, X_test), axis=1)]
                report(f"{name} {device}: objective ours / pipeline", f"{f_ours:.12g} / {f_sk:.12g}, relative excess "
                       f"{(f_ours - f_sk) / f_sk:.3g}; test predictions equal {int((pred == sk_pred).sum())}/{len(pred)}")
                self.assertLessEqual(f_ours, f_sk * (1 + 1e-6))
                np.testing.assert_array_equal(pred, sk_pred)
                # docs/export.md's recipe: a pipeline made of the exported arrays predicts the same.
                scaler2, clf2 = StandardScaler(with_mean=with_mean), LogisticRegression()
                scaler2.mean_, scaler2.scale_, scaler2.var_ = a["mean_"], a["scale_"], a["scale_"] ** 2
                scaler2.n_features_in_ = a["mean_"].size
                clf2.coef_, clf2.intercept_, clf2.classes_ = a["coef_"], a["intercept_"], a["classes_"]
                np.testing.assert_array_equal(make_pipeline(scaler2, clf2).predict(X_test * a["scale"]), pred)

    def test_dense_matches_standard_scaler_pipeline(self):
        X, y, Xt, yt = dense_set()
        self.check("dense", path("dense.npz"), None, X.astype(np.float64), y, Xt.astype(np.float64), yt, True)

    def test_csr_matches_scale_only_pipeline(self):
        X, y = make_classification(n_samples=500, n_features=30, n_informative=8, n_classes=3, random_state=9)
        X[np.abs(X) < 0.7] = 0.0
        X *= 10.0 ** np.linspace(-2, 2, 30)
        labels = LABELS[y]
        train_file, test_file = path("train.svm"), path("test.svm")
        dump_svmlight_file(X[:400], labels[:400], train_file, zero_based=False)
        dump_svmlight_file(X[400:], labels[400:], test_file, zero_based=False)
        X_train, y_train, X_test, y_test = load_svmlight_files([train_file, test_file])
        self.check("csr", train_file, test_file, X_train, y_train.astype(np.int64), X_test, y_test.astype(np.int64),
                   False)


class OnnxRoundTrip(unittest.TestCase):
    def test_runtime_gives_our_labels_and_logits(self):
        _, _, Xt, _ = dense_set()
        model = train(path("dense.npz"), "dense")
        onnx_path = export(model, "onnx")
        m = onnx.load(onnx_path)
        onnx.checker.check_model(m, full_check=True)
        self.assertEqual([i.name for i in m.graph.input], ["features"])
        self.assertEqual([o.name for o in m.graph.output], ["logits", "probabilities", "label"])
        self.assertEqual([n.op_type for n in m.graph.node],
                         ["Cast", "Sub", "Div", "Cast", "Gemm", "Softmax", "ArgMax", "Gather"])
        session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        logits, probs, label = session.run(None, {"features": Xt})
        _, predicted, _ = predict_csv(model, path("dense.npz"), "class")
        _, _, z = predict_csv(model, path("dense.npz"), "logits")
        max_dz = float(np.abs(logits - z).max())
        report("onnx standardised: labels equal to predict", f"{int((label == predicted).sum())}/{len(label)}")
        report("onnx standardised: max |dlogit| vs predict --output logits",
               f"{max_dz:.3g} (max |logit| {np.abs(z).max():.3g})")
        np.testing.assert_array_equal(label, predicted)
        self.assertTrue(set(np.unique(label)) <= set(LABELS.tolist()))
        self.assertLessEqual(max_dz, 1e-5 * max(1.0, float(np.abs(z).max())))
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


class SafetensorsRoundTrip(unittest.TestCase):
    def test_tensors_predict_as_we_do_and_eval_reads_the_scaler_back(self):
        _, _, Xt, yt = dense_set()
        model = train(path("dense.npz"), "dense")
        st = export(model, "safetensors")
        t = load_file(st)
        self.assertEqual(sorted(t), ["bias", "classes", "mean", "scale", "weight"])
        self.assertEqual((t["classes"].dtype, t["mean"].dtype, t["scale"].dtype), (np.int64, np.float64, np.float64))
        z = ((Xt.astype(np.float64) - t["mean"]) / t["scale"]) @ t["weight"].astype(np.float64).T + t["bias"]
        _, predicted, _ = predict_csv(model, path("dense.npz"), "class")
        np.testing.assert_array_equal(t["classes"][z.argmax(axis=1)], predicted)
        from_lrm = json.loads(run("eval", "--json", "--model", model, "--data", path("dense.npz")))
        from_st = json.loads(run("eval", "--json", "--model", st, "--data", path("dense.npz")))
        self.assertEqual(from_st["correct"], from_lrm["correct"])
        self.assertEqual(from_st["count"], len(yt))
        self.assertEqual(from_st["class_labels"], LABELS.tolist())


class PredictOutput(unittest.TestCase):
    def test_feature_model_values_match_numpy(self):
        _, _, Xt, _ = dense_set()
        model = train(path("dense.npz"), "dense")
        a = export_npz(model)
        z = ours_logits(a, Xt)
        header, predicted, logits = predict_csv(model, path("dense.npz"), "logits")
        self.assertEqual(header, "index,predicted,z2,z7,z11")
        np.testing.assert_allclose(logits, z, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(predicted, LABELS[z.argmax(axis=1)])
        header, _, p = predict_csv(model, path("dense.npz"), "proba")
        self.assertEqual(header, "index,predicted,p2,p7,p11")
        e = np.exp(z - z.max(axis=1, keepdims=True))
        np.testing.assert_allclose(p, e / e.sum(axis=1, keepdims=True), atol=1e-5)
        header, _, nothing = predict_csv(model, path("dense.npz"), "class")
        self.assertEqual((header, nothing.shape[1]), ("index,predicted", 0))
        # jsonl with --top-k: the K largest logits, largest first.
        text = run("predict", "--model", model, "--images", path("dense.npz"), "--index", "3", "--output", "logits",
                   "--format", "jsonl", "--top-k", "2")
        row = json.loads(text)
        order = np.argsort(-z[3])[:2]
        self.assertEqual([c["class"] for c in row["top_k"]], LABELS[order].tolist())
        np.testing.assert_allclose([c["logit"] for c in row["top_k"]], z[3][order], rtol=1e-6)

    def test_idx_model_values_match_numpy(self):
        model = path("fashion.lrm")
        run("train", "--device", "cpu", "--data", FASHION, "--epochs", "1", "--limit-train", "2000", "--lr", "0.05",
            "--save", model)
        a = export_npz(model)
        images = os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")
        with gzip.open(images, "rb") as f:
            raw = f.read()
        pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 784)
        x = (pixels.astype(np.float32) / np.float32(255)).astype(np.float64)  # our float32 input
        z = x @ a["coef_"].astype(np.float64).T + a["intercept_"].astype(np.float64)
        header, predicted, logits = predict_csv(model, images, "logits")
        self.assertEqual(header, "index,predicted," + ",".join(f"z{c}" for c in range(10)))
        max_dz = float(np.abs(logits - z).max())
        report("predict --output logits (IDX): max |dlogit| vs numpy", f"{max_dz:.3g}")
        self.assertLessEqual(max_dz, 1e-5 * max(1.0, float(np.abs(z).max())))
        np.testing.assert_array_equal(predicted, logits.argmax(axis=1))


def main():
    global EXE, TMP
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exe", required=True, help="the logreg_cuda executable")
    args, rest = parser.parse_known_args()
    EXE = os.path.abspath(args.exe)
    with tempfile.TemporaryDirectory(prefix="logreg_standardize_") as tmp:
        TMP = tmp
        unittest.main(argv=[sys.argv[0], "-v", *rest])


if __name__ == "__main__":
    main()
