#!/usr/bin/env bash
# Benchmarks logreg_cuda against its peers (PyTorch tutorial loop with a DataLoader, PyTorch with the
# data preloaded as tensors, scikit-learn's L-BFGS) on this machine, in one run: every row gets one
# warm-up run and N timed repeats (median); then a time-to-accuracy table. Prints the tables and writes
# the results section of BENCHMARKS.md. Never part of the tests; timings assert nothing.
#
# usage: tools/bench/bench.sh [--quick] [--data DIR] [--repeats N] [--epochs N] [--bin PATH]
#                       [--tta-settings B,LR,MOMENTUM] [--tta-best B,LR,MOMENTUM] [--tta-max-epochs N]
#                       [--target ACC] [--no-write] [--limit-only] [--limit-epochs N] [--lbfgs-only]
#   --quick           ~2 minute smoke run: 1 repeat, 1 epoch, DataLoader row on 6000 rows (scaled up),
#                     short scikit-learn fits, time-to-accuracy capped at 2 epochs; does not write
#                     BENCHMARKS.md unless --write is given
#   --data DIR        data set directory (default: ./data if it holds MNIST, else Fashion-MNIST)
#   --repeats N       timed repeats per row (default 3), after one warm-up run
#   --epochs N        timed epochs per repeat for the SGD rows (default 2)
#   --bin PATH        use this logreg_cuda instead of building one
#   --tta-settings    batch,lr,momentum used by every SGD row of the time-to-accuracy table
#                     (default 32,0.1,0)
#   --tta-best        batch,lr,momentum of the extra "best settings found" rows, ours and PyTorch
#                     preloaded's (default 128,0.05,0.9: the fastest to 84% on Fashion-MNIST we found)
#   --tta-max-epochs  give up on the target after this many epochs (default 15)
#   --target ACC      test accuracy (percent) for time to accuracy (default 92.0 on MNIST, else 84.0)
#   --no-write        print only; do not touch BENCHMARKS.md (--write: write even with --quick)
#   --limit-only      only the CPU limit section: the plain OpenBLAS loop (tools/bench/limit/cpu_limit),
#                     our --device cpu rows, the 50-epoch tutorial run's wall time and batch 32 under load;
#                     writes only that section of BENCHMARKS.md (a full run writes both)
#   --limit-epochs N  timed epochs per cpu_limit row (default 5, after its own warm-up epoch)
#   --lbfgs-only      only the "time to scikit-learn's optimum" rows (tools/bench/bench_lbfgs.py): the first
#                     10,000 rows and the full set, C 1, tol 1e-6, scikit-learn's lbfgs then ours (--device
#                     cpu, and cuda on a GPU): wall time, iterations, objective; prints the table, writes nothing
# env:  BUILD_DIR (default build-release), BUILD_TYPE (default Release): where tools/setup/build.sh builds;
#       TORCH_PYTHON, SKLEARN_PYTHON: interpreters for the peers (default: the first of $PYTHON,
#       /opt/torch/.venv/bin/python3, /usr/bin/python3, python3 that imports what the peer needs);
#       BENCH_RUNS: where the raw outputs go (default $BUILD_DIR/bench-runs/<date>).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"
command_line="tools/bench/bench.sh${*:+ $*}"

quick=0 write=1 write_forced=0 data_dir="" repeats=3 epochs=2 bin=""
tta_settings="32,0.1,0" tta_best="128,0.05,0.9" tta_max_epochs=15 target=0 limit_only=0 limit_epochs=5
lbfgs_only=0
while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --data) data_dir="$2"; shift ;;
    --repeats) repeats="$2"; shift ;;
    --epochs) epochs="$2"; shift ;;
    --bin) bin="$2"; shift ;;
    --tta-settings) tta_settings="$2"; shift ;;
    --tta-best) tta_best="$2"; shift ;;
    --tta-max-epochs) tta_max_epochs="$2"; shift ;;
    --target) target="$2"; shift ;;
    --no-write) write=0 ;;
    --write) write_forced=1 ;;
    --limit-only) limit_only=1 ;;
    --limit-epochs) limit_epochs="$2"; shift ;;
    --lbfgs-only) lbfgs_only=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
