#!/usr/bin/env bash
# Everything a rare GPU lease should bring back, from one command, in at most 8 files under OUTDIR (the
# device tool returns 8): run it on the GPU machine from a build made and carried from a machine without
# a GPU. About 8-10 minutes on an H100.
#   device.txt     nvidia-smi, driver/CUDA versions, the device as the program sees it (probe + properties)
#   tests.log      the gpu test executable with LOGREG_REQUIRE_GPU=1 (a skip is a failure)
#   sanitizer.log  a fast subset under compute-sanitizer memcheck, racecheck, synccheck and initcheck
#   train.log      train --device cuda, 50 epochs, tutorial settings, and the CPU backend on the same seed;
#                  train --solver lbfgs --C 1 on the full set, GPU and CPU backends; the GPU's double objective
#                  alone (no test accuracy) at tol 1e-4 and 1e-8, with its ms per evaluation
#   bench.log      tools/gpu/gpu_bench.py (batch 32/256/8192: resident with and without graphs, streamed, and
#                  PyTorch preloaded on the same GPU), the cluster kernel against the persistent kernel and the
#                  cuBLAS graphs at batch 32 and 256 and the grid kernel against the cuBLAS graphs at batch 1024
#                  and 8192 (median of 5 epochs), and the kernel lab (validate, time, copy bandwidth)
#   kernels.csv    ncu: each kernel's duration, DRAM throughput and achieved occupancy: one cuBLAS step at
#                  batch 32 and 8192, the persistent and the cluster kernel's epoch at batch 32, the grid
#                  kernel's at batch 8192 (a note when ncu cannot profile)
#   timeline.log   nsys stats of one epoch when nsys can write a report, else the NVTX-bracketed CUDA-event
#                  timings the program prints with --profile-epoch
#   summary.md     one line per step (PASS/FAIL, seconds) and the figures tools/bench/bench_report.py reads
#
# The steps run in order of importance under one time budget (GPU_RUN_BUDGET seconds, default 540): a step
# gets at most what is left, and a step with under 20 s left is recorded as SKIPPED, so the files always
# come back within the device tool's 10-minute call. The build need not sit at its configured path: the
# tests read LOGREG_CUDA_EXE (the CLI) and LOGREG_FASHION_MNIST (DATA) from the environment.
#
# usage: tools/gpu_run.sh OUTDIR [BUILD_DIR]      (BUILD_DIR default: build)
#   env DATA (default /usr/share/datasets/fashion-mnist), GPU_RUN_BUDGET, GPU_RUN_SANITIZER_FILTER, PYTHON
# e.g. from the device tool:  LD_LIBRARY_PATH=/usr/local/cuda/lib64 tools/gpu_run.sh "$OUT" build
set -u -o pipefail

