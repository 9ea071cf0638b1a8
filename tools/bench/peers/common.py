"""Shared parts of the benchmark peers in tools/bench/peers/: IDX reading, data-set discovery (the same rules
as logreg_cuda), the common command line, the JSON-lines output and the timed epoch loop.
It defines no model; each peer script holds its own training loop. Imports torch only when asked to.

Every peer prints one JSON object per line on stdout:
    {"epoch": 1, "train_seconds": ..., "eval_seconds": ..., "test_accuracy": ..., "train_loss": ..., ...}
    ...
    {"summary": true, "peer": ..., "time_to_target_seconds": ... or null, ...}
"""
import argparse
import gzip
import json
import os
import platform
import struct
import sys
import time

import numpy as np

STANDARD_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                  "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
IDX_TYPE_UBYTE = 0x08


class DataError(Exception):
    """A missing or malformed data file; the message names the file."""


def read_idx(path):
    """Returns the uint8 array stored in one IDX file (raw or gzip, judged by the magic bytes)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic)")
    if raw[2] != IDX_TYPE_UBYTE:
        raise DataError(f"{path}: element type 0x{raw[2]:02x}, expected 0x08 (unsigned byte)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: truncated header ({ndim} dimensions)")
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) != header + count:
        raise DataError(f"{path}: {len(raw) - header} data bytes, expected {count} for shape {shape}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _find_one(directory, name):
    """The path of NAME in DIRECTORY, raw preferred over .gz; None when neither exists."""
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def _find_files(directory):
    """(dir, [four paths]) from DIR or DIR/MNIST/raw, or None."""
    for place in (directory, os.path.join(directory, "MNIST", "raw")):
        if not os.path.isdir(place):
            continue
        paths = [_find_one(place, name) for name in STANDARD_NAMES]
        if all(paths):
            return place, paths
    return None


def data_set_name(directory):
    """'Fashion-MNIST', 'MNIST' or the directory, judged like logreg_cuda from the last two components."""
    resolved = os.path.realpath(directory).rstrip("/")
    base = os.path.basename(resolved).lower()
    tail = os.path.basename(os.path.dirname(resolved)).lower() + "/" + base
    if "fashion" in tail:
        return "Fashion-MNIST"
    if "mnist/raw" in tail or "mnist" in base:
        return "MNIST"
    return directory


def locate_data(directory=None):
    """(name, dir, paths): --data DIR (or DIR/MNIST/raw), else ./data, else Debian's Fashion-MNIST."""
    if directory is not None:
        found = _find_files(directory)
        if found is None:
            raise DataError(f"--data {directory}: the four IDX files are in neither {directory} nor "
                            f"{os.path.join(directory, 'MNIST', 'raw')}")
    else:
        found = _find_files("data") or _find_files(FASHION_MNIST_DIR)
        if found is None:
            raise DataError("no data set found: no --data given, ./data has no IDX files and "
                            f"{FASHION_MNIST_DIR} does not exist")
    place, paths = found
    return data_set_name(place), place, paths


def load_data(directory=None, limit=0):
    """Dict with train_images (N, H, W) uint8, train_labels (N,) uint8, test_images, test_labels,
    name, dir, full_train_rows; `limit` > 0 keeps the first `limit` training rows (as --limit-train)."""
    name, place, paths = locate_data(directory)
    train_images, train_labels, test_images, test_labels = (read_idx(p) for p in paths)
    if len(train_images) != len(train_labels) or len(test_images) != len(test_labels):
        raise DataError(f"{place}: image and label counts differ")
    full = len(train_images)
    if limit > 0:
        train_images, train_labels = train_images[:limit], train_labels[:limit]
    return {"name": name, "dir": place, "full_train_rows": full,
            "train_images": train_images, "train_labels": train_labels,
            "test_images": test_images, "test_labels": test_labels,
            "classes": int(train_labels.max()) + 1}


