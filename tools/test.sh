#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing, build, run every test with ctest; then
# every gpu-labelled test again on the emulated device (tools/test_emulated.sh), so the CUDA code runs even
# where no GPU is. On a machine without a usable GPU the first run reports its GPU tests as skipped, with the
# reason; on the emulated device none may skip. Exit status non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j"$(nproc)" --timeout 900
tools/test_emulated.sh
