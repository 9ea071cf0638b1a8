#!/usr/bin/env python3
"""tools/bench/gpu_report.py (tools/bench/bench_report.py --gpu-summary): from a gpu_run summary.md to BENCHMARKS.md's GPU
section. A summary in the format tools/gpu_run.sh writes goes in; the device, the steps, the throughput rows
and each target's verdict and figure must come out, and --write must replace only the marked section."""
import os
import subprocess
import sys
import tempfile

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "bench")
sys.path.insert(0, TOOLS)
import gpu_report  # noqa: E402

SUMMARY = """# gpu_run 2026-11-27T18:41Z
| step | result | time |
| --- | --- | --- |
| probe | PASS | 1 s |
| gpu tests | FAIL (exit 1) | 6 s |
[  PASSED  ] 83 tests.
Solver: lbfgs. Iterations: 672. Objective: 0.35. Gradient: 9.8e-05. Converged: yes (max |gradient| 9.8e-05 <= tol 0.0001). Accuracy: 84.36.

| what | batch | train ms/epoch | epoch ms | test acc % | PyTorch / this (train) |
| --- | ---: | ---: | ---: | ---: | ---: |
| PyTorch preloaded | 32 | 1200.00 | 1201.00 | 74.57 | 1.0× |
| logreg_cuda, persistent kernel | 32 | 4.50 | 4.70 | 75.32 | 266.7× |
| logreg_cuda, cuBLAS steps, graphs on | 32 | 40.00 | 40.20 | 75.32 | 30.0× |
| logreg_cuda, cuBLAS steps, graphs on | 8192 | 0.02 | 0.10 | 12.60 | 1.0× |
device-to-device copy bandwidth: 4790 GB/s (1 GiB cudaMemcpyAsync, read + write bytes)

device: NVIDIA H200; wall 189 s
"""


def main():
    s = gpu_report.parse_summary(SUMMARY)
    assert s["device"] == "NVIDIA H200", s["device"]
    assert s["date"] == "2026-11-27T18:41Z", s["date"]
    assert s["bandwidth"] == 4790.0, s["bandwidth"]
    assert [r[0] for r in s["steps"]] == ["probe", "gpu tests"], s["steps"]
    assert s["steps"][1][1] == "FAIL (exit 1)", s["steps"]
    assert [(r["batch"], r["train_ms"]) for r in s["throughput"]] == [(32, 1200.0), (32, 4.5), (32, 40.0), (8192, 0.02)]
    verdicts = dict(gpu_report.targets(s))
    # 4.5 ms: both batch-32 targets met; 1200 / 4.5 = 266.7x; bound 47.9 MB / 4790 GB/s = 10.0 us, 50 % of 0.02 ms.
    assert verdicts["batch 32 epoch ≤ 15 ms"].startswith("met: 4.50 ms (cuBLAS steps 40.00 ms)"), verdicts
    assert verdicts["batch 32 with the persistent kernel ≤ 5 ms"] == "met: 4.50 ms", verdicts
    assert verdicts["batch 32 ≥ 10× PyTorch preloaded"] == "met: 266.7× (1200.0 ms)", verdicts
    assert verdicts["batch 8192 ≥ 50 % of the bandwidth bound"] == "met: 0.02 ms against 10.0 µs (50.0%)", verdicts
    slower = gpu_report.targets(gpu_report.parse_summary(SUMMARY.replace("| 4.50 |", "| 5.10 |")))
    assert dict(slower)["batch 32 with the persistent kernel ≤ 5 ms"] == "**missed**: 5.10 ms", slower

    with tempfile.TemporaryDirectory() as tmp:
        summary = os.path.join(tmp, "summary.md")
        bench = os.path.join(tmp, "BENCHMARKS.md")
        with open(summary, "w", encoding="utf-8") as f:
            f.write(SUMMARY)
        with open(bench, "w", encoding="utf-8") as f:
            f.write("# Benchmarks\n\nkept\n")
        for _ in range(2):  # the second write replaces the first section instead of adding one
            subprocess.run([sys.executable, os.path.join(TOOLS, "bench_report.py"), "--gpu-summary", summary,
                            "--write", bench], check=True, capture_output=True)
        with open(bench, encoding="utf-8") as f:
            text = f.read()
        assert text.startswith("# Benchmarks\n\nkept\n"), text
        assert text.count(gpu_report.BEGIN) == 1 and text.count(gpu_report.END) == 1, text
        assert "### GPU run: NVIDIA H200, 2026-11-27T18:41Z" in text, text
        missing = subprocess.run([sys.executable, os.path.join(TOOLS, "bench_report.py"), "--gpu-summary",
                                  os.path.join(tmp, "absent.md")], capture_output=True, text=True)
        assert missing.returncode == 2 and "absent.md" in missing.stderr, missing
    print("gpu_report: all checks passed")


if __name__ == "__main__":
    main()
