#!/usr/bin/env bash
# The developer's quick check, for use between commits (the full suite is tools/test.sh, and .ci/run once
# before stopping). Builds the emulated preset incrementally (build-emulated/: the CPU code and the CUDA code
# on the emulated device in one build, through ccache), then runs, with ctest:
#   - the tests of what changed since BASE (default HEAD: the uncommitted changes, new files included): a
#     changed test file runs its own suites; a changed source or header runs the suites of every test file
#     that names it (its stem, e.g. idx for src/data/idx.cpp) and of the test files named for its module
#     (tests/*/test_cli*.cpp for src/cli/); emulator/ runs the emulator's tests; a changed CUDA source is also
#     compiled by nvcc when build/ exists;
#   - the smoke set: a fast cross-section (maths, reader, CPU backend, CLI, one CUDA path, the emulator).
#   tools/check.sh [BASE]        e.g. tools/check.sh HEAD~3, tools/check.sh origin/main
# Prints the ctest regex it ran. Exits non-zero on any build or test failure.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-HEAD}
export PATH="/usr/local/cuda/bin:$PATH"

# A fast cross-section of the suite (about 30 s on the emulated device, 2 cores).
smoke='^([A-Za-z0-9_]+/)?(RowMath|ObjectiveMath|KernelBodies|IdxReader|CpuFast|Cli|Rng|KnownAnswers|CudaOneStep)\.'

changed=$( (git diff --name-only "$base" --; git ls-files --others --exclude-standard) | sort -u)

# The GoogleTest suites a test file defines: TEST/TEST_F/TEST_P(Suite, ...) and INSTANTIATE_TEST_SUITE_P(_, Suite).
suites_of() {
  sed -n -E 's/^ *(TEST|TEST_F|TEST_P) *\( *([A-Za-z0-9_]+) *,.*/\2/p' "$1"
}

suites=()
cuda_changed=0
emulator_changed=0
for f in $changed; do
  [[ -f $f ]] || continue
  case $f in
    tests/*/test_*.cpp) mapfile -t -O "${#suites[@]}" suites < <(suites_of "$f") ;;
    emulator/*) emulator_changed=1 ;;
  esac
  case $f in
    kernels/*|src/cuda/*|tools/gpu/kernel_lab/*) cuda_changed=1 ;;
  esac
  case $f in
    src/*|include/*|kernels/*|emulator/*)
      stem=$(basename "${f%.*}")
      while IFS= read -r t; do
        mapfile -t -O "${#suites[@]}" suites < <(suites_of "$t")
      done < <(grep -lw -- "$stem" tests/cpu/*.cpp tests/gpu/*.cpp tests/emulator/*.cpp 2>/dev/null || true)
      # ... and the test files named for its module: src/cli/* runs tests/*/test_cli*.cpp.
      if [[ $f == src/*/* ]]; then
        module=$(basename "$(dirname "$f")")
        for t in tests/*/test_"$module"*.cpp; do
          [[ -f $t ]] && mapfile -t -O "${#suites[@]}" suites < <(suites_of "$t")
        done
      fi
      ;;
  esac
done

cmake --preset emulated -DLOGREG_WERROR="${LOGREG_WERROR:-OFF}" >/dev/null
cmake --build --preset emulated -j"$(nproc)"
if ((cuda_changed)) && [[ -f build/build.ninja ]]; then
  echo "check: a CUDA source changed: compiling the CUDA backend with nvcc too (build/)"
  cmake --build build -j"$(nproc)" --target logreg_cuda_backend
fi

regex=$smoke
if ((${#suites[@]})); then
  unique=$(printf '%s\n' "${suites[@]}" | sort -u | paste -sd'|')
  regex="$regex|^([A-Za-z0-9_]+/)?($unique)\\."
fi
if ((emulator_changed)); then
  regex="$regex|^(EmulatorTest|KernelLab)\\."
fi
echo "check: ctest -R '$regex'"
ctest --test-dir build-emulated -R "$regex" -j"$(nproc)" --timeout 600 --output-on-failure --no-tests=error
