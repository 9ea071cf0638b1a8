"""The GPU section of BENCHMARKS.md from the summary.md that tools/gpu_run.sh writes (what a GPU lease brings
back): the device, the steps and their verdicts, the 50-epoch and L-BFGS results, the throughput table of
tools/gpu/gpu_bench.py and the issue's GPU targets, each met or missed with its figure. Used by
`tools/bench/bench_report.py --gpu-summary FILE [--write BENCHMARKS.md]`; standard library only.
"""
import re

import marked_section  # tools/bench/marked_section.py, beside this file

BEGIN, END = "<!-- gpu:begin -->", "<!-- gpu:end -->"
EPOCH_BYTES = 47.9e6  # BENCHMARKS.md's bytes_min of a batch-8192 epoch (60,000 rows of 784 pixels)


def parse_summary(text):
    """The parts of a gpu_run summary.md: device, date, step rows, solver/epoch lines, throughput rows,
    copy bandwidth (GB/s)."""
    out = {"device": "", "date": "", "steps": [], "lines": [], "throughput": [], "bandwidth": None}
    m = re.search(r"^# gpu_run (\S+)", text, re.M)
    if m:
        out["date"] = m.group(1)
    m = re.search(r"^device: ([^;\n]+)", text, re.M)
    if m:
        out["device"] = m.group(1).strip()
    m = re.search(r"device-to-device copy bandwidth: ([0-9.]+) GB/s", text)
    if m:
        out["bandwidth"] = float(m.group(1))
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) == 3 and cells[1].startswith(("PASS", "FAIL", "SKIPPED")):
            out["steps"].append(cells)
        elif len(cells) == 6 and re.fullmatch(r"[0-9]+", cells[1]) and re.fullmatch(r"[0-9.]+", cells[2]):
            out["throughput"].append({"what": cells[0], "batch": int(cells[1]), "train_ms": float(cells[2]),
                                      "epoch_ms": float(cells[3])})
        elif line.startswith(("Solver:", "Epoch: 50.", "[  PASSED", "[  FAILED")):
            out["lines"].append(line.strip())
    return out


def best(rows, batch, predicate):
    times = [r["train_ms"] for r in rows if r["batch"] == batch and predicate(r["what"])]
    return min(times) if times else None


def targets(s):
    """(target, status) rows for the GPU targets of BENCHMARKS.md."""
    rows = s["throughput"]
    ours32 = best(rows, 32, lambda w: w.startswith("logreg_cuda"))
    cublas32 = best(rows, 32, lambda w: "cuBLAS" in w)
    persistent32 = best(rows, 32, lambda w: "persistent" in w)
    torch32 = best(rows, 32, lambda w: w.startswith("PyTorch"))
    ours8192 = best(rows, 8192, lambda w: w.startswith("logreg_cuda"))
    out = []

    def verdict(ok):
        return "met" if ok else "**missed**"

    if ours32 is not None:
        out.append(("batch 32 epoch ≤ 15 ms", f"{verdict(ours32 <= 15.0)}: {ours32:.2f} ms"
                    + (f" (cuBLAS steps {cublas32:.2f} ms)" if cublas32 is not None else "")))
    if persistent32 is not None:
        out.append(("batch 32 with the persistent kernel ≤ 5 ms", f"{verdict(persistent32 <= 5.0)}: {persistent32:.2f} ms"))
    if ours32 is not None and torch32 is not None:
        ratio = torch32 / ours32
        out.append(("batch 32 ≥ 10× PyTorch preloaded", f"{verdict(ratio >= 10.0)}: {ratio:.1f}× ({torch32:.1f} ms)"))
    if ours8192 is not None and s["bandwidth"]:
        bound_ms = EPOCH_BYTES / (s["bandwidth"] * 1e9) * 1e3
        share = bound_ms / ours8192
        out.append(("batch 8192 ≥ 50 % of the bandwidth bound",
                    f"{verdict(share >= 0.5)}: {ours8192:.2f} ms against {bound_ms * 1e3:.1f} µs ({share:.1%})"))
    return out


def build_gpu_section(text):
    s = parse_summary(text)
    lines = [f"### GPU run: {s['device'] or 'unknown device'}, {s['date']} (`tools/gpu_run.sh`)", ""]
    lines += ["| step | result | time |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in s["steps"]]
    if s["lines"]:
        lines += [""] + [f"    {line}" for line in s["lines"]]
    if s["throughput"]:
        lines += ["", "| what | batch | train ms/epoch | epoch ms |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {r['what']} | {r['batch']} | {r['train_ms']:.2f} | {r['epoch_ms']:.2f} |" for r in s["throughput"]]
    t = targets(s)
    if t:
        lines += ["", "| target | status |", "| --- | --- |"] + [f"| {a} | {b} |" for a, b in t]
    return "\n".join(lines) + "\n"


def write_gpu_section(path, section):
    """Replaces the text between the gpu markers of `path`, or adds a marked section at the end."""
    marked_section.replace_marked_section(path, BEGIN, END, "Latest GPU run (tools/bench/bench_report.py --gpu-summary)",
                                          section)
