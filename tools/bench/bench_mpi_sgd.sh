#!/bin/bash
# Time per SGD epoch over MPI ranks (docs/scaling.md, "Which to use when"): the plain cpu backend in one process,
# synchronous SGD and local SGD (--average-every 1) on 1 and 2 ranks, at batch 32 and 1024. Time per epoch =
# 60,000 rows / the printed throughput (training only), best of epochs 2-3 over 3 runs; the load average beside
# each row. Not here: the exchange alone (bench_rank_exchange), full-batch fits (bench_mpi.py).
#
# usage: tools/bench/bench_mpi_sgd.sh build-cpu/logreg_cuda [DATA_DIR]
set -euo pipefail
EXE=${1:?usage: bench_mpi_sgd.sh EXE [DATA_DIR]}
DATA=${2:-/usr/share/datasets/fashion-mnist}
FIT=(train --data "$DATA" --device cpu --epochs 3 --lr 0.01)
best_epoch_s() {  # the command's best epoch-2/3 throughput, as seconds per 60,000 rows
  local best
  best=$(for _ in 1 2 3; do "$@" 2>/dev/null | grep -E '^Epoch: [23]\.' | sed 's/.*Throughput: \([0-9]*\).*/\1/'; done |
         sort -n | tail -1)
  awk -v b="$best" 'BEGIN { printf "%.3f", 60000 / b }'
}
row() { local what=$1; shift; echo "| $what | $(best_epoch_s "$@") | $(cut -d' ' -f1 /proc/loadavg) |"; }
echo "| mode | s per epoch | load average |"
echo "| --- | ---: | ---: |"
for b in 32 1024; do
  row "plain run, cpu backend, batch $b" "$EXE" "${FIT[@]}" --batch-size "$b"
  for n in 1 2; do
    row "synchronous, $n rank(s), batch $b" mpirun --bind-to core -np "$n" "$EXE" "${FIT[@]}" --batch-size "$b"
    row "local SGD K = 1, $n rank(s), batch $b" mpirun --bind-to core -np "$n" "$EXE" "${FIT[@]}" --batch-size "$b" \
      --average-every 1
  done
done
