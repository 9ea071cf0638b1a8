#!/usr/bin/env bash
# The checks that need a GPU, in one go: the GPU test suite, compute-sanitizer memcheck and racecheck on
# it, the fused-step kernel lab (tools/kernel_lab/fused_step.cu: validate, then time), and timed training
# runs of the CLI at batch 32, 4096 and 8192 with device-resident data (CUDA graphs on and off) and with
# streamed data; prints a timing table and a summary table and exits non-zero if any step failed.
# Works with a build folder made on another machine (it only configures when the test binary is missing;
# build the kernel lab there too: cmake --build BUILD_DIR --target kernel_lab_fused_step).
#
# usage: tools/gpu_check.sh [BUILD_DIR]        (default: build)
# env:   GPU_CHECK_SANITIZER_FILTER  gtest filter for the sanitizer runs (default: a short subset)
#        OUT                         when set, the logs go there (gpu_tests, memcheck, racecheck,
#                                    kernel_lab, train, summary: at most 7 files), else to a temporary folder
set -u -o pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_arg="${1:-build}"
case "$build_arg" in
  /*) build_dir="$build_arg" ;;
  *) build_dir="$(pwd)/$build_arg" ;;
esac
cd "$repo_root" || exit 1

tests_exe="$build_dir/tests/logreg_gpu_tests"
cli_exe="$build_dir/logreg_cuda"
lab_exe="$build_dir/kernel_lab_fused_step"
sanitizer_filter="${GPU_CHECK_SANITIZER_FILTER:-CudaOneStep/*:CudaBatchRing/*:CudaBackendTest.EvaluateMatchesReferenceAcrossChunks:CudaBackendTest.ChunkedEpochGivesIdenticalWeights:CudaPathsAgree/CudaPathsAgree.GraphsEagerAndStreamedGiveBitIdenticalTrajectories/softmax_B33_momentum:CudaResidentBatches/*:CudaFastPathTest.ChunkedEpochWithGraphsGivesIdenticalWeights}"
scratch_dir="$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")"
if [ -n "${OUT:-}" ]; then
  log_dir="$OUT"
  mkdir -p "$log_dir"
else
  log_dir="$scratch_dir"
fi

steps=()
results=()
seconds=()
failed=0

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# record STEP RESULT START  (RESULT: PASS, FAIL or SKIP ...)
record() {
  steps+=("$1")
  results+=("$2")
  seconds+=("$(elapsed "$3" "$(now)")")
  case "$2" in FAIL*) failed=1 ;; esac
}

# run_step NAME LOGFILE COMMAND... : runs, tees the output to LOGFILE, records PASS/FAIL.
run_step() {
  local name="$1" log="$2"
  shift 2
  echo
  echo "==> $name: $*"
  local t0
  t0="$(now)"
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 0 ]; then
    record "$name" "PASS" "$t0"
  else
    record "$name" "FAIL (exit $rc)" "$t0"
  fi
  return "$rc"
}

# 1. The device.
echo "==> nvidia-smi"
t0="$(now)"
have_gpu=0
if command -v nvidia-smi >/dev/null 2>&1 &&
  nvidia-smi --query-gpu=index,name,compute_cap,driver_version,memory.total,memory.used,utilization.gpu \
    --format=csv; then
  have_gpu=1
  # From here on a GPU test that skips (no usable device: driver too old for this CUDA 13 build, no
  # kernel image for the GPU) fails instead of passing silently.
  export LOGREG_REQUIRE_GPU=1
  record "nvidia-smi" "PASS" "$t0"
else
  echo "nvidia-smi missing or failed: no usable NVIDIA GPU here"
  record "nvidia-smi" "FAIL (no GPU)" "$t0"
fi

# 2. Build only if there is no test binary (a carried build folder is used as is).
if [ ! -x "$tests_exe" ]; then
  arch_args=()
  if [ "$have_gpu" -eq 1 ] && nvidia-smi --query-gpu=compute_cap --format=csv,noheader | grep -q '^9\.0'; then
    arch_args=(-DCMAKE_CUDA_ARCHITECTURES=90)
  fi
  t0="$(now)"
  echo
  echo "==> configure + build in $build_dir ${arch_args[*]:-(default architectures)}"
  if cmake -S "$repo_root" -B "$build_dir" -G Ninja "${arch_args[@]}" &&
    cmake --build "$build_dir" -j "$(nproc)"; then
    record "build" "PASS" "$t0"
  else
    record "build" "FAIL" "$t0"
  fi
fi

# 2b. Shared libraries the carried binaries need here (cuBLAS 13 is linked dynamically: it is too large to
#     carry, so it must come with the CUDA toolkit of this machine).
for exe in "$tests_exe" "$cli_exe"; do
  if [ -x "$exe" ] && ldd "$exe" | grep -q "not found"; then
    echo "$exe: missing shared libraries:"
    ldd "$exe" | grep "not found"
    echo "(set LD_LIBRARY_PATH to the CUDA 13 toolkit's lib64, e.g. /usr/local/cuda/lib64)"
    record "libraries of $(basename "$exe")" "FAIL (missing libraries)" "$(now)"
  fi
done

if [ ! -x "$tests_exe" ]; then
  echo "no test binary at $tests_exe"
  record "gpu tests" "FAIL (no binary)" "$(now)"
else
  # 3. The GPU test suite; a skipped test means the device was not usable, which is a failure here.
  if run_step "gpu tests" "$log_dir/gpu_tests.log" "$tests_exe"; then
    skipped="$(sed -n 's/^\[  SKIPPED \] \([0-9][0-9]*\) tests\{0,1\},.*/\1/p' "$log_dir/gpu_tests.log" | head -n 1)"
    if [ "${skipped:-0}" -gt 0 ]; then
      results[${#results[@]} - 1]="FAIL ($skipped skipped)"
      failed=1
    fi
  fi

  # 4. compute-sanitizer on a short subset (the sanitizers slow every launch down a lot).
  sanitizer="$(command -v compute-sanitizer || true)"
  for candidate in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
    if [ -z "$sanitizer" ] && [ -x "$candidate" ]; then sanitizer="$candidate"; fi
  done
  for tool in memcheck racecheck; do
    if [ -z "$sanitizer" ]; then
      echo "compute-sanitizer not found on PATH or under /usr/local/cuda: skipping $tool"
      record "sanitizer $tool" "SKIP (no compute-sanitizer)" "$(now)"
      continue
    fi
    run_step "sanitizer $tool" "$log_dir/$tool.log" \
      "$sanitizer" --tool "$tool" --error-exitcode 1 "$tests_exe" --gtest_filter="$sanitizer_filter" || true
  done
fi

# 5. The kernel lab: every fused-step version validated against the CPU reference, then timed against
#    the cuBLAS path (it exits non-zero, untimed, when a version fails validation).
if [ ! -x "$lab_exe" ] && [ -f "$build_dir/build.ninja" -o -f "$build_dir/Makefile" ]; then
  echo
  echo "==> build kernel_lab_fused_step"
  cmake --build "$build_dir" --target kernel_lab_fused_step -j "$(nproc)" || true
fi
if [ -x "$lab_exe" ]; then
  run_step "kernel lab" "$log_dir/kernel_lab.log" "$lab_exe" || true
else
  echo "no kernel lab at $lab_exe (cmake --build $build_dir --target kernel_lab_fused_step)"
  record "kernel lab" "FAIL (no binary)" "$(now)"
fi

# 6. Timed training runs of the CLI, when it and a data set are there: 2 epochs each, the second one
#    (after graph capture and warm-up) reported as training seconds per epoch = rows / throughput.
data_note=""
if [ -d data ] && find data -maxdepth 3 -name '*idx*-ubyte*' | grep -q .; then
  data_note="./data"
elif [ -d /usr/share/datasets/fashion-mnist ]; then
  data_note="/usr/share/datasets/fashion-mnist"
fi
timings=()
: >"$log_dir/train.log"
for bs in 32 4096 8192; do
  for mode in "device on" "device off" "stream -"; do
    read -r residency graphs <<<"$mode"
    name="train bs=$bs $residency"
    [ "$graphs" != "-" ] && name="$name graphs $graphs"
    if [ ! -x "$cli_exe" ]; then
      echo "no CLI at $cli_exe: skipping $name"
      record "$name" "SKIP (no logreg_cuda)" "$(now)"
      continue
    elif [ -z "$data_note" ]; then
      echo "no data set (./data or /usr/share/datasets/fashion-mnist): skipping $name"
      record "$name" "SKIP (no data)" "$(now)"
      continue
    fi
    run_log="$scratch_dir/train_${bs}_${residency}_${graphs}.log"
    graph_args=(--cuda-graphs on)  # ignored with streamed data
    [ "$graphs" != "-" ] && graph_args=(--cuda-graphs "$graphs")
    run_step "$name" "$run_log" \
      "$cli_exe" train --device cuda --epochs 2 --batch-size "$bs" --residency "$residency" "${graph_args[@]}" || true
    { echo "==== $name"; cat "$run_log"; echo; } >>"$log_dir/train.log"
    rows="$(sed -n 's/^Data: .*, \([0-9][0-9]*\) training rows,.*/\1/p' "$run_log" | head -n 1)"
    rate="$(sed -n 's/^Epoch: 2\. .*Throughput: \([0-9.][0-9.]*\) samples\/s.*/\1/p' "$run_log" | tail -n 1)"
    if [ -n "$rows" ] && [ -n "$rate" ]; then
      secs="$(awk -v n="$rows" -v r="$rate" 'BEGIN { if (r > 0) printf "%.4f", n / r; else print "-" }')"
    else
      secs="-"
      rate="-"
    fi
    timings+=("$(printf '%-7s %-10s %-7s %12s %14s' "$bs" "$residency" "${graphs/-/n\/a}" "$secs" "$rate")")
  done
done

if [ "${#timings[@]}" -gt 0 ]; then
  echo
  echo "train --device cuda, epoch 2 of 2 (training only; data: $data_note)"
  printf '%-7s %-10s %-7s %12s %14s\n' "batch" "residency" "graphs" "s/epoch" "samples/s"
  printf '%-7s %-10s %-7s %12s %14s\n' "-------" "----------" "-------" "------------" "--------------"
  for line in "${timings[@]}"; do echo "$line"; done
fi

# 7. Summary (also written to the log folder).
{
  echo
  echo "gpu_check summary (logs in $log_dir)"
  printf '%-34s %-30s %10s\n' "step" "result" "seconds"
  printf '%-34s %-30s %10s\n' "----------------------------------" "------------------------------" "----------"
  for i in "${!steps[@]}"; do
    printf '%-34s %-30s %10s\n' "${steps[$i]}" "${results[$i]}" "${seconds[$i]}"
  done
  if [ "${#timings[@]}" -gt 0 ]; then
    echo
    printf '%-7s %-10s %-7s %12s %14s\n' "batch" "residency" "graphs" "s/epoch" "samples/s"
    for line in "${timings[@]}"; do echo "$line"; done
  fi
} | tee "$log_dir/summary.txt"
if [ "$failed" -ne 0 ]; then
  echo "gpu_check: FAILED"
  exit 1
fi
echo "gpu_check: all run steps passed"
exit 0