dataloader_limit=0 sklearn_iters=100 sklearn_tta_iters=300
if ((quick)); then
  repeats=1 epochs=1 dataloader_limit=6000 sklearn_iters=10 sklearn_tta_iters=20 tta_max_epochs=2
  ((write_forced)) || write=0
fi
IFS=, read -r tta_batch tta_lr tta_momentum <<<"$tta_settings"
IFS=, read -r best_batch best_lr best_momentum <<<"$tta_best"
data_args=()
[[ -n "$data_dir" ]] && data_args=(--data "$data_dir")

build_dir="${BUILD_DIR:-build-release}"
runs="${BENCH_RUNS:-$build_dir/bench-runs/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$runs"
manifest="$runs/manifest.tsv"
: >"$manifest"
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- 1. the machine ------------------------------------------------------------------------------
machine="$runs/machine.txt"
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "command=$command_line"
  echo "cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
  echo "cpus=$(nproc) CPUs ($(lscpu | sed -n 's/^Core(s) per socket: *//p' | head -1) cores/socket, $(lscpu | sed -n 's/^Socket(s): *//p' | head -1) socket(s), $(lscpu | sed -n 's/^Thread(s) per core: *//p' | head -1) thread(s)/core)"
  echo "memory=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "os=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-unknown}"), kernel $(uname -r)"
  gpu_reason=""
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    gpu_reason="nvidia-smi not found"
  elif ! gpu_line="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)" \
      || [[ -z "$gpu_line" || "$gpu_line" == *"failed"* || "$gpu_line" == *"No devices"* ]]; then
    gpu_reason="nvidia-smi: ${gpu_line:-no output}"
  fi
  if [[ -z "$gpu_reason" ]]; then
    echo "gpu=$(cut -d, -f1 <<<"$gpu_line" | xargs)"
    echo "driver=$(cut -d, -f2 <<<"$gpu_line" | xargs)"
    echo "gpu_memory=$(cut -d, -f3 <<<"$gpu_line" | xargs)"
  else
    echo "gpu="
    echo "no_gpu_reason=$gpu_reason"
  fi
  cuda_version="$( (/usr/local/cuda/bin/nvcc --version || nvcc --version) 2>/dev/null | sed -n 's/.*release \([0-9.]*\).*/\1/p' | head -1)"
  echo "cuda_toolkit=${cuda_version:-not found}"
} >"$machine"
have_gpu=0
grep -q '^gpu=.' "$machine" && have_gpu=1
no_gpu_reason="$(sed -n 's/^no_gpu_reason=//p' "$machine")"
log "machine: $(sed -n 's/^cpu=//p' "$machine"); GPU: $(sed -n 's/^gpu=//p' "$machine")${no_gpu_reason:+none ($no_gpu_reason)}"

# ---- 2. logreg_cuda, built in Release --------------------------------------------------------------
if [[ -z "$bin" ]]; then
  bin="$build_dir/logreg_cuda"
  if [[ ! -x "$bin" ]] || ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$build_dir/CMakeCache.txt" 2>/dev/null; then
    log "building logreg_cuda (Release) in $build_dir with tools/setup/build.sh (the release preset)"
    PRESET=release BUILD_DIR="$build_dir" BUILD_TYPE="${BUILD_TYPE:-Release}" tools/setup/build.sh >&2
  else
    log "bringing $bin up to date"
    cmake --build "$build_dir" --target logreg_cuda >&2
  fi
  cmake --build "$build_dir" --target cpu_limit >&2 || log "cpu_limit did not build (no OpenBLAS?): no limit rows"
