#!/usr/bin/python3
"""Draws the tutorial's two figures from `logreg_cuda train --metrics FILE` outputs.

    tools/plot_metrics.py runs/softmax.csv runs/sigmoid.jsonl --out plots/

writes plots/loss.png (mean training loss per epoch) and plots/accuracy.png (test accuracy per
epoch), several runs overlaid with a legend. Each image is 800x500 pixels.
"""
import argparse
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WIDTH_IN, HEIGHT_IN, DPI = 8, 5, 100


def read_metrics(path):
    """Returns (settings dict, list of record dicts) from a .csv or .jsonl metrics file."""
    settings, records = {}, []
    with open(path, encoding="utf-8") as f:
        if path.endswith(".jsonl"):
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                obj = json.loads(line)
                if "settings" in obj:
                    settings = obj["settings"]
                else:
                    records.append(obj)
        elif path.endswith(".csv"):
            # The first line is the column header; the settings are in FILE.csv.json beside it. Files
            # from older builds began with a "# logreg_cuda settings: {...}" comment line instead.
            lines = []
            for line in f:
                if line.startswith("# logreg_cuda settings: "):
                    settings = json.loads(line[len("# logreg_cuda settings: "):])
                elif not line.startswith("#"):
                    lines.append(line)
            for row in csv.DictReader(lines):
                records.append({k: float(v) for k, v in row.items()})
            if os.path.exists(path + ".json"):
                with open(path + ".json", encoding="utf-8") as s:
                    settings = json.load(s)
        else:
            raise ValueError(f"{path}: expected a .csv or .jsonl metrics file")
    if not records:
        raise ValueError(f"{path}: no epoch records")
    return settings, records


def run_label(path, settings):
    loss = settings.get("loss")
    name = os.path.splitext(os.path.basename(path))[0]
    return f"{name} ({loss})" if loss and loss != name else name


def plot(runs, key, ylabel, title, out_path):
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    for label, records in runs:
        ax.plot([r["epoch"] for r in records], [r[key] for r in records], marker="o", markersize=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.savefig(out_path, dpi=DPI)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", help="metrics files (.csv or .jsonl) from train --metrics")
    ap.add_argument("--out", required=True, help="directory for loss.png and accuracy.png")
    args = ap.parse_args(argv)
    runs = []
    for path in args.files:
        try:
            settings, records = read_metrics(path)
        except (OSError, ValueError, KeyError) as e:
            print(f"plot_metrics: error: {e}", file=sys.stderr)
            return 3
        runs.append((run_label(path, settings), records))
    os.makedirs(args.out, exist_ok=True)
    plot(runs, "train_loss", "mean training loss", "Loss per epoch", os.path.join(args.out, "loss.png"))
    plot(runs, "test_accuracy", "test accuracy (%)", "Test accuracy per epoch", os.path.join(args.out, "accuracy.png"))
    print(f"wrote {os.path.join(args.out, 'loss.png')} and {os.path.join(args.out, 'accuracy.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
