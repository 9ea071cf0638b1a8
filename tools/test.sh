#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing, build, run every test with ctest; then
# every gpu-labelled test again on the emulated device (tools/testing/test_emulated.sh), so the CUDA code runs even
# where no GPU is. On a machine without a usable GPU the first run reports its GPU tests as skipped, with the
# reason; on the emulated device none may skip. Exit status non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup/install_deps.sh
tools/setup/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j"$(nproc)" --timeout 900
tools/testing/test_emulated.sh
