#!/usr/bin/env python3
"""`mpirun -np N logreg_cuda train --solver lbfgs|newton-cg` (include/logreg/ranks.hpp): the fitted weights are
byte-identical to the single-process run for N = 1..4 (uneven shards) and 9 (a rank with no rows), from IDX files
(raw ones read in shares: each rank its rows, within a memory limit one process exceeds) and from .npz (each rank
reading only its rows of x_train, stored or deflated: a NaN in the last row is seen by the last rank alone) and
svmlight files, on --device cpu, on --device reference (IDX files) and on --device cuda (CudaRanks: one device per
rank, IDX and feature files; the emulated device in a LOGREG_CUDA=emulated build); SGD over ranks gives the same
weights for N = 1..4 (synchronous, a global batch: on cpu, reference and cuda, and on .npz and svmlight files with
row weights and without intercept) and reruns the same at a fixed N (local SGD, --average-every, on cpu and cuda);
only rank 0 prints and
writes files, a rank that sees other data or is killed ends the whole run
within seconds with a message naming the rank, and what does not run over ranks is refused.

Run by ctest (Mpi.*) in a build with LOGREG_MPI on, with the system python3 (standard library only):
  python3 test_mpi.py --exe build/logreg_cuda [TestClass ...]
Data: Debian's dataset-fashion-mnist (installed by tools/setup/install_deps.sh).
"""
import argparse
import gzip
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


def fit_args(solver="lbfgs", rows=700, iters=25, device="cpu"):
    return ["train", "--data", DATA, "--device", device, "--solver", solver, "--limit-train", str(rows),
            "--max-iter", str(iters), "--eval-every", "0"]


def write_raw_set(work, rows, test_rows=500, offset=0):
    """Raw (not gzip) IDX files in `work`: `rows` training rows, Fashion-MNIST's from row `offset` on, repeated as
    needed, and its first `test_rows` test rows. Raw files let each rank read only its rows."""
    os.makedirs(work, exist_ok=True)

    def read(name):
        with gzip.open(os.path.join(DATA, name + ".gz"), "rb") as f:
            return f.read()

    def repeat(data, start, size, count):
        out = bytearray()
        at = start
        while len(out) < count * size:
            out += data[at * size:(at + count) * size][:count * size - len(out)]
            at = 0
        return bytes(out)

    for kind, head, size, n in (("train", 16, 784, rows), ("t10k", 16, 784, test_rows)):
        img = read(f"{kind}-images-idx3-ubyte")
        lab = read(f"{kind}-labels-idx1-ubyte")
        start = offset if kind == "train" else 0
        with open(os.path.join(work, f"{kind}-images-idx3-ubyte"), "wb") as f:
            f.write(img[:4] + n.to_bytes(4, "big") + img[8:head] + repeat(img[head:], start, size, n))
        with open(os.path.join(work, f"{kind}-labels-idx1-ubyte"), "wb") as f:
            f.write(lab[:4] + n.to_bytes(4, "big") + repeat(lab[8:], start, 1, n))
    return work


def fashion_rows(rows):
    """The first `rows` Fashion-MNIST training images ((rows, 784) bytes) and labels."""
    with gzip.open(os.path.join(DATA, "train-images-idx3-ubyte.gz"), "rb") as f:
        img = f.read(16 + rows * 784)[16:]
    with gzip.open(os.path.join(DATA, "train-labels-idx1-ubyte.gz"), "rb") as f:
        lab = f.read(8 + rows)[8:]
    return img, lab


def write_svmlight(path, rows):
    """Fashion-MNIST's first rows as svmlight text (pixel / 255, zeros left out): the CSR path."""
    img, lab = fashion_rows(rows)
    with open(path, "w") as f:
        for i in range(rows):
            px = img[i * 784:(i + 1) * 784]
            f.write(str(lab[i]) + "".join(f" {d + 1}:{v / 255:.6g}" for d, v in enumerate(px) if v) + "\n")
    return path


def npy(shape, data, descr="|u1"):
    """An .npy file of `data` (bytes, C order) written by hand, so that the system python3 needs no NumPy."""
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data


