#!/usr/bin/env bash
# Prepares what a rare GPU lease needs, on a machine WITHOUT a GPU: builds logreg_cuda, the gpu test
# executable and the kernel lab for one architecture (default sm_90: H100/H200) in build-gpu/, and copies
# them, stripped of debug info, with the data set into .gpu/ (ignored by git): about 40 MiB, under the
# device tool's 64 MiB carry limit. Then, from the device tool, in one call:
#   run(command='DATA=.gpu/data tools/gpu_run.sh "$OUT" .gpu', carry=[".gpu"], timeout_s=360)
# tools/gpu_run.sh stays under GPU_RUN_BUDGET seconds (default 540; about 190 s on an H200).
#
# usage: tools/gpu_prepare.sh [ARCH]     (ARCH default 90; env DATA: the IDX set to carry, default Fashion-MNIST)
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
arch="${1:-90}"
data="${DATA:-/usr/share/datasets/fashion-mnist}"
export PATH="/usr/local/cuda/bin:$PATH"

# LOGREG_MPI=off: the GPU machine has no Open MPI to load (and a single GPU run needs no ranks).
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CUDA_ARCHITECTURES="$arch" -DLOGREG_MPI=off \
  >/dev/null
cmake --build build-gpu --target logreg_cuda logreg_gpu_tests kernel_lab_fused_step kernel_lab_cluster_epoch -j"$(nproc)"

rm -rf .gpu
mkdir -p .gpu/tests .gpu/data
cp build-gpu/logreg_cuda build-gpu/liblogreg_cuda_module.so build-gpu/kernel_lab_fused_step build-gpu/kernel_lab_cluster_epoch .gpu/
cp build-gpu/tests/logreg_gpu_tests .gpu/tests/
strip --strip-debug .gpu/logreg_cuda .gpu/liblogreg_cuda_module.so .gpu/kernel_lab_fused_step .gpu/kernel_lab_cluster_epoch \
  .gpu/tests/logreg_gpu_tests
found=0
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  for candidate in "$data/$f.gz" "$data/$f"; do
    if [[ -f "$candidate" ]]; then
      cp "$candidate" .gpu/data/
      found=$((found + 1))
      break
    fi
  done
done
if ((found != 4)); then
  echo "gpu_prepare.sh: $data does not hold the four IDX files (found $found)" >&2
  exit 1
fi
du -sh .gpu
echo "gpu_prepare.sh: ready; carry .gpu and run: DATA=.gpu/data tools/gpu_run.sh \"\$OUT\" .gpu"