out="${1:?usage: tools/gpu_run.sh OUTDIR [BUILD_DIR]}"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${2:-build}"
case "$build" in /*) ;; *) build="$repo_root/$build" ;; esac
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$repo_root" || exit 1
export PATH="/usr/local/cuda/bin:$PATH"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export LOGREG_REQUIRE_GPU=1

cli="$build/logreg_cuda"
tests="$build/tests/logreg_gpu_tests"
lab="$build/kernel_lab_fused_step"
cluster_lab="$build/kernel_lab_cluster_epoch"
data="${DATA:-/usr/share/datasets/fashion-mnist}"
case "$data" in /*) ;; *) data="$repo_root/$data" ;; esac
export LOGREG_CUDA_EXE="$cli" LOGREG_FASHION_MNIST="$data"
python="${PYTHON:-$(command -v python3)}"
budget="${GPU_RUN_BUDGET:-540}"
summary="$out/summary.md"
failed=0
echo "# gpu_run $(date -u +%Y-%m-%dT%H:%MZ)" >"$summary"

# step NAME LOG LIMIT COMMAND...: runs with a time limit (capped by what is left of the budget), appends
# to LOG, records PASS/FAIL/SKIPPED and seconds in the summary.
step() {
  local name=$1 log=$2 limit=$3
  shift 3
  local left=$((budget - SECONDS))
  if ((left < 20)); then
    echo "| $name | SKIPPED (budget spent) | 0 s |" >>"$summary"
    failed=1
    return 1
  fi
  ((limit > left - 5)) && limit=$((left - 5))
  local t0=$SECONDS
  echo "==> $name (limit $limit s): $*" >>"$log"
  timeout -k 5 "$limit" "$@" >>"$log" 2>&1
  local rc=$?
  local verdict=PASS
  if [ "$rc" -ne 0 ]; then
    verdict="FAIL (exit $rc)"
    ((rc == 124)) && verdict="FAIL (timed out after $limit s)"
    failed=1
  fi
  echo "| $name | $verdict | $((SECONDS - t0)) s |" >>"$summary"
  return "$rc"
}

echo "| step | result | time |" >>"$summary"
echo "| --- | --- | --- |" >>"$summary"

# 1. The device.
{
  nvidia-smi
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
  nvcc --version 2>/dev/null | tail -2
  ldd "$(dirname "$cli")/liblogreg_cuda_module.so" | grep -E "cublas|cudart|not found"
  ls -la "$data"
} >"$out/device.txt" 2>&1
step "probe" "$out/device.txt" 60 "$cli" train --device cuda --epochs 1 --limit-train 64 --data "$data"

# 2. The gpu test executable (a skip is a failure).
step "gpu tests" "$out/tests.log" 180 "$tests"
grep -E "^\[  (PASSED|FAILED|SKIPPED) |^\[  FAILED  \]" "$out/tests.log" | head -20 >>"$summary"

# 3. The tutorial's 50 epochs on the GPU and on the CPU backend, same seed.
step "train cuda 50 epochs" "$out/train.log" 120 "$cli" train --device cuda --data "$data" --seed 0
step "train cuda 50 epochs, kernel cublas" "$out/train.log" 120 "$cli" train --device cuda --data "$data" --seed 0 --kernel cublas
step "train cpu 50 epochs" "$out/train.log" 90 "$cli" train --device cpu --data "$data" --seed 0
# The L-BFGS solver on the full set at C = 1 (scikit-learn's default tolerance 1e-4), GPU then CPU backend.
step "lbfgs cuda C=1" "$out/train.log" 90 "$cli" train --device cuda --data "$data" --solver lbfgs --C 1 --tol 1e-4 --max-iter 2000
step "lbfgs cpu C=1" "$out/train.log" 90 "$cli" train --device cpu --data "$data" --solver lbfgs --C 1 --tol 1e-4 --max-iter 2000
# The double device objective alone (docs/profiling.md, "The L-BFGS objective kernel"): the same fit without the
# test accuracy, then the fit to tol 1e-8; ms per evaluation = the fit's seconds / its evaluations (libLBFGS's
# own time per iteration included), from --metrics files kept outside OUTDIR.
metrics_dir="$(mktemp -d)"
step "lbfgs cuda C=1 tol 1e-4, objective only" "$out/train.log" 60 "$cli" train --device cuda --data "$data" --solver lbfgs \
  --C 1 --tol 1e-4 --max-iter 2000 --eval-every 0 --metrics "$metrics_dir/tol1e-4.csv"
step "lbfgs cuda C=1 tol 1e-8, objective only" "$out/train.log" 90 "$cli" train --device cuda --data "$data" --solver lbfgs \
  --C 1 --tol 1e-8 --max-iter 20000 --eval-every 0 --metrics "$metrics_dir/tol1e-8.csv"
for f in "$metrics_dir"/tol*.csv; do
  [ -f "$f" ] || continue
  tail -1 "$f" | awk -F, -v name="$(basename "$f" .csv)" \
    '{ printf "lbfgs cuda %s: %d iterations, %d evaluations, %.3f s, %.3f ms per evaluation (objective %s, max |g| %s)\n", name, $1, $6, $5, 1000 * $5 / $6, $2, $3 }' \
    >>"$out/train.log"
done
rm -rf "$metrics_dir"
{
  echo
  grep "^Solver:" "$out/train.log"
  grep "^lbfgs cuda tol" "$out/train.log"
  echo "final epoch (cuda --kernel auto, cuda --kernel cublas, cpu):"
  grep "^Epoch: 50\." "$out/train.log"
  grep "training on" "$out/train.log" | head -4
  echo
} >>"$summary"

# 4. Throughput: ours and PyTorch preloaded on the same GPU, then the kernel lab.
step "gpu bench" "$out/bench.log" 150 "$python" tools/gpu/gpu_bench.py --bin "$cli" --data "$data" --epochs 4 --out "$summary"
# The cluster kernel against today's kernels, same call, 6 epochs each (the first a warm-up): its adoption
# threshold is in docs/profiling.md ("The cluster epoch kernel").
step "cluster bench" "$out/bench.log" 90 "$python" tools/gpu/gpu_bench.py --bin "$cli" --data "$data" --epochs 6 \
  --batches 32,256 --variants persistent,cluster,graphs --no-torch --out "$summary"
# The grid kernel against the cuBLAS graphs at batch 1024 and 8192, same call: its adoption threshold is in
# docs/profiling.md ("The grid epoch kernel").
step "grid bench" "$out/bench.log" 60 "$python" tools/gpu/gpu_bench.py --bin "$cli" --data "$data" --epochs 6 \
  --batches 1024,8192 --variants grid,graphs --no-torch --out "$summary"
step "kernel lab" "$out/bench.log" 60 "$lab"
sed -n '/==> kernel lab/,$p' "$out/bench.log" | grep -iE "bandwidth|GB/s|us/step|µs|median|FAIL" | tail -20 >>"$summary"
# The one-launch epoch kernels launched directly: both cluster exchanges and the persistent kernel (validated
# against the cluster kernel's CPU model first), ms per epoch, and cycles per cluster.sync() and DSMEM load.
step "kernel lab cluster" "$out/bench.log" 60 "$cluster_lab"
sed -n '/==> kernel lab cluster/,$p' "$out/bench.log" | grep -E "^(32|256) |cycles|phases|FAILED|no cluster" >>"$summary"

# 5. compute-sanitizer on a fast subset.
filter="${GPU_RUN_SANITIZER_FILTER:-CudaOneStep/*B33*:CudaBatchRing/*:CudaBackendTest.EvaluateMatchesReferenceAcrossChunks:CudaResidentBatches/*:CudaFastPathTest.ChunkedEpochWithGraphsGivesIdenticalWeights:CudaPersistent.*:CudaPersistentEpochs/*softmax_B45_sgd:CudaPersistentEpochs/ovr_B32_momentum:CudaClusterEpochs/*softmax_B45_momentum:CudaGridEpochs/*/softmax_B1024_momentum_D784:AllHeads/CudaObjectiveHeads.*/softmax:CudaObjectiveTest.EveryKernelPlanGivesTheSameBits}"
race_filter="${GPU_RUN_RACECHECK_FILTER:-CudaOneStep/*B33*:CudaBatchRing/*:CudaBackendTest.EvaluateMatchesReferenceAcrossChunks:CudaResidentBatches/*:CudaPersistentEpochs/softmax_B83_sgd:CudaClusterEpochs/*softmax_B8_sgd:CudaObjectiveTest.EveryKernelPlanGivesTheSameBits}"
if command -v compute-sanitizer >/dev/null 2>&1; then
  for tool in memcheck initcheck synccheck; do
    step "compute-sanitizer $tool" "$out/sanitizer.log" 60 \
      compute-sanitizer --tool "$tool" --error-exitcode 99 "$tests" --gtest_filter="$filter"
  done
  # racecheck tracks every shared-memory access: the persistent kernel's tests (1024 threads, every step of
  # an epoch) took over a minute under it, so it gets the cuBLAS-path subset and one persistent epoch test.
  step "compute-sanitizer racecheck" "$out/sanitizer.log" 90 \
    compute-sanitizer --tool racecheck --error-exitcode 99 "$tests" --gtest_filter="$race_filter"
  grep -E "ERROR SUMMARY|RACECHECK SUMMARY|Invalid|Uninitialized|hazard" "$out/sanitizer.log" | sort | uniq -c | head -20 >>"$summary"
