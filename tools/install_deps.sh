#!/usr/bin/env bash
# Installs the Debian packages logreg_cuda needs to build and test, only those missing (quiet and
# idempotent when all are there), then the export tests' Python venv (.venv/, tools/python_env.sh:
# onnxruntime and safetensors from PyPI). The CUDA toolkit itself must already be at /usr/local/cuda.
set -euo pipefail

packages=(cmake ninja-build g++ pkg-config libgtest-dev zlib1g-dev libpng-dev libcli11-dev
          nlohmann-json3-dev libopenblas-dev dataset-fashion-mnist python3-matplotlib
          liblbfgs-dev  # libLBFGS: the static liblbfgs.a of the L-BFGS solver (train --solver lbfgs)
          libdeflate-dev  # the static libdeflate.a: one-call gunzip of the IDX files (zlib streams the rest)
          clang libclang-rt-14-dev  # clang + libFuzzer runtime: tools/fuzz.sh
          protobuf-compiler libprotobuf-dev libonnx-dev  # export: protoc, static libprotobuf.a, onnx.proto
          python3-venv python3-onnx python3-sklearn python3-numpy python3-torch)  # export tests' clients

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
  echo "install_deps: the CUDA toolkit (nvcc) was not found on PATH or in /usr/local/cuda;" \
       "install CUDA 12 or 13 from NVIDIA, then run this again" >&2
  exit 1
fi

"$(dirname "$0")/python_env.sh"