fi
limit_bin="$(dirname "$bin")/cpu_limit"
[[ -x "$bin" ]] || { echo "bench.sh: $bin is not an executable" >&2; exit 1; }
"$bin" --version >"$runs/logreg_cuda_version.txt" 2>&1 || true
have_reference=0
"$bin" train --help 2>/dev/null | grep -- '--device' | grep -q 'reference' && have_reference=1

# ---- 3. interpreters for the peers -----------------------------------------------------------------
# pick_python MODULES... : the first candidate interpreter that imports every module, or "".
pick_python() {
  local candidate
  for candidate in ${PYTHON:-} /opt/torch/.venv/bin/python3 /usr/bin/python3 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import $(IFS=,; echo "$*")" 2>/dev/null; then
      command -v "$candidate"
      return
    fi
  done
}
torch_python="${TORCH_PYTHON:-$(pick_python torch torchvision numpy PIL)}"
sklearn_python="${SKLEARN_PYTHON:-$(pick_python sklearn numpy threadpoolctl)}"
report_python="$(pick_python json)"
torch_cuda_reason=""
if [[ -z "$torch_python" ]]; then
  torch_cuda_reason="no Python with torch, torchvision, numpy and PIL"
elif ! torch_cuda_out="$("$torch_python" -c 'import torch; print(torch.cuda.is_available())' 2>&1)" \
    || [[ "$torch_cuda_out" != *True ]]; then
  torch_cuda_reason="${no_gpu_reason:-torch.cuda.is_available() is False in $torch_python}"
fi
{
  echo "torch_python=${torch_python:-none}"
  echo "sklearn_python=${sklearn_python:-none}"
} >>"$machine"

# ---- time to scikit-learn's optimum (--lbfgs-only): both solvers on the same rows, one after the other ---
if ((lbfgs_only)); then
  [[ -n "$sklearn_python" ]] || { echo "bench.sh: --lbfgs-only needs a Python with scikit-learn, numpy, threadpoolctl" >&2; exit 1; }
  lbfgs_devices=(cpu)
  if [[ -z "$no_gpu_reason" ]]; then lbfgs_devices+=(cuda); fi
  for device in "${lbfgs_devices[@]}"; do
    log "time to scikit-learn's optimum, --device $device"
    "$sklearn_python" tools/bench/bench_lbfgs.py --exe "$bin" "${data_args[@]}" --rows 10000,0 --C 1 --tol 1e-6 \
      --device "$device" | tee "$runs/lbfgs_$device.md"
  done
  exit 0
fi

# ---- 4. the rows ------------------------------------------------------------------------------------
# note ID GROUP LABEL DEVICE BATCH STATUS : one manifest line (STATUS: ok, or why the row did not run).
note() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$manifest"; }

# run_once DIR NAME CMD... : runs CMD with stdout/stderr in DIR/NAME.out/.err; 0 when it succeeded.
run_once() {
  local dir="$1" name="$2"
  shift 2
  local rc=0
  "$@" >"$dir/$name.out" 2>"$dir/$name.err" || rc=$?
  ((rc == 0)) && return 0
  log "  $name failed (exit $rc): $(tail -c 300 "$dir/$name.err" | tr '\n' ' ')"
  return 1
}

# timed_row ID GROUP LABEL DEVICE BATCH KIND CMD... : one warm-up run, then $repeats timed runs.
# KIND ours adds --metrics DIR/NAME.jsonl; KIND peer appends $warmup_args to the warm-up run only.
warmup_args=()
timed_row() {
  local id="$1" group="$2" label="$3" device="$4" batch="$5" kind="$6"
  shift 6
  local dir="$runs/$id" status=ok k extra=()
  mkdir -p "$dir"
  log "$label, $device, batch $batch: warm-up + $repeats repeat(s)"
  [[ "$kind" == ours ]] && extra=(--metrics "$dir/warmup.jsonl")
  [[ "$kind" == peer ]] && extra=("${warmup_args[@]}")
  run_once "$dir" warmup "$@" "${extra[@]}" || status="failed (warm-up), see $dir"
  for ((k = 1; k <= repeats; k++)); do
    [[ "$status" == ok ]] || break
    extra=()
    [[ "$kind" == ours ]] && extra=(--metrics "$dir/rep$k.jsonl")
    run_once "$dir" "rep$k" "$@" "${extra[@]}" || status="failed, see $dir/rep$k.err"
  done
  note "$id" "$group" "$label" "$device" "$batch" "$status"
}

