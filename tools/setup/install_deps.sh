#!/usr/bin/env bash
# Installs the Debian packages logreg_cuda needs, only those missing (quiet and idempotent when all are
# there). Two sets:
#   tools/setup/install_deps.sh run    what tools/run.sh needs: the compilers' inputs of the logreg_cuda target,
#                                ccache and the data set (the main job, nothing test-only)
#   tools/setup/install_deps.sh test   (the default) all of it: the run set, the test and fuzz tools, plot_metrics.py's
#                                matplotlib, the export tests' clients and their venv (.venv/, tools/setup/python_env.sh:
#                                onnxruntime and safetensors from PyPI)
# The CUDA toolkit itself must already be at /usr/local/cuda (without it only the cpu-only preset builds).
set -euo pipefail

set_name=${1:-test}
run_packages=(cmake ninja-build g++ pkg-config zlib1g-dev libpng-dev libcli11-dev nlohmann-json3-dev
              liblbfgs-dev    # libLBFGS: the static liblbfgs.a of the L-BFGS solver (train --solver lbfgs)
              libdeflate-dev  # the static libdeflate.a: one-call gunzip of the IDX files (zlib streams the rest)
              protobuf-compiler libprotobuf-dev libonnx-dev  # export: protoc, static libprotobuf.a, onnx.proto
              ccache dataset-fashion-mnist)
test_packages=(libgtest-dev libopenblas-dev python3-matplotlib
               clang libclang-rt-14-dev  # clang + libFuzzer runtime: tools/testing/fuzz.sh
               openmpi-bin libopenmpi-dev  # MPI ranks (LOGREG_MPI=auto builds them when found) and their tests
               python3-venv python3-onnx python3-sklearn python3-numpy python3-torch)  # export tests' clients
case $set_name in
  run) packages=("${run_packages[@]}") ;;
  test) packages=("${run_packages[@]}" "${test_packages[@]}") ;;
  *) echo "install_deps: unknown set '$set_name' (expected run or test)" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install_deps: installing ${missing[*]}" >&2
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq >/dev/null
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v nvcc >/dev/null 2>&1 && [[ ! -x /usr/local/cuda/bin/nvcc ]]; then
  if [[ $set_name == test ]]; then
    echo "install_deps: the CUDA toolkit (nvcc) was not found on PATH or in /usr/local/cuda; the tests build the" \
         "CUDA code (nvcc and the emulated device): install CUDA 12 or 13 from NVIDIA, then run this again" >&2
    exit 1
  fi
  echo "install_deps: no CUDA toolkit (nvcc) on PATH or in /usr/local/cuda: the build is the CPU program alone" >&2
fi

if [[ $set_name == test ]]; then
  "$(dirname "$0")/python_env.sh"
fi
