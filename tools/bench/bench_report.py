#!/usr/bin/python3
"""Reads the raw outputs of one tools/bench/bench.sh run (a directory: manifest.tsv, machine.txt, one folder
per row with warmup.* and repN.* files), prints the throughput and time-to-accuracy tables, and with
--write replaces the results section of BENCHMARKS.md (between the bench:begin/end markers).
Standard library only; it runs no benchmark itself.
"""
import argparse
import datetime
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "limit"))
import limit_report  # noqa: E402  (tools/bench/limit/limit_report.py: the CPU limit section)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import marked_section  # noqa: E402  (tools/bench/marked_section.py)
import gpu_report  # noqa: E402  (tools/bench/gpu_report.py: the GPU section from tools/gpu_run.sh's summary.md)

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
TARGETS = {"MNIST": 92.0}  # percent test accuracy; every other data set (Fashion-MNIST): 84.0
DEFAULT_TARGET = 84.0


TARGET_OVERRIDE = [0.0]  # set from --target


def target_for(data_name):
    return TARGET_OVERRIDE[0] or TARGETS.get(data_name, DEFAULT_TARGET)


def read_jsonl(path):
    """The JSON objects of a JSON-lines file (lines that are not JSON are skipped)."""
    records = []
    if not os.path.exists(path):
        return records
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return records


class Run:
    """One process run, normalised: per-epoch train/total seconds scaled to the full training set,
    final accuracy, and the facts the report prints (data set, threads, versions)."""

    def __init__(self):
        self.train_s = []      # per epoch, seconds of training, scaled to the full training set
        self.total_s = []      # per epoch, training (scaled) + evaluation
        self.accuracy = []     # per epoch, test accuracy in percent
        self.rows = self.full_rows = 0
        self.data = None
        self.facts = {}
        self.fit = None        # scikit-learn: the summary line

    @property
    def scaled(self):
        return self.rows and self.full_rows and self.rows != self.full_rows


def parse_ours(path):
    """A `logreg_cuda train --metrics FILE.jsonl` file."""
    run = Run()
    for rec in read_jsonl(path):
        if "settings" in rec:
            s = rec["settings"]
            run.rows = s.get("train_rows", 0)
            run.full_rows = run.rows  # bench.sh never passes --limit-train to logreg_cuda
            run.data = s.get("data", {}).get("name")
            run.facts = {"backend": s.get("backend"), "program": s.get("program")}
            if "threads" in s:
                run.facts["threads"] = s["threads"]
        elif "epoch" in rec:
            train = run.rows / rec["samples_per_second"] if rec.get("samples_per_second") else rec["epoch_seconds"]
            run.train_s.append(train)
            run.total_s.append(rec["epoch_seconds"])
            run.accuracy.append(rec.get("test_accuracy"))
    return run


def parse_peer(path):
    """The JSON lines printed by a tools/bench/peers/ script."""
    run = Run()
    records = read_jsonl(path)
    summary = next((r for r in records if r.get("summary")), {})
    run.rows = summary.get("train_rows", 0)
    run.full_rows = summary.get("full_train_rows", run.rows)
    run.data = summary.get("data")
    run.facts = {k: summary[k] for k in ("peer", "torch", "sklearn", "threads", "gpu", "python") if k in summary}
    scale = run.full_rows / run.rows if run.rows else 1.0
    if summary.get("peer") == "sklearn_logreg":
        run.fit = summary
        run.train_s.append(summary["fit_seconds"])
        run.total_s.append(summary["fit_seconds"] + summary["eval_seconds"])
        run.accuracy.append(summary.get("final_test_accuracy"))
        return run
    for rec in records:
        if "epoch" in rec:
            run.train_s.append(rec["train_seconds"] * scale)
            run.total_s.append(rec["train_seconds"] * scale + rec["eval_seconds"])
            run.accuracy.append(rec["test_accuracy"])
    return run


def load_runs(row_dir):
    """The timed repeats of one row, parsed."""
    runs, k = [], 1
    while True:
        ours, peer = os.path.join(row_dir, f"rep{k}.jsonl"), os.path.join(row_dir, f"rep{k}.out")
        if os.path.exists(ours):
            runs.append(parse_ours(ours))
        elif os.path.exists(peer) and os.path.getsize(peer) > 0:
            runs.append(parse_peer(peer))
        else:
            return runs
        k += 1