def write_npz(path, rows, compressed=False, test_rows=0, weights=False, floats=False, change=None):
    """Fashion-MNIST's first rows as an .npz of uint8 x_train (rows, 784) and y_train, stored (or deflated, as
    np.savez_compressed writes it); with `floats` x as float32 pixel / 255, the next `test_rows` images as x_test and
    y_test, `weights` a w_train of 1 to 3; `change` (row, value) sets that row's first feature."""
    import zipfile

    img, lab = fashion_rows(rows + test_rows)
    n = rows * 784

    def x_of(pixels, count):
        if not floats:
            return npy((count, 784), pixels)
        values = [v / 255 for v in pixels]
        if change is not None and count == rows:
            values[change[0] * 784] = change[1]
        return npy((count, 784), struct.pack(f"<{len(values)}f", *values), "<f4")

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED) as z:
        z.writestr("x_train.npy", x_of(img[:n], rows))
        z.writestr("y_train.npy", npy((rows,), lab[:rows]))
        if test_rows:
            z.writestr("x_test.npy", x_of(img[n:], test_rows))
            z.writestr("y_test.npy", npy((test_rows,), lab[rows:]))
        if weights:
            z.writestr("w_train.npy", npy((rows,), struct.pack(f"<{rows}d", *(1 + i % 3 for i in range(rows))), "<f8"))
    return path


def sgd_args(rows=1003, epochs=2, batch=50, device="cpu"):
    """SGD with momentum on `rows` rows: 1003 cuts unevenly over 2, 3 and 4 ranks and into batch parts."""
    return ["train", "--data", DATA, "--device", device, "--limit-train", str(rows), "--epochs", str(epochs),
            "--batch-size", str(batch), "--lr", "0.1", "--momentum", "0.9"]


def sgd_fit(test, n, args, name):
    """mpirun -np n with `args` and --save: the saved weights and the printed epoch lines."""
    path = os.path.join(test.tmp, name)
    r = mpirun(n, args + ["--save", path])
    test.assertEqual(r.returncode, 0, f"{n} ranks: {r.stderr}")
    return weights(path, test.tmp), [l for l in r.stdout.splitlines() if l.startswith("Epoch:")]


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


def npz_weights(model, tmp):
    """The arrays of the model's npz export, the export for models of float features (safetensors takes pixels)."""
    import zipfile
    out = os.path.join(tmp, os.path.basename(model) + ".npz")
    r = run([EXE, "export", "--model", model, "--format", "npz", "--out", out])
    assert r.returncode == 0, r.stderr
    with zipfile.ZipFile(out) as z:
        return {name: z.read(name) for name in sorted(z.namelist())}


def npy_floats(blob):
    """The float32 values of an .npy member of the npz export (coef_, intercept_)."""
    (header,) = struct.unpack("<H", blob[8:10])
    data = blob[10 + header:]
    return struct.unpack(f"<{len(data) // 4}f", data)


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="logreg_mpi_")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def single(self, args, of=weights):
        path = os.path.join(self.tmp, "single.lrm")
        r = run([EXE] + args + ["--save", path])
        self.assertEqual(r.returncode, 0, r.stderr)
        return of(path, self.tmp), r.stdout

    def assert_same_weights_named(self, args, counts, of):
        """Fits with `args` in one process, then under mpirun -np n for each n: the same weights (read by `of`), and
        the run's lines name the ranks. Returns the single process's weights and output."""
        want, single_out = self.single(args, of)
        for n in counts:
            path = os.path.join(self.tmp, f"ranks{n}.lrm")
            r = mpirun(n, args + ["--save", path])
            self.assertEqual(r.returncode, 0, f"{n} ranks: {r.stderr}")
            self.assertEqual(of(path, self.tmp), want, f"{n} ranks: the weights differ from one process")
            self.assertIn(f"on each of {n} MPI ranks", r.stdout)
        return want, single_out

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


class SameWeights(Base):
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


