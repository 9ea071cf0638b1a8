#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build, then train with the tutorial's
# settings (50 epochs, batch 32, lr 0.001, correct softmax loss) on the default data set.
# Arguments are passed to `logreg_cuda train`, e.g. tools/run.sh --epochs 5 --data data
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/build.sh
exec "${BUILD_DIR:-build}/logreg_cuda" train "$@"
