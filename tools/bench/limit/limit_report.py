"""The CPU limit section of BENCHMARKS.md, from one tools/bench/bench.sh run: our --device cpu epochs
next to the plain OpenBLAS loop (tools/bench/limit/cpu_limit, same run), as ratios and GFLOP/s, the 50-epoch
tutorial run's wall time, batch 32 under load, the evaluation's share and the issue's targets.
Imported by tools/bench/bench_report.py; not here: the throughput and time-to-accuracy tables.
"""
import json
import os
import statistics

import marked_section  # tools/bench/marked_section.py (tools/bench/ is on the path: bench_report.py runs from there)

LIMIT_BEGIN, LIMIT_END = "<!-- limit:begin -->", "<!-- limit:end -->"
FLOPS_PER_ROW = 4 * 784 * 10  # forward 2·D·C + backward 2·D·C per training row


def read_limit_runs(runs_dir):
    """{("plain", order, batch): [seconds per run], ("sgemm",): [GFLOP/s per run]} from limit/rep*.out."""
    values = {}
    k = 1
    while os.path.exists(os.path.join(runs_dir, "limit", f"rep{k}.out")):
        with open(os.path.join(runs_dir, "limit", f"rep{k}.out"), encoding="utf-8") as f:
            for line in f:
                if not line.startswith("{"):
                    continue
                rec = json.loads(line)
                if rec.get("row") == "sgemm":
                    values.setdefault(("sgemm",), []).append(rec["gflops"])
                    values.setdefault(("threads",), []).append(rec["threads"])
                    values.setdefault(("sgemm1",), []).append(rec.get("gflops_1thread", 0.0))
                    values.setdefault(("loop_threads",), []).append(rec.get("loop_threads", 0))
                elif rec.get("row") == "plain":
                    values.setdefault(("plain", rec["order"], rec["batch"]), []).append(rec["seconds"])
        k += 1
    return {key: statistics.median(v) for key, v in values.items()}


def read_walls(runs_dir, row_id):
    walls, k = [], 1
    while os.path.exists(os.path.join(runs_dir, row_id, f"rep{k}.wall")):
        with open(os.path.join(runs_dir, row_id, f"rep{k}.wall"), encoding="utf-8") as f:
            walls.append(float(f.read().strip() or "nan"))
        k += 1
    return walls


def ms(x):
    return f"{1e3 * x:.1f}" if x is not None else "–"


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "–"