class ReferenceRanks(Base):
    """--device reference: its objective is the same 8 fixed row parts, each in row order, added in part order."""

    def test_lbfgs_any_rank_count(self):
        self.assert_same_over_ranks(fit_args("lbfgs", rows=700, iters=10, device="reference"), (1, 2, 3, 4))

    def test_newton_cg(self):
        self.assert_same_over_ranks(fit_args("newton-cg", rows=300, iters=4, device="reference"), (2, 3))

    def test_rank_without_rows(self):
        self.assert_same_over_ranks(fit_args("lbfgs", rows=100, iters=4, device="reference"), (9,))

    def test_same_weights_from_shares(self):
        # Raw files: each rank holds only its parts' rows.
        data = write_raw_set(os.path.join(self.tmp, "set"), 900)
        self.assert_same_over_ranks(["train", "--data", data, "--device", "reference", "--solver", "lbfgs",
                                     "--max-iter", "6", "--eval-every", "0"], (2, 4))


class CudaRanks(Base):
    """--device cuda, one device per rank (the node-local rank modulo the devices seen): the kernel's row blocks
    are grouped by the 8 parts, each rank computes its parts' sums on its device, copies them to host memory and
    the ranks exchange them. Run in builds with CUDA (ctest label gpu): the emulated device in CI."""

    def setUp(self):
        super().setUp()
        probe = run([EXE] + self.fit(rows=100, iters=1), timeout=120)  # every class among the rows
        if probe.returncode != 0 and os.environ.get("LOGREG_REQUIRE_GPU") != "1":
            self.skipTest("no usable CUDA device: " + probe.stderr.strip()[-200:])

    @staticmethod
    def fit(rows, iters, extra=()):
        return fit_args("lbfgs", rows=rows, iters=iters, device="cuda") + list(extra)

    def test_lbfgs_any_rank_count(self):
        # 300 rows: 8 parts of 37-38 rows, one row block each.
        self.assert_same_over_ranks(self.fit(300, 5), (1, 2, 3, 4))

    def test_rank_without_rows(self):
        # 9 ranks: the last computes no part (launches nothing) and still takes part in every exchange.
        self.assert_same_over_ranks(self.fit(100, 4), (9,))

    def test_feature_files(self):
        # An svmlight file (CSR rows, densified to float64 on upload) and a uint8 .npz: each rank uploads its parts'
        # rows and computes their sums on its device; the same weights as one process.
        for data, of in ((write_svmlight(os.path.join(self.tmp, "set.svm"), 200), npz_weights),
                         (write_npz(os.path.join(self.tmp, "set.npz"), 200), weights)):
            args = ["train", "--data", data, "--device", "cuda", "--solver", "lbfgs", "--max-iter", "5",
                    "--eval-every", "0"]
            _, single_out = self.assert_same_weights_named(args, (2, 3), of)
            self.assertIn("rows on device", single_out)

    def test_streamed_rows_from_shares(self):
        # Raw files, each rank holding its parts' rows, on the device and streamed from pinned host memory; and
        # 1,100 rows: 8 parts of 2 row blocks each.
        data = write_raw_set(os.path.join(self.tmp, "set"), 1100)
        for residency in ("device", "stream"):
            self.assert_same_over_ranks(["train", "--data", data, "--device", "cuda", "--solver", "lbfgs",
                                         "--residency", residency, "--max-iter", "3", "--eval-every", "0"], (2,))

    def test_sync_sgd_any_rank_count(self):
        # Synchronous SGD: each batch through the device's objective (its 8 parts shared out), the reference's
        # update on every rank. 203 rows in batches of 50 and a last one of 3 (3 parts).
        args = sgd_args(rows=203, epochs=2, device="cuda")
        want, lines = sgd_fit(self, 1, args, "ranks1.lrm")
        self.assertEqual(len(lines), 2, lines)
        self.assertNotEqual(lines[0].split("Loss:")[1][:7], lines[1].split("Loss:")[1][:7], "the loss did not move")
        for n in (2, 3):
            got, _ = sgd_fit(self, n, args, f"ranks{n}.lrm")
            self.assertEqual(got, want, f"{n} ranks: the weights differ from one rank")

    def test_local_sgd(self):
        # Each rank its own CUDA SGD backend on its shard, the models averaged every epoch: one rank is the plain
        # run (the whole epoch, the average of one model), two ranks rerun the same and differ from one.
        args = sgd_args(rows=240, epochs=2, batch=16, device="cuda")
        plain, _ = self.single(args)
        one, _ = sgd_fit(self, 1, args + ["--average-every", "1"], "one.lrm")
        self.assertEqual(one, plain, "local SGD on one rank is not the plain CUDA run")
        first, _ = sgd_fit(self, 2, args + ["--average-every", "1"], "a.lrm")
        again, _ = sgd_fit(self, 2, args + ["--average-every", "1"], "b.lrm")
        self.assertEqual(again, first, "local SGD over 2 ranks is not the same run to run")
        self.assertNotEqual(first, one, "2 ranks cut other shards: another model")



