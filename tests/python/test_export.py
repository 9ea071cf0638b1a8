#!/usr/bin/env python3
"""The exported models, checked by the real clients, on Debian's Fashion-MNIST test split.

  OnnxRuntime      `export --format onnx` per loss head: onnx.checker passes, ONNX Runtime on the 10,000 raw
                   test images gives the argmax and (within 1e-5) the probabilities `predict` prints.
  PyTorchLinear    `export --format safetensors` loads into nn.Linear(784, 10) with load_state_dict as it
                   is; its logits on pixel / 255 match a float64 reference of our maths within 1e-5.
  ScikitLearn      `export --format npz`: LogisticRegression with coef_, intercept_, classes_ predicts on
                   pixels * scale exactly what `predict` predicts.
  PyTorchTrained   the tutorial's model trained in PyTorch and saved with safetensors: `eval --model` gives
                   the accuracy PyTorch computes, and `train --init` starts from those weights.

Run by ctest (Export.*) with the venv of tools/setup/python_env.sh: .venv/bin/python test_export.py --exe
build/logreg_cuda [TestClass ...]. A client that cannot be imported fails the run; nothing is skipped.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import onnx
import onnxruntime as ort
import safetensors.torch
import sklearn
import torch
from safetensors import safe_open
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sklearn_reference import load_idx, report  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
EXE = None  # set from --exe
TMP = None  # tempfile.TemporaryDirectory of this run
HEADS = ("softmax", "sigmoid-softmax", "ovr")


def run(*args):
    """Runs logreg_cuda; fails the test with its output when the exit code is not 0."""
    r = subprocess.run([EXE, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"logreg_cuda {' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r.stdout


def path(name):
    return os.path.join(TMP.name, name)


def train_model(head, limit, lr):
    """A short training run on the first `limit` rows (CPU backend, seed 0), saved as HEAD.lrm."""
    out = path(f"{head}.lrm")
    if not os.path.exists(out):
        run("train", "--device", "cpu", "--data", DATA, "--epochs", "1", "--limit-train", str(limit), "--lr", str(lr),
            "--loss", head, "--save", out)
    return out


def export(model, fmt, out):
    run("export", "--model", model, "--format", fmt, "--out", out)
    return out


def predict_all(model):
    """(predicted (N,), probabilities (N, C)) of `predict --all` in JSON Lines (full double precision)."""
    text = run("predict", "--model", model, "--images", TEST_IMAGES, "--all", "--format", "jsonl")
    rows = [json.loads(line) for line in text.splitlines()]
    return np.array([r["predicted"] for r in rows]), np.array([r["probabilities"] for r in rows])


def reference_logits(weight, bias, pixels):
    """Our compute_logits in float64: x = float32(pixel / 255), W x + b summed in double."""
    x = (pixels.astype(np.float32) / np.float32(255)).astype(np.float64)
    return x @ weight.astype(np.float64).T + bias.astype(np.float64)


def setUpModule():
    global TMP, TEST_IMAGES, X_TEST, Y_TEST
    TMP = tempfile.TemporaryDirectory(prefix="logreg_export_")
    TEST_IMAGES = os.path.join(DATA, "t10k-images-idx3-ubyte.gz")
    X_TEST = load_idx(TEST_IMAGES)
    Y_TEST = load_idx(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz"))
    assert X_TEST.shape == (10000, 784) and Y_TEST.shape == (10000,), (X_TEST.shape, Y_TEST.shape)
    torch.set_num_threads(1)


def tearDownModule():
    TMP.cleanup()


class OnnxRuntime(unittest.TestCase):
    def test_every_head_matches_predict(self):
        pixels = X_TEST.astype(np.float32)  # raw 0..255: the graph divides by 255
        for head in HEADS:
            with self.subTest(head=head):
                model = train_model(head, 10000 if head == "softmax" else 3000, 0.05)
                onnx_path = export(model, "onnx", path(f"{head}.onnx"))
                m = onnx.load(onnx_path)
                onnx.checker.check_model(m, full_check=True)
                self.assertEqual([(o.domain, o.version) for o in m.opset_import], [("", 13)])
                self.assertEqual([i.name for i in m.graph.input], ["pixels"])
                self.assertEqual([o.name for o in m.graph.output], ["logits", "probabilities"])
                meta = {p.key: p.value for p in m.metadata_props}
                settings = json.loads(meta["logreg_cuda.settings"])
                self.assertEqual((settings["loss"], settings["epochs"], settings["limit_train"]),
                                 (head, 1, 10000 if head == "softmax" else 3000))
                self.assertIn("Training settings: " + meta["logreg_cuda.settings"], m.doc_string)

                session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
                logits, probs = session.run(["logits", "probabilities"], {"pixels": pixels})
                self.assertEqual(probs.shape, (10000, 10))
                predicted, ours = predict_all(model)
                agree = int((logits.argmax(axis=1) == predicted).sum())
                max_dp = float(np.abs(probs.astype(np.float64) - ours).max())
                report(f"onnx {head}: argmax agreement with predict", f"{agree}/10000")
                report(f"onnx {head}: max |dprob| vs predict", f"{max_dp:.3g}")
                self.assertEqual(agree, 10000)
                self.assertLessEqual(max_dp, 1e-5)
                if head == "ovr":
                    self.assertGreater(float(np.abs(probs.sum(axis=1) - 1).max()), 0.01)  # independent sigmoids
                else:
                    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


class PyTorchLinear(unittest.TestCase):
    def test_state_dict_loads_and_logits_match(self):
        model = train_model("softmax", 10000, 0.05)
        st_path = export(model, "safetensors", path("softmax.safetensors"))
        linear = torch.nn.Linear(784, 10)
        linear.load_state_dict(safetensors.torch.load_file(st_path))  # strict: exactly weight and bias
        with safe_open(st_path, framework="pt") as f:
            meta = f.metadata()
        self.assertEqual((meta["loss_head"], meta["rows"], meta["cols"]), ("softmax", "28", "28"))
        self.assertEqual(json.loads(meta["settings"])["limit_train"], 10000)

        with torch.no_grad():
            x = torch.from_numpy(X_TEST.astype(np.float32)) / 255.0  # ToTensor()'s scaling, the user's job
            logits = linear(x).numpy()
        w = linear.weight.detach().numpy()
        b = linear.bias.detach().numpy()
        ref = reference_logits(w, b, X_TEST)
        max_dz = float(np.abs(logits - ref).max())
        # float32 GEMM error grows with |z| (here about 8 float32 ulps at |z| = 10): 1e-5 holds for this model.
        report("pytorch: max |dlogit| vs float64 reference", f"{max_dz:.3g} (max |logit| {np.abs(ref).max():.3g})")
        self.assertLessEqual(max_dz, 1e-5)

        predicted, ours = predict_all(model)
        torch_probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
        max_dp = float(np.abs(torch_probs - ours).max())
        agree = int((logits.argmax(axis=1) == predicted).sum())
        report("pytorch: max |dprob| vs predict", f"{max_dp:.3g}")
        report("pytorch: argmax agreement with predict", f"{agree}/10000")
        self.assertLessEqual(max_dp, 1e-5)
        self.assertEqual(agree, 10000)


class ScikitLearn(unittest.TestCase):
    def test_npz_arrays_predict_the_same(self):
        model = train_model("softmax", 10000, 0.05)
        arrays = np.load(export(model, "npz", path("softmax.npz")))
        self.assertEqual(sorted(arrays.files), ["classes_", "coef_", "intercept_", "scale"])
        self.assertEqual(arrays["coef_"].shape, (10, 784))
        self.assertEqual(float(arrays["scale"]), 1 / 255)
        clf = LogisticRegression()
        clf.coef_ = arrays["coef_"]
        clf.intercept_ = arrays["intercept_"]
        clf.classes_ = arrays["classes_"]
        sk_pred = clf.predict(X_TEST * arrays["scale"])
        predicted, ours = predict_all(model)
        agree = int((sk_pred == predicted).sum())
        report(f"scikit-learn {sklearn.__version__}: predictions identical to predict", f"{agree}/10000")
        self.assertEqual(agree, 10000)
        sk_probs = clf.predict_proba(X_TEST * arrays["scale"])  # multinomial: softmax of the decision function
        max_dp = float(np.abs(sk_probs - ours).max())
        report("scikit-learn: max |dprob| vs predict", f"{max_dp:.3g}")
        self.assertLessEqual(max_dp, 1e-5)


class LogisticRegressionTutorial(torch.nn.Module):
    """The PyTorch tutorial's model, as it is (its sigmoid head included)."""

    def __init__(self, input_dim=784, output_dim=10):
        super().__init__()
        self.linear = torch.nn.Linear(input_dim, output_dim)

    def forward(self, x):
        return torch.sigmoid(self.linear(x))