else
  echo "| compute-sanitizer | FAIL (not found) | 0 s |" >>"$summary"
  failed=1
fi

# 6. Kernel metrics of the third epoch's first launches at batch 32 and 8192.
if command -v ncu >/dev/null 2>&1; then
  for run in 32:cublas 8192:cublas 32:persistent 32:cluster 8192:grid; do
    b=${run%%:*} kernel=${run#*:}
    step "ncu batch $b $kernel" "$out/timeline.log" 60 ncu --csv --clock-control none --profile-from-start off --launch-count 8 \
      --metrics gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__warps_active.avg.pct_of_peak_sustained_active \
      --log-file "$out/ncu_$b.csv" \
      "$cli" train --device cuda --data "$data" --epochs 2 --batch-size "$b" --profile-epoch 2 --cuda-graphs off --kernel "$kernel"
    grep -E '^"' "$out/ncu_$b.csv" 2>/dev/null | sed "s/^/$b,$kernel,/" >>"$out/kernels.csv"
    rm -f "$out/ncu_$b.csv"
  done
else
  echo "ncu not found" >"$out/kernels.csv"
fi

# 7. A timeline of one epoch when nsys is there and can write its report.
if command -v nsys >/dev/null 2>&1; then
  step "nsys epoch 2" "$out/timeline.log" 60 nsys profile --capture-range=cudaProfilerApi --capture-range-end=stop \
    --trace=cuda,nvtx,cublas -o /tmp/logreg_epoch2 --force-overwrite true \
    "$cli" train --device cuda --data "$data" --epochs 2 --profile-epoch 2 &&
    nsys stats --report nvtx_sum,cuda_gpu_kern_sum /tmp/logreg_epoch2.nsys-rep >>"$out/timeline.log" 2>&1
else
  echo "nsys not on the PATH: no timeline (kernels.csv has ncu's per-kernel figures)" >>"$out/timeline.log"
fi

echo >>"$summary"
echo "device: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1); wall $SECONDS s" >>"$summary"
cat "$summary"
exit "$failed"
