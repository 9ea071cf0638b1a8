#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing, build, run every test with ctest.
# GPU tests (label "gpu") skip with the reason when no CUDA device is usable. Exit status non-zero on
# any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j"$(nproc)" --timeout 900