class PyTorchTrained(unittest.TestCase):
    def test_eval_and_init_from_a_pytorch_model(self):
        torch.manual_seed(0)
        images = load_idx(os.path.join(DATA, "train-images-idx3-ubyte.gz"))[:10000]
        labels = load_idx(os.path.join(DATA, "train-labels-idx1-ubyte.gz"))[:10000]
        x_train = torch.from_numpy(images.astype(np.float32)) / 255.0
        y_train = torch.from_numpy(labels.astype(np.int64))
        model = LogisticRegressionTutorial()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        loss_fn = torch.nn.CrossEntropyLoss()
        for start in torch.randperm(10000).split(32):
            optimizer.zero_grad()
            loss_fn(model(x_train[start]), y_train[start]).backward()
            optimizer.step()
        with torch.no_grad():
            out = model(torch.from_numpy(X_TEST.astype(np.float32)) / 255.0)
        torch_correct = int((out.argmax(dim=1).numpy() == Y_TEST).sum())
        st_path = path("tutorial.safetensors")
        safetensors.torch.save_file(model.state_dict(), st_path)  # keys linear.weight, linear.bias

        ours = json.loads(run("eval", "--json", "--model", st_path, "--data", DATA))
        report("pytorch-trained model: accuracy PyTorch / logreg_cuda eval",
               f"{torch_correct / 100:.2f}% / {ours['accuracy_percent']:.2f}%")
        self.assertEqual(ours["count"], 10000)
        self.assertEqual(ours["correct"], torch_correct)

        # train --init: a vanishing learning rate leaves the PyTorch weights, so the accuracy stays.
        saved = path("from_torch.lrm")
        text = run("train", "--device", "cpu", "--data", DATA, "--epochs", "1", "--limit-train", "1000", "--lr",
                   "1e-12", "--loss", "sigmoid-softmax", "--init", st_path, "--save", saved)
        self.assertIn("Initial weights from " + st_path, text)
        after = json.loads(run("eval", "--json", "--model", saved, "--data", DATA))
        self.assertEqual(after["correct"], torch_correct)
        self.assertEqual(after["loss_head"], "sigmoid-softmax")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exe", required=True, help="the logreg_cuda executable")
    args, rest = parser.parse_known_args()
    EXE = os.path.abspath(args.exe)
    unittest.main(argv=[sys.argv[0], "-v", *rest])