# tta_row ID LABEL DEVICE SETTINGS KIND CMD... : one run for the time-to-accuracy table.
tta_row() {
  local id="$1" label="$2" device="$3" settings="$4" kind="$5"
  shift 5
  local dir="$runs/$id" status=ok extra=()
  mkdir -p "$dir"
  log "time to accuracy: $label, $device, $settings"
  [[ "$kind" == ours ]] && extra=(--metrics "$dir/rep1.jsonl")
  run_once "$dir" rep1 "$@" "${extra[@]}" || status="failed, see $dir/rep1.err"
  note "$id" tta "$label" "$device" "$settings" "$status"
}

ours=("$bin" train "${data_args[@]}" --lr 0.001 --seed 0)
sgd_batches=(32 256 8192)

# ---- 4a. the CPU limit: the plain OpenBLAS loop, our cpu rows, the tutorial run, under load ------
# cpu_limit times the plain loop itself (a warm-up epoch, then --limit-epochs epochs, median), so each of its
# $repeats runs is one repeat; the report takes the median of the runs.
if [[ -x "$limit_bin" ]]; then
  mkdir -p "$runs/limit"
  log "limit: plain OpenBLAS loop (tools/bench/limit/cpu_limit), $repeats run(s) of $limit_epochs epochs"
  status=ok
  for ((k = 1; k <= repeats; k++)); do
    run_once "$runs/limit" "rep$k" "$limit_bin" "${data_args[@]}" --json --epochs "$limit_epochs" || status="failed, see $runs/limit"
  done
  note limit limit "plain OpenBLAS loop" cpu "32,256,8192" "$status"
else
  note limit limit "plain OpenBLAS loop" cpu "32,256,8192" "not built: $limit_bin"
fi
if ((limit_only)); then
  for b in "${sgd_batches[@]}"; do
    timed_row "ours_cpu_b$b" throughput logreg_cuda cpu "$b" ours "${ours[@]}" --device cpu --epochs "$epochs" --batch-size "$b"
  done
fi
# The tutorial run as tools/run.sh starts it (defaults: 50 epochs, batch 32, lr 0.001), wall time of the process.
mkdir -p "$runs/tutorial_wall"
log "tutorial run: $bin train (defaults), $repeats run(s), wall time"
status=ok
for ((k = 1; k <= repeats; k++)); do
  t0=$(date +%s.%N)
  run_once "$runs/tutorial_wall" "rep$k" "$bin" train "${data_args[@]}" || status="failed, see $runs/tutorial_wall"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }' >"$runs/tutorial_wall/rep$k.wall"
done
note tutorial_wall wall "logreg_cuda train (defaults: 50 epochs)" auto 32 "$status"
# Batch 32 with another process keeping one core busy (a shell loop), against the quiet row above.
busy_loop() { while :; do :; done; }
busy_loop &
busy_pid=$!
timed_row ours_cpu_b32_loaded load "logreg_cuda, one core busy" cpu 32 ours \
  "${ours[@]}" --device cpu --epochs "$epochs" --batch-size 32
kill "$busy_pid" 2>/dev/null || true
wait "$busy_pid" 2>/dev/null || true