class Share(Base):
    """Raw IDX files: each rank reads only the rows of its parts, rank 0 alone the test set."""

    def test_same_weights_from_shares(self):
        data = write_raw_set(os.path.join(self.tmp, "set"), 1500)
        args = ["train", "--data", data, "--device", "cpu", "--solver", "lbfgs", "--max-iter", "12",
                "--eval-every", "4"]  # the other ranks evaluate their empty test sets
        want, single_out = self.single(args)
        for n in (2, 3, 4):
            path = os.path.join(self.tmp, f"ranks{n}.lrm")
            r = mpirun(n, args + ["--save", path])
            self.assertEqual(r.returncode, 0, f"{n} ranks: {r.stderr}")
            self.assertEqual(weights(path, self.tmp), want, f"{n} ranks: the weights differ from one process")
            self.assertIn("Test accuracy:", r.stdout)
            self.assertIn("500 test rows", r.stdout)

    def test_other_pixels_on_one_rank(self):
        # The same count and labels' file layout, other pixels: the sample rows differ.
        a = write_raw_set(os.path.join(self.tmp, "a"), 1200)
        b = write_raw_set(os.path.join(self.tmp, "b"), 1200, offset=7)
        args = ["train", "--device", "cpu", "--solver", "lbfgs", "--max-iter", "5", "--eval-every", "0"]
        r = run([MPIRUN, "--oversubscribe", "-np", "1", EXE] + args + ["--data", a] + [":", "-np", "1", EXE] + args +
                ["--data", b], timeout=120)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("rank 1 sees different training rows", r.stderr)

    def test_four_ranks_fit_where_one_process_cannot(self):
        # 120,000 rows (94 MB of pixels) under a data-segment limit (RLIMIT_DATA: the heap and private mappings)
        # of 100 MiB: one process loading them all needs about 127 MB, each of 4 ranks far less (a quarter of the
        # pixels and of the kept probabilities, plus Open MPI's own 30-odd MB). An address-space limit (ulimit -v) cannot show this: Open
        # MPI maps about 300 MB of shared memory and libraries into every rank, data or not.
        data = write_raw_set(os.path.join(self.tmp, "big"), 120000)
        args = ["train", "--data", data, "--device", "cpu", "--solver", "lbfgs", "--max-iter", "2",
                "--eval-every", "0"]
        limit = ["prlimit", f"--data={100 << 20}"]
        alone = run(limit + [EXE] + args, timeout=120)
        self.assertNotEqual(alone.returncode, 0, "one process fitted within the limit: the test proves nothing")
        self.assertIn("out of host memory", alone.stderr)
        r = run([MPIRUN, "--oversubscribe", "-np", "4"] + limit + [EXE] + args, timeout=180)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Solver:", r.stdout)


