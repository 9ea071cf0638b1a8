#!/usr/bin/env bash
# A/B of logreg_cuda builds on a noisy machine: runs each binary in turn, ROUNDS times, training EPOCHS
# epochs at batch BATCH on --device cpu (Fashion-MNIST or ./data), and prints per binary the median and the
# fastest per-epoch training time over all rounds, the first epoch of each run left out (warm-up). Only
# binaries compared in one command compare (BENCHMARKS.md's CPU section).
#   usage: tools/bench/ab_epochs.sh ROUNDS BATCH BIN [BIN...]      env: EPOCHS (default 5), EXTRA (more train flags)
set -euo pipefail
if (($# < 3)); then
  echo "usage: tools/bench/ab_epochs.sh ROUNDS BATCH BIN [BIN...]" >&2
  exit 2
fi
rounds=$1 batch=$2
shift 2
epochs=${EPOCHS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for ((r = 0; r < rounds; r++)); do
  for i in $(seq 0 $(($# - 1))); do
    bin=${@:$((i + 1)):1}
    # shellcheck disable=SC2086
    "$bin" train --device cpu --epochs "$epochs" --batch-size "$batch" --metrics "$work/m.csv" ${EXTRA:-} >/dev/null 2>&1 ||
      { echo "ab_epochs: $bin failed" >&2; exit 1; }
    awk -F, 'NR > 2 { print $6 }' "$work/m.csv" >>"$work/bin$i"
  done
done
for i in $(seq 0 $(($# - 1))); do
  sort -n "$work/bin$i" | awk -v b="${@:$((i + 1)):1}" \
    '{ a[NR] = $1 } END { printf "%-40s median %.1f ms  fastest %.1f ms  (%d epochs)\n", b, a[int((NR + 1) / 2)] * 1000, a[1] * 1000, NR }'
done