if ((limit_only)); then
  { echo "repeats=$repeats"; echo "epochs=$epochs"; echo "limit_epochs=$limit_epochs"; echo "quick=$quick"; echo "limit_only=1"; } >>"$machine"
  report_args=(--runs "$runs" --limit-only)
  ((write)) && report_args+=(--write BENCHMARKS.md)
  "$report_python" tools/bench/bench_report.py "${report_args[@]}"
  log "raw outputs in $runs"
  exit 0
fi

# Row 1: the tutorial's loop with its DataLoader, on the CPU.
dl_label="PyTorch tutorial loop (DataLoader, ToTensor)"
if [[ -n "$torch_python" ]]; then
  warmup_args=(--epochs 1 --limit 3200)
  timed_row torch_dataloader_cpu_b32 throughput "$dl_label" cpu 32 peer \
    "$torch_python" tools/bench/peers/torch_tutorial_dataloader.py "${data_args[@]}" --device cpu \
    --epochs "$epochs" --batch-size 32 --lr 0.001 --limit "$dataloader_limit"
else
  note torch_dataloader_cpu_b32 throughput "$dl_label" cpu 32 "skipped: no Python with torch"
fi

# Row 2: PyTorch with the data preloaded as tensors, CPU and GPU.
pre_label="PyTorch, data preloaded as tensors"
for device in cpu cuda; do
  for b in "${sgd_batches[@]}"; do
    if [[ -z "$torch_python" ]]; then
      note "torch_preloaded_${device}_b$b" throughput "$pre_label" "$device" "$b" "skipped: no Python with torch"
    elif [[ "$device" == cuda && -n "$torch_cuda_reason" ]]; then
      note "torch_preloaded_${device}_b$b" throughput "$pre_label" "$device" "$b" "no GPU: $torch_cuda_reason"
    else
      warmup_args=(--epochs 1)
      timed_row "torch_preloaded_${device}_b$b" throughput "$pre_label" "$device" "$b" peer \
        "$torch_python" tools/bench/peers/torch_preloaded.py "${data_args[@]}" --device "$device" \
        --epochs "$epochs" --batch-size "$b" --lr 0.001
    fi
  done
done

# Row 3: scikit-learn.
sk_label="scikit-learn LogisticRegression (lbfgs, multinomial)"
if [[ -n "$sklearn_python" ]]; then
  warmup_args=(--max-iter 5)
  timed_row sklearn_cpu throughput "$sk_label" cpu "full" peer \
    "$sklearn_python" tools/bench/peers/sklearn_logreg.py "${data_args[@]}" --max-iter "$sklearn_iters"
else
  note sklearn_cpu throughput "$sk_label" cpu full "skipped: no Python with scikit-learn"
fi

# Row 4: logreg_cuda.
for device in cpu cuda; do
  for b in "${sgd_batches[@]}"; do
    if [[ "$device" == cuda && "$have_gpu" == 0 ]]; then
      note "ours_${device}_b$b" throughput logreg_cuda "$device" "$b" "no GPU: $no_gpu_reason"
    else
      timed_row "ours_${device}_b$b" throughput logreg_cuda "$device" "$b" ours \
        "${ours[@]}" --device "$device" --epochs "$epochs" --batch-size "$b"
    fi
  done
done
if ((have_reference)); then
  timed_row ours_reference_b32 throughput logreg_cuda reference 32 ours \
    "${ours[@]}" --device reference --epochs "$epochs" --batch-size 32
else
  note ours_reference_b32 throughput logreg_cuda reference 32 "n/a: this logreg_cuda has no --device reference"
fi

