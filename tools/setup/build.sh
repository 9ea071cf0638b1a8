#!/usr/bin/env bash
# Configures and builds logreg_cuda with a CMake preset (CMakePresets.json): PRESET=default (build/, CUDA by
# nvcc when a toolkit is there), release (build-release/, Release: what tools/bench/bench.sh times), emulated
# (build-emulated/, the CUDA code on the CPU emulator), asan (build-asan/, emulated under ASan + UBSan),
# cpu-only (build-cpu/, no CUDA) or fuzz (build-fuzz/, clang; tools/testing/fuzz.sh). BUILD_DIR overrides the
# preset's directory, BUILD_TYPE its build type; LOGREG_WERROR=ON (CI) makes host warnings errors (the
# default, OFF, is set again each time, so a CI run leaves no -Werror behind); extra arguments go to cmake's
# configure step, e.g.
#   tools/setup/build.sh -DCMAKE_CUDA_ARCHITECTURES=90
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/cuda/bin:$PATH"
preset=${PRESET:-default}
args=(--preset "$preset" -DLOGREG_WERROR="${LOGREG_WERROR:-OFF}")
if [[ -n ${BUILD_DIR:-} ]]; then args+=(-B "$BUILD_DIR"); fi
if [[ -n ${BUILD_TYPE:-} ]]; then args+=(-DCMAKE_BUILD_TYPE="$BUILD_TYPE"); fi
cmake "${args[@]}" "$@" >/dev/null
if [[ -n ${BUILD_DIR:-} ]]; then
  cmake --build "$BUILD_DIR" -j"$(nproc)"
else
  cmake --build --preset "$preset" -j"$(nproc)"
fi
