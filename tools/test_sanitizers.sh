#!/usr/bin/env bash
# The CPU test suite (ctest label "cpu") under AddressSanitizer + UndefinedBehaviorSanitizer: configures
# build-asan/ with the "asan" preset (LOGREG_SANITIZE=ON; one CUDA architecture, as no GPU code runs),
# builds the CLI and the CPU tests (not the GPU tests) and runs them. Any sanitizer report, leaks
# included, fails the test that triggered it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
export PATH="/usr/local/cuda/bin:$PATH"
cmake --preset asan >/dev/null
cmake --build --preset asan -j"$(nproc)"
# The test preset sets ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:protect_shadow_gap=0 and
# UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1. protect_shadow_gap=0: with a CUDA driver present,
# ASan's reserved shadow gap collides with the driver's address-space reservation and every CUDA call
# fails (google/sanitizers#629); without a driver it changes nothing.
ctest --preset asan -j"$(nproc)" --timeout 900
