#!/usr/bin/env bash
# Every gpu-labelled test on the emulated device (LOGREG_CUDA=emulated, build-emulated/): the CUDA backend's
# tests, the emulator's own tests and the kernel lab's validation, run on the CPU. None may skip: the test
# preset sets LOGREG_REQUIRE_GPU=1, which turns a skip into a failure, and a "Skipped" line fails this too.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/setup/install_deps.sh
export PATH="/usr/local/cuda/bin:$PATH"
cmake --preset emulated -DLOGREG_WERROR="${LOGREG_WERROR:-OFF}" >/dev/null  # ON in CI (.ci/run)
# Only what the gpu label runs: the CPU tests are the default build's (tools/test.sh) and the asan build's.
cmake --build --preset emulated -j"$(nproc)" --target logreg_cuda logreg_gpu_tests logreg_emulator_tests \
  kernel_lab_fused_step kernel_lab_cluster_epoch
log=$(mktemp)
trap 'rm -f "$log"' EXIT
ctest --preset emulated -j"$(nproc)" --timeout 900 --no-tests=error | tee "$log"
# The CUDA epoch tests again as smaller GPUs without clusters (docs/testing.md): 99 KiB of shared memory per
# block (sm_86/89) and 48 KiB, where the persistent kernel must refuse the shapes it cannot hold and auto must fall back, and
# the L-BFGS objective's kernel keeps its gradient, or its gradient and W, in global memory instead.
for shape in "101376 86" "49152 75"; do
  read -r smem cc <<<"$shape"
  echo "test_emulated: the CUDA epoch tests on an emulated device with $smem B of shared memory, sm_$cc, no clusters"
  LOGREG_EMU_SMEM_PER_BLOCK=$smem LOGREG_EMU_CC=$cc LOGREG_EMU_CLUSTERS=0 ctest --preset emulated -j"$(nproc)" --timeout 900 \
    -R 'CudaPersistent|CudaCluster|CudaEpochs|CudaCli|CudaObjective' --no-tests=error | tee -a "$log"
done
if grep -q "(Skipped)\|\*\*\*Skipped" "$log"; then
  echo "test_emulated: a gpu test was skipped on the emulated device" >&2
  exit 1
fi