class FeatureFiles(Base):
    """.npz and svmlight files on --device cpu and reference: the objective's 8 parts are shared; for the plain
    L-BFGS / Newton-CG fit of an .npz with a test split each rank keeps only its parts' rows of x_train, else every
    rank loads the file."""

    def fit(self, data):
        return ["train", "--data", data, "--device", "cpu", "--solver", "lbfgs", "--max-iter", "15",
                "--eval-every", "5"]

    def test_svmlight_same_weights(self):
        args = self.fit(write_svmlight(os.path.join(self.tmp, "set.svm"), 600))
        want, _ = self.assert_same_weights_named(args, (2, 3), npz_weights)
        self.assertIn("coef_.npy", want)

    def test_svmlight_on_the_reference(self):
        # The reference's feature-file objective: the same 8 parts, each in row order, added in part order.
        args = self.fit(write_svmlight(os.path.join(self.tmp, "set.svm"), 400))
        args[args.index("cpu")] = "reference"
        want, _ = self.single(args, npz_weights)
        for n in (2, 3):
            path = os.path.join(self.tmp, f"ranks{n}.lrm")
            r = mpirun(n, args + ["--save", path])
            self.assertEqual(r.returncode, 0, f"{n} ranks: {r.stderr}")
            self.assertEqual(npz_weights(path, self.tmp), want, f"{n} ranks: the weights differ from one process")

    def test_npz_same_weights(self):
        args = self.fit(write_npz(os.path.join(self.tmp, "set.npz"), 700))
        want, _ = self.single(args)
        path = os.path.join(self.tmp, "ranks4.lrm")
        r = mpirun(4, args + ["--save", path])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(weights(path, self.tmp), want, "4 ranks: the weights differ from one process")

    def test_npz_rows_per_rank_same_weights(self):
        # float32 rows, stored and deflated, with w_train: each rank reads its rows of x_train only.
        for compressed in (False, True):
            data = write_npz(os.path.join(self.tmp, f"set{compressed}.npz"), 701, compressed, test_rows=50,
                             weights=True, floats=True)
            want, _ = self.assert_same_weights_named(self.fit(data), (2, 3, 4), npz_weights)
            self.assertIn("coef_.npy", want)
        # uint8 rows on the reference, Newton-CG, a --sample-weight file instead of w_train.
        data = write_npz(os.path.join(self.tmp, "pixels.npz"), 403, True, test_rows=30)
        weight_file = os.path.join(self.tmp, "w.npy")
        with open(weight_file, "wb") as f:
            f.write(npy((403,), struct.pack("<403d", *(0.5 + i % 4 for i in range(403))), "<f8"))
        args = ["train", "--data", data, "--device", "reference", "--solver", "newton-cg", "--max-iter", "4",
                "--sample-weight", weight_file]
        self.assert_same_weights_named(args, (2, 4), weights)

    def test_rank_reads_only_its_rows(self):
        # A NaN in the last row: only the rank whose parts hold it reads it (every rank would, loading the file).
        for compressed in (False, True):
            data = write_npz(os.path.join(self.tmp, f"nan{compressed}.npz"), 400, compressed, test_rows=20,
                             floats=True, change=(399, float("nan")))
            r = mpirun(4, self.fit(data), timeout=120)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("rank 3 of 4: " + data + ": x_train.npy: row 399, feature 0: expected a finite number",
                          r.stderr)
            for rank in range(3):
                self.assertNotIn(f"rank {rank} of 4: {data}", r.stderr)

    def test_other_rows_on_one_rank(self):
        # Two files alike but for one value of the last row, which only the last rank holds: the member's CRC-32,
        # part of every rank's fingerprint, tells them apart.
        a = write_npz(os.path.join(self.tmp, "a.npz"), 300, test_rows=20, floats=True)
        b = write_npz(os.path.join(self.tmp, "b.npz"), 300, test_rows=20, floats=True, change=(299, 0.5))
        r = run([MPIRUN, "--oversubscribe", "-np", "1", EXE] + self.fit(a) + [":", "-np", "1", EXE] + self.fit(b),
                timeout=120)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("rank 1 sees different training rows (their features and labels)", r.stderr)

    def assert_sgd_same_over_ranks(self, args, of, counts):
        """Synchronous SGD on a feature file: the weights of -np 1 at every rank count in `counts`."""
        want = None
        for n in (1,) + counts:
            path = os.path.join(self.tmp, f"sgd{n}.lrm")
            r = mpirun(n, args + ["--save", path])
            self.assertEqual(r.returncode, 0, f"{n} ranks: {r.stderr}")
            self.assertIn("synchronous SGD over ranks", r.stdout)
            got = of(path, self.tmp)
            if want is None:
                want = got
            self.assertEqual(got, want, f"{n} ranks: the weights differ from one rank")
        return want

    def test_sgd_svmlight_weighted(self):
        # CSR rows, each row's loss times its class weight (balanced), on cpu (the fused pass) and the reference.
        svm = write_svmlight(os.path.join(self.tmp, "set.svm"), 403)
        for device in ("cpu", "reference"):
            args = ["train", "--data", svm, "--device", device, "--epochs", "2", "--batch-size", "50", "--lr", "0.1",
                    "--momentum", "0.9", "--class-weight", "balanced"]
            want = self.assert_sgd_same_over_ranks(args, npz_weights, (2, 3, 4))
            self.assertGreater(max(abs(v) for v in npy_floats(want["coef_.npy"])), 0.01,
                               f"{device}: the weights barely moved")

    def test_sgd_npz_without_intercept(self):
        # Dense uint8 rows, no intercept: the bias's gradient is 0 and the bias stays 0 at every rank count.
        npz = write_npz(os.path.join(self.tmp, "set.npz"), 403)
        for device in ("cpu", "reference"):
            args = ["train", "--data", npz, "--device", device, "--epochs", "2", "--batch-size", "50", "--lr", "0.1",
                    "--weight-decay", "1e-3", "--no-intercept"]
            want = self.assert_sgd_same_over_ranks(args, npz_weights, (2, 3))
            self.assertEqual(npy_floats(want["intercept_.npy"]), (0.0,) * 10,
                             f"{device}: the bias moved without an intercept")
            self.assertGreater(max(abs(v) for v in npy_floats(want["coef_.npy"])), 0.01,
                               f"{device}: the weights barely moved")

    def test_other_file_on_one_rank(self):
        a = write_svmlight(os.path.join(self.tmp, "a.svm"), 300)
        b = write_npz(os.path.join(self.tmp, "b.npz"), 300)
        r = run([MPIRUN, "--oversubscribe", "-np", "1", EXE] + self.fit(a) + [":", "-np", "1", EXE] + self.fit(b),
                timeout=120)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("rank 1 sees different training rows (their features and labels)", r.stderr)