def read_manifest(runs_dir):
    rows = []
    with open(os.path.join(runs_dir, "manifest.tsv"), encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 6:
                rows.append(dict(zip(("id", "group", "label", "device", "batch", "status"), parts)))
    return rows


def read_machine(runs_dir):
    facts = {}
    with open(os.path.join(runs_dir, "machine.txt"), encoding="utf-8") as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            facts[key] = value
    return facts


def fmt_s(x):
    if x is None:
        return "–"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def fmt_rate(x):
    if x is None:
        return "–"
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.1f} k"


def fmt_ratio(x):
    if x is None:
        return "–"
    return f"{x:.2f}×" if x < 10 else f"{x:.0f}×"


def markdown_table(header, rows):
    """A pipe table with padded columns (readable as text and as Markdown)."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])


def summarise(row, runs_dir):
    """Median over repeats of each repeat's mean per-epoch seconds; the spread of the repeats."""
    runs = load_runs(os.path.join(runs_dir, row["id"]))
    runs = [r for r in runs if r.train_s]
    if row["status"] != "ok" or not runs:
        return None
    train = [statistics.fmean(r.train_s) for r in runs]
    total = [statistics.fmean(r.total_s) for r in runs]
    med = statistics.median(train)
    result = {"train": med, "total": statistics.median(total), "rows": runs[0].full_rows,
              "samples": runs[0].full_rows / med if med else None,
              "accuracy": statistics.median(r.accuracy[-1] for r in runs),
              "spread": (max(train) - min(train)) / med if len(train) > 1 and med else None,
              "repeats": len(runs), "epochs": len(runs[0].train_s), "scaled_from": runs[0].rows if runs[0].scaled else 0,
              "data": runs[0].data, "facts": runs[0].facts, "fit": runs[0].fit}
    if runs[0].fit:
        result["samples"] = statistics.median(r.fit["samples_per_second"] for r in runs)
    return result


def tta_result(row, runs_dir):
    """(seconds to target or None, 'reached after' text, data name) for one time-to-accuracy run."""
    row_dir = os.path.join(runs_dir, row["id"])
    if os.path.exists(os.path.join(row_dir, "rep1.jsonl")):
        run = parse_ours(os.path.join(row_dir, "rep1.jsonl"))
        target, elapsed = target_for(run.data), 0.0
        for epoch, (seconds, acc) in enumerate(zip(run.total_s, run.accuracy), 1):
            elapsed += seconds
            if acc is not None and acc >= target:
                return elapsed, f"epoch {epoch} ({acc:.2f}%)", run.data
        best = max((a for a in run.accuracy if a is not None), default=None)
        return None, f"not reached in {len(run.total_s)} epochs, {elapsed:.1f} s (best {best}%)", run.data
    records = read_jsonl(os.path.join(row_dir, "rep1.out"))
    summary = next((r for r in records if r.get("summary")), None)
    if summary is None:
        return None, "no result", None
    steps = [r for r in records if "epoch" in r or "chunk" in r]
    last_acc = steps[-1]["test_accuracy"] if steps else None
    if summary.get("peer") == "sklearn_logreg":
        if summary.get("time_to_target_seconds") is not None:
            return summary["time_to_target_seconds"], f"{summary['iterations_to_target']} iterations ({last_acc:.2f}%)", summary["data"]
        return None, f"not reached in {summary['iterations']} iterations, {summary['wall_seconds']:.1f} s ({last_acc}%)", summary["data"]
    if summary.get("time_to_target_seconds") is not None:
        return summary["time_to_target_seconds"], f"epoch {summary['epochs_to_target']} ({last_acc:.2f}%)", summary["data"]
    best = max((r["test_accuracy"] for r in steps), default=None)
    return None, f"not reached in {summary['epochs_run']} epochs, {summary['wall_seconds']:.1f} s (best {best}%)", summary["data"]


