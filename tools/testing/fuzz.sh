#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, clang with -fsanitize=fuzzer,address,undefined) with the
# "fuzz" CMake preset (LOGREG_FUZZ=ON, LOGREG_CUDA=off) into BUILD_DIR (default: the preset's build-fuzz/),
# writes their seed corpora, and runs each for SECONDS (default 60):
#   tools/testing/fuzz.sh [SECONDS]
# The targets run side by side, as many at once as there are cores. Prints each target's executions; exits
# non-zero on any crash, sanitizer report, leak, timeout or out-of-memory, keeping the input that caused it in
# BUILD_DIR/crashes/ (replay: BUILD_DIR/TARGET FILE).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
build_dir=${BUILD_DIR:-build-fuzz}
targets=(fuzz_idx fuzz_model_file fuzz_safetensors fuzz_cli)

if ! command -v clang++ >/dev/null 2>&1 || ! compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
  tools/setup/install_deps.sh
fi

# A build directory of the former standalone fuzz project (source tests/fuzz) is reconfigured from the top.
if grep -qs '^CMAKE_HOME_DIRECTORY:INTERNAL=.*/tests/fuzz$' "$build_dir/CMakeCache.txt"; then
  rm -rf "$build_dir/CMakeCache.txt" "$build_dir/CMakeFiles"
fi
cmake --preset fuzz -B "$build_dir" >/dev/null
if [[ -n ${BUILD_DIR:-} ]]; then
  cmake --build "$build_dir" -j"$(nproc)" --target "${targets[@]}" make_fuzz_corpus
else
  cmake --build --preset fuzz -j"$(nproc)"
fi

# Seeds are regenerated each run; what the fuzzer adds goes to work/ and is kept between local runs.
rm -rf "$build_dir/corpus"
"$build_dir/make_fuzz_corpus" "$build_dir/corpus"
mkdir -p "$build_dir/crashes" "$build_dir/logs"
# The targets write their inputs to files: keep that in memory when possible, and remove it afterwards.
scratch=$(mktemp -d "$( [[ -w /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}" )/logreg_fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# The targets run side by side, one per core (each still fuzzes for SECONDS of wall time on a core of its own),
# and their rows are printed in order once all have finished.
fuzz_one() {
  local t=$1 start=$SECONDS rc=0
  mkdir -p "$build_dir/work/$t"
  local args=("$build_dir/work/$t" "$build_dir/corpus/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10
              -print_final_stats=1 -artifact_prefix="$build_dir/crashes/$t-")
  if [[ -f "$build_dir/corpus/$t.dict" ]]; then args+=(-dict="$build_dir/corpus/$t.dict"); fi
  TMPDIR="$scratch" UBSAN_OPTIONS=print_stacktrace=1 "$build_dir/$t" "${args[@]}" >"$build_dir/logs/$t.log" 2>&1 || rc=$?
  echo "$rc $((SECONDS - start))" >"$build_dir/logs/$t.rc"
}
jobs_max=$(nproc)
for t in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= jobs_max)); do wait -n || true; done
  rm -f "$build_dir/logs/$t.rc"
  fuzz_one "$t" &
done
wait

failed=0
printf '%-16s %8s %12s %10s %8s  %s\n' target seconds executions exec/s cov result
for t in "${targets[@]}"; do
  log="$build_dir/logs/$t.log"
  read -r rc took <"$build_dir/logs/$t.rc" || { rc=1; took=0; }
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/.*exec\/s: \([0-9]*\).*/\1/p' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' "$log" | tail -1)
  result=ok
  if ((rc != 0)); then
    result="FAILED (exit $rc; log $log)"
    failed=1
  fi
  printf '%-16s %8d %12s %10s %8s  %s\n' "$t" "$took" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$result"
done

if ((failed)); then
  echo "fuzz: findings; inputs in $build_dir/crashes/:" >&2
  ls -l "$build_dir/crashes" >&2
  for t in "${targets[@]}"; do
    grep -m1 -A30 -E '^==[0-9]+==ERROR|runtime error|invariant broken|Test unit written' "$build_dir/logs/$t.log" >&2 || true
  done
  exit 1
fi