def build_limit_report(runs_dir, machine, manifest, summarise):
    by_id = {row["id"]: row for row in manifest}
    limit = read_limit_runs(runs_dir)
    ours = {b: summarise(by_id[f"ours_cpu_b{b}"], runs_dir) if f"ours_cpu_b{b}" in by_id else None
            for b in (32, 256, 8192)}
    loaded = summarise(by_id["ours_cpu_b32_loaded"], runs_dir) if "ours_cpu_b32_loaded" in by_id else None
    walls = read_walls(runs_dir, "tutorial_wall")
    wall = statistics.median(walls) if walls else None
    rows_n = next((r["rows"] for r in ours.values() if r and r["rows"]), 60000)
    gflops = limit.get(("sgemm",))

    table = []
    for b in (32, 256, 8192):
        r = ours.get(b)
        shuffled, in_order = limit.get(("plain", "shuffled", b)), limit.get(("plain", "in order", b))
        t = r["train"] if r else None
        rate = lambda s: f"{rows_n * FLOPS_PER_ROW / s / 1e9:.0f}" if s else "–"
        table.append([f"logreg_cuda --device cpu: {r['facts'].get('backend', '?') if r else '?'}", str(b), ms(t),
                      ms(r["total"]) if r else "–", rate(t), ratio(shuffled, t), ratio(in_order, t)])
        table.append(["plain OpenBLAS loop, shuffled", str(b), ms(shuffled), "", rate(shuffled), "", ""])
        table.append(["plain OpenBLAS loop, in order", str(b), ms(in_order), "", rate(in_order), "", ""])
    header = ["row", "batch", "ms/epoch train", "ms/epoch train+eval", "GFLOP/s", "plain shuffled ÷ ours",
              "plain in order ÷ ours"]

    b32 = ours.get(32)
    t32 = b32["train"] if b32 else None
    eval_share = (b32["total"] - b32["train"]) / b32["total"] if b32 else None  # of the whole epoch
    load_factor = loaded["train"] / t32 if loaded and t32 else None
    sh32 = limit.get(("plain", "shuffled", 32))
    t256 = ours[256]["train"] if ours.get(256) else None

    def status(ok, measured, goal):
        if ok is None:
            return "not measured"
        return f"{'met' if ok else '**not met**'}: {measured} (target {goal})"

    targets = [
        ["batch 32 train epoch ≤ 15 ms", status(t32 and t32 <= 0.015, f"{ms(t32)} ms", "15 ms") if t32 else "not measured"],
        ["batch 32 ≥ 2.5× faster than the shuffled plain loop",
         status(sh32 / t32 >= 2.5, f"{sh32 / t32:.2f}×", "2.5×") if sh32 and t32 else "not measured"],
        ["batch 256 train epoch ≤ 10 ms", status(t256 <= 0.010, f"{ms(t256)} ms", "10 ms") if t256 else "not measured"],
        ["50-epoch tutorial run ≤ 1.5 s wall", status(wall <= 1.5, f"{wall:.2f} s", "1.5 s") if wall else "not measured"],
        ["evaluation ≤ 10 % of a batch-32 epoch",
         status(eval_share <= 0.10, f"{100 * eval_share:.1f} %", "10 %") if eval_share is not None else "not measured"],
        ["batch 32 under load ≤ 2.5× quiet",
         status(load_factor <= 2.5, f"{load_factor:.2f}×", "2.5×") if load_factor else "not measured"],
    ]
    threads = limit.get(("threads",))
    lines = [
        "### CPU limit: our --device cpu against a plain OpenBLAS loop, same run",
        "",
        f"Measured {machine.get('date', '?')} with `{machine.get('command', 'tools/bench/bench.sh')}` on "
        f"{machine.get('cpu', '?')}, {machine.get('cpus', '?')}.",
        "",
        f"- `cblas_sgemm` 1024³: **{gflops:.1f} GFLOP/s** on {threads:.0f} OpenBLAS thread(s), "
        f"{limit.get(('sgemm1',), 0):.1f} on 1; GFLOP/s below = "
        f"4·N·D·C = {rows_n * FLOPS_PER_ROW / 1e9:.2f} GFLOP per epoch ÷ the epoch's training time."
        if gflops else "- `cblas_sgemm` 1024³: not measured (cpu_limit not built)",
        f"- Plain loop: [`tools/bench/limit/cpu_limit.cpp`](tools/bench/limit/cpu_limit.cpp) on "
        f"{limit.get(('loop_threads',), 1):.0f} OpenBLAS thread(s), one warm-up epoch then the "
        f"median of {machine.get('limit_epochs', '?')} epochs per run, median of {machine.get('repeats', '?')} runs. "
        f"Ours: median of {machine.get('repeats', '?')} runs of {machine.get('epochs', '?')} epochs after a warm-up run.",
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ] + ["| " + " | ".join(r) + " |" for r in table] + [
        "",
        f"- 50-epoch tutorial run (`logreg_cuda train`, defaults; process wall time, data loading included): "
        f"{'median ' + f'{wall:.2f} s' + ' of ' + ', '.join(f'{w:.2f}' for w in walls) if wall else 'not measured'}.",
        f"- Batch 32 with a busy shell loop on one core: {ms(loaded['train']) if loaded else '–'} ms/epoch, "
        f"{f'{load_factor:.2f}×' if load_factor else '–'} the quiet row.",
        f"- Evaluation (10,000 test rows) per batch-32 epoch: "
        f"{f'{100 * eval_share:.1f} %' if eval_share is not None else '–'} of the epoch (train+eval).",
        "",
        "| target | status in this run |",
        "| --- | --- |",
    ] + [f"| {a} | {b} |" for a, b in targets]
    return "\n".join(lines) + "\n"


def write_limit_section(path, body):
    """Replaces the text between the limit markers in PATH (appends them when absent)."""
    marked_section.replace_marked_section(path, LIMIT_BEGIN, LIMIT_END, "CPU limit results", body)
