#!/usr/bin/env bash
# Everything a rare GPU lease should bring back, from one command, in at most 8 files under OUTDIR (the
# device tool returns 8): run it on the GPU machine from a build made and carried from a machine without
# a GPU. About 8-10 minutes on an H100.
#   device.txt     nvidia-smi, driver/CUDA versions, the device as the program sees it (probe + properties)
#   tests.log      the gpu test executable with LOGREG_REQUIRE_GPU=1 (a skip is a failure)
#   sanitizer.log  a fast subset under compute-sanitizer memcheck, racecheck, synccheck and initcheck
#   train.log      train --device cuda, 50 epochs, tutorial settings, and the CPU backend on the same seed
#   bench.log      tools/bench.sh rows (batch 32/256/8192, resident/streamed, graphs on/off, PyTorch on the
#                  same GPU when it is installed there) and the kernel lab (validate, time, copy bandwidth)
#   kernels.csv    ncu: each kernel's duration, DRAM throughput and achieved occupancy, one step at batch
#                  32 and at batch 8192 (falls back to a note when ncu cannot profile)
#   timeline.log   nsys stats of one epoch when nsys can write a report, else the NVTX-bracketed CUDA-event
#                  timings the program prints with --profile-epoch
#   summary.md     one line per step (PASS/FAIL, seconds) and the figures tools/bench_report.py reads
#
# usage: tools/gpu_run.sh OUTDIR [BUILD_DIR]      (BUILD_DIR default: build)
# e.g. from the device tool:  LD_LIBRARY_PATH=/usr/local/cuda/lib64 tools/gpu_run.sh "$OUT" build
set -u -o pipefail

out="${1:?usage: tools/gpu_run.sh OUTDIR [BUILD_DIR]}"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${2:-build}"
case "$build" in /*) ;; *) build="$repo_root/$build" ;; esac
mkdir -p "$out"
cd "$repo_root" || exit 1
export PATH="/usr/local/cuda/bin:$PATH"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export LOGREG_REQUIRE_GPU=1

cli="$build/logreg_cuda"
tests="$build/tests/logreg_gpu_tests"
lab="$build/kernel_lab_fused_step"
data="${DATA:-/usr/share/datasets/fashion-mnist}"
summary="$out/summary.md"
failed=0
echo "# gpu_run $(date -u +%Y-%m-%dT%H:%MZ)" >"$summary"

# step NAME LOG TIMEOUT COMMAND...: runs with a time limit, appends to LOG, records PASS/FAIL and seconds.
step() {
  local name=$1 log=$2 limit=$3
  shift 3
  local t0=$SECONDS
  echo "==> $name: $*" | tee -a "$log"
  timeout "$limit" "$@" >>"$log" 2>&1
  local rc=$?
  local verdict=PASS
  if [ "$rc" -ne 0 ]; then
    verdict="FAIL (exit $rc)"
    failed=1
  fi
  echo "| $name | $verdict | $((SECONDS - t0)) s |" | tee -a "$summary"
  return "$rc"
}

echo "| step | result | time |" >>"$summary"
echo "| --- | --- | --- |" >>"$summary"

# 1. The device.
{
  nvidia-smi
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
  nvcc --version 2>/dev/null | tail -2
  ldd "$cli" | grep -E "cublas|cudart|not found"
} >"$out/device.txt" 2>&1
step "probe" "$out/device.txt" 60 "$cli" train --device cuda --epochs 1 --limit-train 64 --data "$data"

# 2. Tests, then sanitizers on a fast subset.
step "gpu tests" "$out/tests.log" 300 "$tests"
filter="${GPU_RUN_SANITIZER_FILTER:-CudaOneStep/*B33*:CudaBatchRing/*:CudaBackendTest.EvaluateMatchesReferenceAcrossChunks:CudaResidentBatches/*:CudaFastPathTest.ChunkedEpochWithGraphsGivesIdenticalWeights}"
if command -v compute-sanitizer >/dev/null 2>&1; then
  for tool in memcheck racecheck synccheck initcheck; do
    step "compute-sanitizer $tool" "$out/sanitizer.log" 240 \
      compute-sanitizer --tool "$tool" --error-exitcode 99 "$tests" --gtest_filter="$filter"
  done
else
  echo "| compute-sanitizer | FAIL (not found) | 0 s |" >>"$summary"
  failed=1
fi

# 3. The tutorial's 50 epochs on the GPU and on the CPU backend, same seed.
step "train cuda 50 epochs" "$out/train.log" 300 "$cli" train --device cuda --data "$data" --seed 0
step "train cpu 50 epochs" "$out/train.log" 300 "$cli" train --device cpu --data "$data" --seed 0
{
  echo "final accuracy (cuda, then cpu):"
  grep "^Epoch: 50\." "$out/train.log"
} >>"$summary"

# 4. Benchmarks: our rows and PyTorch on the same GPU (tools/bench.sh), then the kernel lab.
step "bench" "$out/bench.log" 420 env BENCH_RUNS="$build/bench-runs" tools/bench.sh --bin "$cli" --repeats 3 --no-write
step "kernel lab" "$out/bench.log" 240 "$lab"

# 5. Kernel metrics of one step at batch 32 and 8192 (the third epoch's first steps).
if command -v ncu >/dev/null 2>&1; then
  for b in 32 8192; do
    step "ncu batch $b" "$out/timeline.log" 240 ncu --csv --profile-from-start off --launch-count 6 \
      --metrics gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__warps_active.avg.pct_of_peak_sustained_active \
      "$cli" train --device cuda --data "$data" --epochs 2 --batch-size "$b" --profile-epoch 2 --cuda-graphs off
    grep -E '^"' "$out/timeline.log" | sed "s/^/$b,/" >>"$out/kernels.csv"
  done
else
  echo "ncu not found" >"$out/kernels.csv"
fi

# 6. A timeline of one epoch: nsys when it can write its report here, else the program's own timings.
if command -v nsys >/dev/null 2>&1 &&
  step "nsys epoch 2" "$out/timeline.log" 180 nsys profile --capture-range=cudaProfilerApi --capture-range-end=stop \
    --trace=cuda,nvtx,cublas -o "$build/logreg_epoch2" --force-overwrite true \
    "$cli" train --device cuda --data "$data" --epochs 2 --profile-epoch 2; then
  nsys stats --report nvtx_sum,cuda_gpu_kern_sum "$build/logreg_epoch2.nsys-rep" >>"$out/timeline.log" 2>&1
else
  step "epoch timings" "$out/timeline.log" 120 "$cli" train --device cuda --data "$data" --epochs 3 --profile-epoch 2
fi

echo >>"$summary"
echo "device: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)" >>"$summary"
exit "$failed"