class Sgd(Base):
    """--solver sgd under mpirun (rank_sgd.hpp)."""

    def fit(self, n, args, name):
        return sgd_fit(self, n, args, name)

    def test_sync_same_weights_any_rank_count(self):
        # Batches of 50 rows in the objective's 8 fixed parts of 6-7 rows, the last batch of 3 rows in 3 parts: 4
        # ranks get 2 parts each, 3 ranks 3, 3 and 2, and in the last batch a rank may get none.
        args = sgd_args()
        want, lines = self.fit(1, args, "ranks1.lrm")
        self.assertEqual(len(lines), 2, lines)
        self.assertNotEqual(lines[0].split("Loss:")[1][:7], lines[1].split("Loss:")[1][:7], "the loss did not move")
        for n in (2, 3, 4):
            got, got_lines = self.fit(n, args, f"ranks{n}.lrm")
            self.assertEqual(got, want, f"{n} ranks: the weights differ from one rank")
            # Only rank 0 prints, and the epoch's figures (the ranks' summed loss, the test accuracy) are one rank's.
            self.assertEqual([l.split(". Time")[0] for l in got_lines], [l.split(". Time")[0] for l in lines])

    def test_sync_reference_same_weights_any_rank_count(self):
        # --device reference: each batch through the reference's objective (its 8 parts, each in row order, in
        # double): the same weights at every rank count, within float rounding of the cpu engine's.
        args = sgd_args(device="reference")
        want, lines = self.fit(1, args, "ranks1.lrm")
        self.assertEqual(len(lines), 2, lines)
        for n in (2, 3, 4):
            got, _ = self.fit(n, args, f"ranks{n}.lrm")
            self.assertEqual(got, want, f"{n} ranks: the weights differ from one rank")
        cpu, _ = self.fit(2, sgd_args(), "cpu.lrm")
        ref, cpu = struct.unpack(f"<{len(want) // 4}f", want), struct.unpack(f"<{len(cpu) // 4}f", cpu)
        self.assertLess(max(abs(a - b) for a, b in zip(ref, cpu)), 1e-6, "the reference's steps stray from the cpu's")

    def test_sync_is_the_reference_step(self):
        # The same steps as the single-process reference (--device reference: the same per-row maths and update,
        # the batch's sums in one row-order pass instead of 8 parts): the weights agree to float rounding.
        args = sgd_args(rows=1003, epochs=2, batch=50)
        ref, _ = self.single([a if a != "cpu" else "reference" for a in args])
        got, _ = self.fit(2, args, "ranks2.lrm")
        ref, got = struct.unpack(f"<{len(ref) // 4}f", ref), struct.unpack(f"<{len(got) // 4}f", got)
        worst = max(abs(a - b) for a, b in zip(ref, got))
        self.assertGreater(max(abs(a) for a in ref), 0.01, "the weights barely moved: the test proves nothing")
        self.assertLess(worst, 1e-6, "synchronous SGD strays from the reference's steps")

    def test_local_sgd_reruns_the_same(self):
        args = sgd_args(rows=901, epochs=3, batch=16) + ["--average-every", "2"]
        first, lines = self.fit(3, args, "a.lrm")
        again, _ = self.fit(3, args, "b.lrm")
        self.assertEqual(again, first, "local SGD over 3 ranks is not the same run to run")
        self.assertEqual(len(lines), 3, lines)
        other, _ = self.fit(2, args, "c.lrm")
        self.assertNotEqual(other, first, "2 ranks cut other shards: another model")

    def test_local_sgd_one_rank_is_plain_sgd(self):
        # One rank: its shard is every row and the average of one model is itself, so the fit is the plain cpu
        # backend's, bit for bit.
        args = sgd_args(rows=500, epochs=2, batch=32)
        want, _ = self.single(args)
        got, _ = self.fit(1, args + ["--average-every", "1"], "one.lrm")
        self.assertEqual(got, want)

    def test_refused(self):
        r = mpirun(2, sgd_args(rows=100, epochs=1) + ["--average-every", "2", "--val-split", "0.2", "--early-stop",
                                                      "2"], timeout=120)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--average-every and --early-stop", r.stderr)
        r = run([EXE] + sgd_args(rows=100, epochs=1) + ["--average-every", "2"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--average-every 2 is local SGD over MPI ranks: run under mpirun -np N, on IDX files", r.stderr)
        svm = write_svmlight(os.path.join(self.tmp, "set.svm"), 50)
        r = mpirun(1, ["train", "--data", svm, "--epochs", "1", "--average-every", "1"], timeout=120)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--average-every 1 is local SGD over MPI ranks: run under mpirun -np N, on IDX files", r.stderr)
        r = mpirun(2, ["train", "--data", svm, "--epochs", "1", "--device", "cuda"], timeout=120)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(f"--device cuda does not run SGD over MPI ranks on a feature file ({svm}): use --device cpu or "
                      "reference", r.stderr)


class Failures(Base):
    def test_different_data_on_one_rank(self):
        r = run([MPIRUN, "--oversubscribe", "-np", "1", EXE] + fit_args(rows=400) + [":", "-np", "1", EXE] +
                fit_args(rows=401), timeout=120)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("rank 1 sees different training rows", r.stderr)

    def assert_killed_rank_ends(self, args):
        # Rank 1 is killed 2 s into a run of several minutes; every rank must be gone within 10 s of that.
        script = ('if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then (sleep 2; kill -9 $$) & fi; exec "$0" "$@"')
        start = time.monotonic()
        r = run([MPIRUN, "--oversubscribe", "-np", "2", "sh", "-c", script, EXE] + args, timeout=120)
        elapsed = time.monotonic() - start
        self.assertNotEqual(r.returncode, 0)
        self.assertLess(elapsed, 2 + 10 + 5, "the run outlived its killed rank")  # + loading the set
        self.assertRegex(r.stderr, r"rank 1 .*(signal 9|Killed)")

    def test_killed_rank_ends_the_run(self):
        self.assert_killed_rank_ends(["train", "--data", DATA, "--device", "cpu", "--solver", "lbfgs", "--max-iter",
                                      "100000", "--tol", "1e-12", "--eval-every", "0"])

    def test_killed_rank_ends_an_sgd_run(self):
        # During synchronous SGD, while the ranks exchange every step.
        self.assert_killed_rank_ends(["train", "--data", DATA, "--device", "cpu", "--epochs", "1000",
                                      "--batch-size", "32"])


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--exe", required=True)
    a, rest = p.parse_known_args()
    EXE = os.path.abspath(a.exe)
    if MPIRUN is None:
        sys.exit("test_mpi: mpirun not found (openmpi-bin, tools/setup/install_deps.sh installs it)")
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