def default_target(data_name):
    """The time-to-accuracy target: 92.0% on MNIST, 84.0% on Fashion-MNIST (and anything else)."""
    return 92.0 if data_name == "MNIST" else 84.0


def argument_parser(description, sgd=True):
    """The options every peer shares; `sgd` adds the mini-batch SGD ones."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", default=None, help="IDX directory (default: ./data, then Fashion-MNIST)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch / BLAS (0 = the library's own default)")
    p.add_argument("--target-accuracy", type=float, default=None,
                   help="stop once the test accuracy (percent) reaches this and report the wall time to it; "
                        "0 = 92.0 on MNIST, 84.0 otherwise")
    p.add_argument("--limit", type=int, default=0, help="train on the first N rows only (0 = all)")
    p.add_argument("--seed", type=int, default=0)
    if sgd:
        p.add_argument("--epochs", type=int, default=1)
        p.add_argument("--batch-size", type=int, default=32)
        p.add_argument("--lr", type=float, default=0.001)
        p.add_argument("--momentum", type=float, default=0.0)
    return p


def emit(record):
    """One JSON line on stdout."""
    print(json.dumps(record, sort_keys=True), flush=True)


def setup_torch(args):
    """Seeds torch, sets its CPU threads, checks the device; returns (torch, torch.device)."""
    import torch
    torch.manual_seed(args.seed)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch.cuda.is_available() is False", file=sys.stderr)
        sys.exit(5)
    return torch, torch.device(args.device)


def torch_sync(torch, device):
    """A function that waits for the device's queued work (nothing to wait for on the CPU)."""
    if device.type == "cuda":
        return torch.cuda.synchronize
    return lambda: None


def run_main(main):
    """Runs a peer's main(): a data error is one line on stderr and exit code 3, as logreg_cuda does."""
    try:
        main()
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(3)


def torch_description(torch, device):
    """Versions and the device's name, for the summary line."""
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "python": platform.python_version()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def run_epochs(args, data, train_epoch, evaluate, sync, summary):
    """The timed loop shared by the SGD peers: for each epoch, time `train_epoch(epoch)` (returns the
    sum of per-row losses, or a 0-d tensor of it) and `evaluate()` (returns test accuracy in percent),
    calling `sync()` before each clock read; print the epoch line; stop at --target-accuracy.
    Prints the summary line (`summary` dict plus the loop's results)."""
    rows = len(data["train_labels"])
    if args.target_accuracy == 0:
        args.target_accuracy = default_target(data["name"])
    elapsed, reached_at, reached_epoch, last_acc = 0.0, None, None, None
    epochs_run = 0
    for epoch in range(1, args.epochs + 1):
        sync()
        t0 = time.perf_counter()
        loss_sum = train_epoch(epoch)
        sync()
        t1 = time.perf_counter()
        acc = evaluate()
        sync()
        t2 = time.perf_counter()
        elapsed += t2 - t0
        epochs_run, last_acc = epoch, acc
        emit({"epoch": epoch, "train_seconds": t1 - t0, "eval_seconds": t2 - t1,
              "epoch_seconds": t2 - t0, "samples_per_second": rows / (t1 - t0),
              "train_rows": rows, "test_accuracy": acc, "train_loss": float(loss_sum) / rows})
        if args.target_accuracy is not None and acc >= args.target_accuracy:
            reached_at, reached_epoch = elapsed, epoch
            break
    summary = dict(summary)
    summary.update({"summary": True, "data": data["name"], "data_dir": data["dir"], "train_rows": rows,
                    "full_train_rows": data["full_train_rows"], "epochs_run": epochs_run,
                    "batch_size": args.batch_size, "lr": args.lr, "momentum": args.momentum,
                    "device": args.device, "final_test_accuracy": last_acc, "wall_seconds": elapsed,
                    "target_accuracy": args.target_accuracy, "time_to_target_seconds": reached_at,
                    "epochs_to_target": reached_epoch})
    emit(summary)
