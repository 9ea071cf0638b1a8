#!/usr/bin/env bash
# The main job on a fresh machine: installs what it needs and nothing test-only (tools/setup/install_deps.sh run),
# builds the logreg_cuda target alone, then trains with the tutorial's settings (50 epochs, batch 32, lr 0.001,
# correct softmax loss) on the default data set. Arguments go to `logreg_cuda train`, e.g.
#   tools/run.sh --epochs 5 --data data
# Which build: where nvidia-smi lists a GPU and nvcc is installed, the default preset (build/) for that GPU's
# architecture (CMAKE_CUDA_ARCHITECTURES=native, on the first configure only); elsewhere the CPU program alone
# (the cpu-only preset, build-cpu/), which is what `--device auto` would train on there anyway. PRESET=default
# (or any preset of tools/setup/build.sh) overrides the choice.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/cuda/bin:$PATH"
tools/setup/install_deps.sh run

gpu_visible() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; }
preset=${PRESET:-}
args=()
if [[ -z $preset ]]; then
  if command -v nvcc >/dev/null 2>&1 && gpu_visible; then
    preset=default
    if [[ ! -f build/CMakeCache.txt ]]; then args+=(-DCMAKE_CUDA_ARCHITECTURES=native); fi
  else
    preset=cpu-only
    echo "run: no NVIDIA GPU visible (nvidia-smi), so the CPU program alone is built (build-cpu/)" >&2
  fi
fi
cmake --preset "$preset" -DLOGREG_WERROR="${LOGREG_WERROR:-OFF}" "${args[@]}" >/dev/null
cmake --build --preset "$preset" --target logreg_cuda -j"$(nproc)"
case $preset in
  default) build_dir=build ;;
  cpu-only) build_dir=build-cpu ;;
  *) build_dir=build-$preset ;;  # release, emulated, asan: CMakePresets.json's binaryDir
esac
exec "$build_dir/logreg_cuda" train "$@"