# ---- 5. time to accuracy ------------------------------------------------------------------------------
tta=(--batch-size "$tta_batch" --lr "$tta_lr" --momentum "$tta_momentum")
tta_desc="batch $tta_batch, lr $tta_lr, momentum $tta_momentum"
peer_tta=(--target-accuracy "$target" --epochs "$tta_max_epochs" "${tta[@]}")
if [[ -n "$torch_python" ]]; then
  tta_row tta_torch_dataloader_cpu "$dl_label" cpu "$tta_desc" peer \
    "$torch_python" tools/bench/peers/torch_tutorial_dataloader.py "${data_args[@]}" --device cpu "${peer_tta[@]}"
  tta_row tta_torch_preloaded_cpu "$pre_label" cpu "$tta_desc" peer \
    "$torch_python" tools/bench/peers/torch_preloaded.py "${data_args[@]}" --device cpu "${peer_tta[@]}"
  if [[ -z "$torch_cuda_reason" ]]; then
    tta_row tta_torch_preloaded_cuda "$pre_label" cuda "$tta_desc" peer \
      "$torch_python" tools/bench/peers/torch_preloaded.py "${data_args[@]}" --device cuda "${peer_tta[@]}"
  else
    note tta_torch_preloaded_cuda tta "$pre_label" cuda "$tta_desc" "no GPU: $torch_cuda_reason"
  fi
fi
if [[ -n "$sklearn_python" ]]; then
  tta_row tta_sklearn_cpu "$sk_label" cpu "L-BFGS, evaluated every 10 iterations" peer \
    "$sklearn_python" tools/bench/peers/sklearn_logreg.py "${data_args[@]}" --target-accuracy "$target" \
    --chunk-iters 10 --max-iter "$sklearn_tta_iters"
fi
for device in cpu cuda; do
  if [[ "$device" == cuda && "$have_gpu" == 0 ]]; then
    note tta_ours_cuda tta logreg_cuda cuda "$tta_desc" "no GPU: $no_gpu_reason"
    continue
  fi
  tta_row "tta_ours_$device" logreg_cuda "$device" "$tta_desc" ours \
    "$bin" train "${data_args[@]}" --seed 0 --device "$device" --epochs "$tta_max_epochs" "${tta[@]}"
done
best_device=cpu
((have_gpu)) && best_device=cuda
best=(--batch-size "$best_batch" --lr "$best_lr" --momentum "$best_momentum")
best_desc="batch $best_batch, lr $best_lr, momentum $best_momentum"
tta_row "tta_ours_best_$best_device" "logreg_cuda, best settings found" "$best_device" "$best_desc" ours \
  "$bin" train "${data_args[@]}" --seed 0 --device "$best_device" --epochs "$tta_max_epochs" "${best[@]}"
if [[ -n "$torch_python" && ( "$best_device" == cpu || -z "$torch_cuda_reason" ) ]]; then
  tta_row "tta_torch_preloaded_best_$best_device" "$pre_label, the same settings" "$best_device" "$best_desc" peer \
    "$torch_python" tools/bench/peers/torch_preloaded.py "${data_args[@]}" --device "$best_device" \
    --target-accuracy "$target" --epochs "$tta_max_epochs" "${best[@]}"
fi
tta_row "tta_ours_tutorial_$best_device" "logreg_cuda, tutorial settings" "$best_device" \
  "batch 32, lr 0.001, momentum 0" ours \
  "$bin" train "${data_args[@]}" --seed 0 --device "$best_device" --epochs "$tta_max_epochs" --batch-size 32 --lr 0.001

# ---- 6. the report -------------------------------------------------------------------------------------
# The settings go into machine.txt too, so that `tools/bench/bench_report.py --runs DIR` re-renders a copied run.
{
  echo "repeats=$repeats"
  echo "epochs=$epochs"
  echo "dataloader_limit=$dataloader_limit"
  echo "sklearn_iters=$sklearn_iters"
  echo "tta_max_epochs=$tta_max_epochs"
  echo "target=$target"
  echo "quick=$quick"
  echo "limit_epochs=$limit_epochs"
} >>"$machine"
report_args=(--runs "$runs")
((write)) && report_args+=(--write BENCHMARKS.md)
"$report_python" tools/bench/bench_report.py "${report_args[@]}"
log "raw outputs in $runs"
