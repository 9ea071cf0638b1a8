#!/usr/bin/env python3
"""GPU throughput table for tools/gpu_run.sh: logreg_cuda --device cuda at batch 32, 64, 256 and 8192 (data
resident: the persistent kernel where a batch fits it, the cluster kernel up to batch 256 on sm_90+, the grid
kernel from batch 1024 on, the cuBLAS steps with and without CUDA graphs; data streamed from pinned memory) and PyTorch with the data preloaded as
tensors on the same GPU (tools/bench/peers/torch_preloaded.py), all in one run on one machine.

Each row trains EPOCHS epochs; the first is a warm-up, the median of the others is reported:
train ms/epoch (60,000 rows / samples_per_second for ours, train_seconds for PyTorch), the whole epoch
with evaluation, and the last test accuracy. Prints a markdown table; never asserts anything.

    python3 tools/gpu/gpu_bench.py --bin build/logreg_cuda --data DIR [--epochs 4] [--out table.md]
    python3 tools/gpu/gpu_bench.py ... --batches 32,256 --epochs 6 --variants persistent,cluster,graphs --no-torch
    python3 tools/gpu/gpu_bench.py ... --batches 1024,8192 --epochs 6 --variants grid,graphs --no-torch
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_jsonl(cmd, timeout):
    """Runs cmd; returns (records, error). Our rows write --metrics, the peer prints JSON lines."""
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [], f"timed out after {timeout} s"
    wall = time.monotonic() - t0
    if p.returncode != 0:
        return [], f"exit {p.returncode}: " + " ".join(p.stderr.split())[-200:].replace("|", "/")
    recs = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return recs + [{"wall": wall}], ""


def ours(args, batch, extra, label):
    metrics = os.path.join(args.scratch, f"ours_{batch}_{label.replace(' ', '_')}.jsonl")
    cmd = [args.bin, "train", "--device", "cuda", "--data", args.data, "--epochs", str(args.epochs),
           "--batch-size", str(batch), "--lr", "0.001", "--seed", "0", "--metrics", metrics] + extra
    recs, err = run_jsonl(cmd, args.timeout)
    if err:
        return None, err
    with open(metrics) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    epochs = [r for r in recs if "epoch" in r]
    train_rows = next((r["settings"]["train_rows"] for r in recs if "settings" in r), 60000)
    train_ms = [1e3 * train_rows / r["samples_per_second"] for r in epochs[1:] if r.get("samples_per_second")]
    epoch_ms = [1e3 * r["epoch_seconds"] for r in epochs[1:]]
    return {"train_ms": statistics.median(train_ms), "epoch_ms": statistics.median(epoch_ms),
            "acc": epochs[-1]["test_accuracy"], "backend": recs[0]["settings"].get("backend", "")}, ""


def torch_row(args, batch):
    cmd = [args.python, os.path.join(REPO, "tools", "peers", "torch_preloaded.py"), "--data", args.data,
           "--device", "cuda", "--epochs", str(args.epochs), "--batch-size", str(batch), "--lr", "0.001"]
    recs, err = run_jsonl(cmd, args.timeout)
    if err:
        return None, err
    epochs = [r for r in recs if "epoch" in r]
    if len(epochs) < 2:
        return None, "fewer than 2 epoch lines"
    train_ms = [1e3 * r["train_seconds"] for r in epochs[1:]]
    epoch_ms = [1e3 * (r["train_seconds"] + r.get("eval_seconds", 0.0)) for r in epochs[1:]]
    return {"train_ms": statistics.median(train_ms), "epoch_ms": statistics.median(epoch_ms),
            "acc": epochs[-1].get("test_accuracy", float("nan")), "backend": "torch"}, ""


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batches", default="32,64,256,8192")
    p.add_argument("--python", default=sys.executable, help="interpreter with torch for the PyTorch rows")
    p.add_argument("--timeout", type=int, default=120, help="seconds per row")
    p.add_argument("--scratch", default="/tmp/gpu_bench")
    p.add_argument("--out", default="")
    p.add_argument("--variants", default="", help="comma-separated keys of the rows to run (persistent, cluster, "
                   "grid, graphs, nographs, streamed); default all")
    p.add_argument("--no-torch", action="store_true", help="leave out the PyTorch rows")
    args = p.parse_args()
    os.makedirs(args.scratch, exist_ok=True)

    variants = [("persistent", "persistent kernel", ["--residency", "device", "--kernel", "persistent"]),
                ("cluster", "cluster kernel", ["--residency", "device", "--kernel", "cluster"]),
                ("grid", "grid kernel", ["--residency", "device", "--kernel", "grid"]),
                ("graphs", "cuBLAS steps, graphs on", ["--residency", "device", "--kernel", "cublas", "--cuda-graphs", "on"]),
                ("nographs", "cuBLAS steps, graphs off",
                 ["--residency", "device", "--kernel", "cublas", "--cuda-graphs", "off"]),
                ("streamed", "streamed", ["--residency", "stream"])]
    wanted = set(args.variants.split(",")) if args.variants else {key for key, _, _ in variants}
    variants = [(label, extra) for key, label, extra in variants if key in wanted]
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        if not args.no_torch:
            torch_res, torch_err = torch_row(args, batch)
            rows.append(("PyTorch preloaded", batch, torch_res, torch_err))
        for label, extra in variants:
            if "persistent" in extra and batch * 784 > 65536:
                continue  # the persistent kernel holds at most 64 KiB of a batch's pixels
            if "cluster" in extra and batch > 256:
                continue  # the cluster kernel's partial-logit slots hold at most 256 rows
            if "grid" in extra and batch < 1024:
                continue  # the grid kernel is for large batches (its chunks would leave most SMs idle)
            res, err = ours(args, batch, extra, label)
            rows.append((f"logreg_cuda, {label}", batch, res, err))
        print(f"[gpu_bench] batch {batch} done", file=sys.stderr, flush=True)

    torch_train = {b: r["train_ms"] for name, b, r, _ in rows if name == "PyTorch preloaded" and r}
    lines = [f"GPU throughput, {args.epochs} epochs per row, median of epochs 2..{args.epochs} "
             "(train = training only; epoch = with the test pass)", "",
             "| what | batch | train ms/epoch | epoch ms | test acc % | PyTorch / this (train) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, batch, res, err in rows:
        if res is None:
            lines.append(f"| {name} | {batch} | failed: {err} | | | |")
            continue
        ratio = torch_train.get(batch, 0.0) / res["train_ms"] if res["train_ms"] > 0 else 0.0
        lines.append(f"| {name} | {batch} | {res['train_ms']:.2f} | {res['epoch_ms']:.2f} | {res['acc']:.2f} | "
                     f"{ratio:.1f}× |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")
    return 0 if all(r is not None for _, _, r, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