def build_report(args):
    machine = read_machine(args.runs)
    manifest = read_manifest(args.runs)
    results = {row["id"]: summarise(row, args.runs) for row in manifest if row["group"] == "throughput"}
    have_gpu = bool(machine.get("gpu"))
    ref_id = "ours_cuda_b32" if have_gpu else "ours_cpu_b32"
    ref = results.get(ref_id)
    ref_desc = f"logreg_cuda --device {'cuda' if have_gpu else 'cpu'} batch 32"
    found = [r for r in results.values() if r]
    data_name = next((r["data"] for r in found if r["data"]), None)
    rows_full = next((r["rows"] for r in found if r["rows"]), None)

    # Versions and threads, gathered from whatever the runs reported.
    versions, threads, backends = {}, {}, {}
    for row in manifest:
        r = results.get(row["id"])
        if not r:
            continue
        if r["facts"].get("backend"):
            backends.setdefault(row["device"], r["facts"]["backend"])
        for key in ("torch", "sklearn", "program", "backend"):
            if key in r["facts"]:
                versions.setdefault(key, set()).add(str(r["facts"][key]))
        if "threads" in r["facts"]:
            threads.setdefault(row["label"], set()).add(str(r["facts"]["threads"]))

    table = []
    footnotes = []
    for row in manifest:
        if row["group"] != "throughput":
            continue
        r = results.get(row["id"])
        device = row["device"]
        if r and r["facts"].get("threads") is not None and device == "cpu":
            device += f" ({r['facts']['threads']} thr)"
        label, batch = row["label"], row["batch"]
        if r is None:
            table.append([label, device, batch, row["status"] if row["status"] != "ok" else "no result",
                          "", "", "", "", "", ""])
            continue
        if r["fit"]:
            batch = f"full, {r['fit']['iterations']} iter"
        if r["scaled_from"]:
            label += " †"
            note = (f"† measured on the first {r['scaled_from']} training rows and scaled to {r['rows']} "
                    "(evaluation on the whole test set)")
            if note not in footnotes:
                footnotes.append(note)
        if row["id"] == ref_id:
            label = f"**{label}** (ratio reference)"
        ratio_train = r["train"] / ref["train"] if ref else None
        ratio_total = r["total"] / ref["total"] if ref else None
        spread = f"{100 * r['spread']:.0f}%" if r["spread"] is not None else "–"
        table.append([label, device, batch, fmt_s(r["train"]), fmt_s(r["total"]), fmt_rate(r["samples"]),
                      f"{r['accuracy']:.2f}" if r["accuracy"] is not None else "–",
                      fmt_ratio(ratio_train), fmt_ratio(ratio_total), spread])
    header = ["row", "device", "batch", "s/epoch train", "s/epoch train+eval", "samples/s",
              "test acc %", "÷ ours train", "÷ ours train+eval", "spread"]

    # Time to accuracy.
    target = target_for(data_name)
    tta_rows, tta_values = [], []
    for row in manifest:
        if row["group"] != "tta":
            continue
        if row["status"] != "ok":
            tta_rows.append([row["label"], row["device"], row["batch"], row["status"], "–", "–"])
            continue
        seconds, reached, tta_data = tta_result(row, args.runs)
        if tta_data:
            target = target_for(tta_data)
        tta_rows.append([row["label"], row["device"], row["batch"], reached, fmt_s(seconds), seconds])
        tta_values.append((row["id"], seconds))
    ours_best = min((s for i, s in tta_values if i.startswith("tta_ours") and s is not None), default=None)
    for r in tta_rows:
        seconds = r[5] if isinstance(r[5], (int, float)) else None
        r[5] = fmt_ratio(seconds / ours_best) if seconds is not None and ours_best else "–"
    tta_header = ["row", "device", "settings", "target reached", "wall s", "÷ ours best"]

    gpu = (f"{machine['gpu']} ({machine.get('gpu_memory', '?')}), driver {machine.get('driver', '?')}"
           if have_gpu else f"no GPU: {machine.get('no_gpu_reason', 'unknown')}")
    when = machine.get("date") or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = args.command or machine.get("command", "tools/bench/bench.sh")
    lines = []
    if args.quick:
        lines.append("**Quick smoke run** (`--quick`): 1 repeat, short runs; the numbers only show that the "
                     "benchmark works, they are not a measurement.\n")
    lines += [
        f"Measured {when} with `{command}`.",
        "",
        f"- CPU: {machine.get('cpu', '?')}, {machine.get('cpus', '?')}, {machine.get('memory', '?')} RAM",
        f"- GPU: {gpu}; CUDA toolkit {machine.get('cuda_toolkit', '?')}",
        f"- OS: {machine.get('os', '?')}",
        f"- Software: {', '.join(sorted(versions.get('program', {'logreg_cuda ?'})))}; "
        f"PyTorch {', '.join(sorted(versions.get('torch', {'–'})))} ({machine.get('torch_python', '?')}); "
        f"scikit-learn {', '.join(sorted(versions.get('sklearn', {'–'})))} ({machine.get('sklearn_python', '?')})",
        f"- Data: {data_name or '?'}, {rows_full or '?'} training rows, 10000 test rows (target below: {target}%)",
        "",
        f"### Throughput — ratios are ÷ **{ref_desc}**"
        + ("" if ref else " (that row has no result, so no ratios)"),
        "",
        f"Each row: one warm-up run, then the median of {args.repeats} timed run(s); per run, the mean over its "
        f"{args.epochs} epoch(s). Learning rate 0.001 in every row.",
        "",
        markdown_table(header, table),
        "",
    ]
    notes = footnotes + [
        "s/epoch train: training only; train+eval adds the test-set evaluation each epoch does. "
        "samples/s = training rows ÷ training seconds.",
        "÷ ours: the row's seconds ÷ the reference row's (above 1 = slower than ours).",
        f"scikit-learn: one whole L-BFGS fit ({args.sklearn_iters} iterations max) in the s/epoch columns; "
        "its samples/s counts rows × iterations.",
        "test acc: after the timed epochs (lr 0.001 is too small for batch 8192; that row is about speed only).",
        "spread: (slowest − fastest) ÷ median of the repeats' training times.",
        "thr: CPU threads the library used (its default unless --threads was given).",
    ]
    if backends:
        notes.append("logreg_cuda backends: " + "; ".join(f"--device {d} = {b}" for d, b in backends.items()) + ".")
    lines += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    lines += [
        f"### Time to {target}% test accuracy",
        "",
        "One run each. Wall s = training and per-epoch evaluation time until the first evaluation at or above "
        "the target (process start, data loading and model set-up excluded). SGD rows use the settings shown: "
        "first the same settings for every peer and us, then the best settings we found for logreg_cuda, "
        "with PyTorch (preloaded) run on those very settings too; every SGD row gives up after "
        f"{args.tta_max_epochs} epochs. scikit-learn is fitted "
        "in chunks of 10 L-BFGS iterations with warm start and evaluated after each chunk.",
        "",
        markdown_table(tta_header, tta_rows),
    ]
    return "\n".join(lines) + "\n"


def write_section(path, body):
    """Replaces the text between the markers in PATH (appends the markers when absent)."""
    marked_section.replace_marked_section(path, BEGIN, END, "Results", body)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", help="the run directory tools/bench/bench.sh wrote")
    p.add_argument("--gpu-summary", metavar="FILE",
                   help="instead: the summary.md of a tools/gpu_run.sh run; prints its GPU section (with --write: "
                        "replaces the section between the gpu markers of FILE)")
    p.add_argument("--command", default=None, help="the command line to record (default: from machine.txt)")
    p.add_argument("--write", metavar="FILE", help="replace the results section of FILE (BENCHMARKS.md)")
    p.add_argument("--limit-only", action="store_true", help="only the CPU limit section (tools/bench/bench.sh --limit-only)")
    args = p.parse_args()
    if args.gpu_summary:
        try:
            with open(args.gpu_summary, encoding="utf-8") as f:
                section = gpu_report.build_gpu_section(f.read())
        except OSError as e:
            p.error(f"--gpu-summary {args.gpu_summary}: {e.strerror}")
        print(section)
        if args.write:
            gpu_report.write_gpu_section(args.write, section)
            print(f"wrote the GPU section of {args.write}", file=sys.stderr)
        return
    if not args.runs:
        p.error("--runs DIR (a tools/bench/bench.sh run) or --gpu-summary FILE is required")
    # The run's settings, as tools/bench/bench.sh recorded them.
    machine = read_machine(args.runs)
    for key, default, kind in (("repeats", 3, int), ("epochs", 2, int), ("dataloader_limit", 0, int),
                               ("sklearn_iters", 100, int), ("tta_max_epochs", 15, int),
                               ("target", 0.0, float), ("quick", 0, int)):
        setattr(args, key, kind(machine.get(key) or default))
    TARGET_OVERRIDE[0] = args.target
    manifest = read_manifest(args.runs)
    limit_body = None
    if any(row["group"] == "limit" for row in manifest):
        limit_body = limit_report.build_limit_report(args.runs, machine, manifest, summarise)
        print(limit_body)
    body = None if args.limit_only else build_report(args)
    if body:
        print(body)
    if args.write:
        if body:
            write_section(args.write, body)
            print(f"wrote the results section of {args.write}", file=sys.stderr)
        if limit_body:
            limit_report.write_limit_section(args.write, limit_body)
            print(f"wrote the CPU limit section of {args.write}", file=sys.stderr)


if __name__ == "__main__":
    main()
