#!/usr/bin/env bash
# tools/testing/mutate.sh: a small mutation check. Plants single-line bugs, one at a time, in a copy of the committed
# sources (build-mutate/src, refreshed from HEAD on every run; the working tree is never touched), rebuilds
# only what each one changes in its own CPU-only build (build-mutate/build, -DLOGREG_CUDA=off), runs the CPU
# tests that should catch it, and prints mutant -> caught / survived with the score. Exit status 1 when any
# mutant survives (or no longer applies or does not build). A mutant that makes its tests hang past
# PER_MUTANT_TIMEOUT counts as caught (ctest's timeout would fail the suite too).
#
#   tools/testing/mutate.sh                 # every mutant, on HEAD
#   tools/testing/mutate.sh early-stop      # only the mutants whose name contains "early-stop"
#   WORKTREE=1 tools/testing/mutate.sh      # on the working tree's tracked files, uncommitted changes included
#   BUILD_DIR=/tmp/m tools/testing/mutate.sh
#
# A mutant is: name | file | the exact text it replaces (must occur once) | the replacement | gtest filter.
# Texts are matched literally (no regular expressions); "\n" is not used: every mutant is one line.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${BUILD_DIR:-$ROOT/build-mutate}"
SRC="$OUT/src"
BUILD="$OUT/build"
ONLY="${1:-}"
PER_MUTANT_TIMEOUT="${PER_MUTANT_TIMEOUT:-120}"

MUTANTS=(
  # data: readers, files, locks
  "max-bytes-gunzip-boundary|src/data/idx.cpp|if (result.size() + produced > max_bytes)|if (result.size() + produced >= max_bytes)|Idx*"
  "gzip-bomb-header-unchecked|src/data/idx.cpp|if (!complete \|\| promised_file_bytes(head) != decoded) return false;|if (!complete) return false;|IdxPeakMemory.*"
  "model-file-zero-dimension|src/data/model_file.cpp|if (h.rows == 0 \|\| h.cols == 0 \|\| h.dim >|if (h.rows == 0 \|\| h.dim >|ModelFile.*"
  "model-file-length-unchecked|src/data/model_file.cpp|if (file_bytes > most_bytes) {|if (false) {|CliEvalPredict.*:ModelFile.*"
  "model-file-crc-unchecked|src/data/model_file.cpp|if (stored_crc != actual_crc) {|if (false) {|ModelFile.*:CliEvalPredict.*"
  "output-lock-not-taken|src/data/checked_files.cpp|if (::flock(fd, LOCK_EX \| LOCK_NB) != 0) {|if (false) {|OutputFiles.*"
  "safetensors-depth-unbounded|src/export/safetensors_file.cpp|if (++depth > kSafetensorsMaxDepth) {|if (++depth > kSafetensorsMaxDepth + 1000000) {|SafetensorsReader.*"
  "safetensors-overlap-accepted|src/export/safetensors_file.cpp|if (e->begin != covered) {|if (e->begin > covered) {|SafetensorsReader.*"
  "safetensors-trailing-accepted|src/export/safetensors_file.cpp|if (covered != data_bytes) {|if (covered > data_bytes) {|SafetensorsReader.*"
  "safetensors-offsets-past-end|src/export/safetensors_file.cpp|if (e.begin > e.end \|\| e.end > data_bytes) {|if (e.begin > e.end) {|SafetensorsReader.*"
  "npz-any-head|src/export/npz_export.cpp|if (mf.model.head != LossHead::kSoftmax) {|if (false) {|CliExport.*"
  # maths
  "nesterov-formula|include/logreg/maths/sgd_math.hpp|g = nesterov ? g + momentum * v : v;|g = nesterov ? g + v : v;|Oracle.*:Optimizer.*:CpuBackends.*"
  "weight-decay-formula|include/logreg/maths/sgd_math.hpp|T g = grad + decay * static_cast<T>(w);|T g = grad + T(2) * decay * static_cast<T>(w);|Oracle.*:Optimizer.*:CpuBackends.*"
  "sigmoid-softmax-derivative|include/logreg/maths/row_math.hpp|g *= a * (T(1) - a);  // da/dz|g *= (T(1) - a);  // da/dz|Oracle.*:*RowMath*"
  "argmax-ties-last|include/logreg/maths/row_math.hpp|if (z[c] > z[best]) best = c;|if (z[c] >= z[best]) best = c;|*RowMath*:Evaluation*:LogitRows*:BoundedPredictions*"
  "l2-strength|include/logreg/maths/objective_math.hpp|return C == INFINITY ? 0.0 : 1.0 / (C * n);|return C == INFINITY ? 0.0 : 0.5 / (C * n);|ObjectiveMath*:FullBatchObjective*:*FusedObjective*:LbfgsCli*"
  "hessian-row-term|include/logreg/maths/objective_math.hpp|for (int c = 0; c < C; ++c) r[c] = scale * p[c] * (u[c] - pu);|for (int c = 0; c < C; ++c) r[c] = scale * p[c] * u[c];|NewtonCg*:*HessianVector*"
  # CPU backend
  "label-check-boundary|src/train/backend.cpp|if (labels.labels[i] >= m.num_classes) {|if (labels.labels[i] > m.num_classes) {|CpuBackends.*"
  "thread-team-claims-past-the-end|src/cpu/thread_team.cpp|\|\| next >= parts) return ran;|\|\| next > parts) return ran;|ThreadTeam.*"
  "simd-auto-not-widest|src/cpu/simd_kernels.cpp|return support.avx512 ? CpuSimd::kAvx512 : support.avx2|return support.avx2 ? CpuSimd::kAvx2 : support.avx512|CpuFast.*"
  "objective-part-order|src/cpu/full_batch_objective.cpp|for (std::size_t p = 1; p < np; ++p) sum += g_[p * padded + c * Dp + d];|for (std::size_t p = 2; p < np; ++p) sum += g_[p * padded + c * Dp + d];|FullBatchObjective*:*FusedObjective*"
  "objective-pixel-scale|src/cpu/full_batch_objective.cpp|o[d] = sum / 255.0;|o[d] = sum / 256.0;|FullBatchObjective*:*FusedObjective*"
  "bounded-argmax-no-margin|src/cpu/bounded_predictions.cpp|const double e = bound[k] + bound[j];|const double e = 0.0;|BoundedPredictions*:Evaluation*"
  # SGD run loop
  "shuffle-fisher-yates|src/train/rng.cpp|static_cast<std::uint32_t>(rng.below(i));|static_cast<std::uint32_t>(rng.below(i - 1));|KnownAnswers.*:EpochOrder.*:Rng.*"
  "same-order-every-epoch|src/train/training.cpp|epoch_order(cfg.seed, epoch - 1, n)|epoch_order(cfg.seed, 0, n)|Training.*"
  "early-stop-patience|src/train/training.cpp|epoch - best_epoch >= cfg.early_stop|epoch - best_epoch > cfg.early_stop|Training.*"
  "early-stop-state-not-reported|src/train/training.cpp|report.best_val_loss = best_val;|report.best_val_loss = INFINITY;|ResumeAndData.*:TrainOutputs.*:Training.*"
  "divergence-boundary|src/train/training.cpp|if (chunk_loss > kDivergedLossFactor * uniform_loss)|if (chunk_loss >= kDivergedLossFactor * uniform_loss)|Training.*"
  "resumed-epoch-count|src/train/training.cpp|outcome.last_epoch = cfg.first_epoch - 1;|outcome.last_epoch = 0;|Training.*"
  "progress-changes-chunks|src/train/training.cpp|std::max(hooks.chunks_per_epoch, 1)|std::max(hooks.chunks_per_epoch, hooks.on_progress ? 50 : 1)|Training.*"
  "metrics-csv-columns|src/train/metrics_log.cpp|r.train.last_batch_loss, r.test.mean_loss(), r.test.accuracy_percent(), r.seconds,|r.train.last_batch_loss, r.test.accuracy_percent(), r.test.mean_loss(), r.seconds,|MetricsLog.*:TrainOutputs.*"
  "auto-picks-the-emulator|src/train/backend_factory.cpp|} else if (probe.emulated) {|} else if (false) {|ResolveDevice.*:Factory.*"
  # solvers and the regularisation path
  "lbfgs-best-c-not-kept|src/train/lbfgs_run.cpp|out.best_c = C;|out.best_c = config.cs.front();|LbfgsCli*:Lbfgs*:OptionsApply*"
  "lbfgs-refit-drops-a-row|src/train/lbfgs_run.cpp|rows.resize(all_rows);|rows.resize(all_rows - 1);|LbfgsCli*:Lbfgs*:OptionsApply*"
  "lbfgs-eval-every-off-by-one|src/train/lbfgs_run.cpp|it.iteration % config.eval_every == 0|it.iteration % config.eval_every == 1|LbfgsCli*:Lbfgs*"
  "newton-accepts-any-step|src/train/newton_cg_solver.cpp|if (actual > kEta0 * predicted) {  // accepted|if (true) {  // accepted|NewtonCg*"
  "path-interrupt-record|src/cli/cmd_train_lbfgs.cpp|{\"stopped_in\", \"regularisation path\"},|{\"stopped_in\", \"final fit\"},|TrainInterrupt.*"
  # CLI and resume
  "oom-exit-code|src/cli/main.cpp|    rc = static_cast<int>(ExitCode::kDevice);|    rc = static_cast<int>(ExitCode::kFailure);|CliData.*:Cli.*"
  "float-options-unchecked|src/cli/run_settings.cpp|f.check = [=](const RunSettings& o) { check_real_option(flag, o.*m, range); };|f.check = [=](const RunSettings&) {};|OptionValues*:ResumeAndData*:Cli*"
  "solver-flags-not-refused|src/cli/run_settings.cpp|if (f.flag != nullptr && f.scope == other && o.is_given(f.flag)) {|if (false) {|OptionsApply*:LbfgsCli*:NewtonCg*"
  "resume-restores-nothing|src/cli/run_settings.cpp|if (f.restore && std::string(f.flag) != \"--lr-schedule\") f.restore(o, saved, path);|if (false) f.restore(o, saved, path);|ResumeAndData.*:TrainOutputs.*"
)

log() { printf '%s\n' "$*" >&2; }

# 1. The copy: HEAD (or the working tree's tracked files), unpacked aside and copied over build-mutate/src
# file by file where it differs, so that the files that changed get a new time and are rebuilt.
mkdir -p "$SRC"
rm -rf "$OUT/incoming" && mkdir -p "$OUT/incoming"
if [[ -n "${WORKTREE:-}" ]]; then
  (cd "$ROOT" && git ls-files -z --cached | tar --null -T - -cf -) | tar -xf - -C "$OUT/incoming"
else
  (cd "$ROOT" && git archive HEAD) | tar -xf - -C "$OUT/incoming"
fi
python3 - "$OUT/incoming" "$SRC" <<'PY'
import filecmp, os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
for d, _, files in os.walk(src):
    for f in files:
        a = os.path.join(d, f)
        b = os.path.join(dst, os.path.relpath(a, src))
        if not os.path.exists(b) or not filecmp.cmp(a, b, shallow=False):
            os.makedirs(os.path.dirname(b), exist_ok=True)
            shutil.copyfile(a, b)
            shutil.copymode(a, b)
PY

# Whatever happens, every planted file goes back to its pristine copy.
PLANTED=""
restore() {
  if [[ -n "$PLANTED" && -f "$PLANTED.pristine" ]]; then
    mv -f "$PLANTED.pristine" "$PLANTED"
    touch "$PLANTED"  # newer than the mutant's objects, so that the next build compiles it again
  fi
  PLANTED=""
}
trap restore EXIT
trap 'restore; exit 130' INT TERM

# 2. The build, CPU only; then the unmutated suite must pass every filter, or the check means nothing.
if [[ ! -f "$BUILD/build.ninja" ]]; then
  log "mutate: configuring $BUILD (LOGREG_CUDA=off)"
  cmake -S "$SRC" -B "$BUILD" -G Ninja -DLOGREG_CUDA=off -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$OUT/configure.log" 2>&1 ||
    { log "mutate: configure failed, see $OUT/configure.log"; exit 2; }
fi
build() { cmake --build "$BUILD" --target logreg_cpu_tests -j"$(nproc)" >"$OUT/build.log" 2>&1; }
TESTS="$BUILD/tests/logreg_cpu_tests"
log "mutate: building the unmutated sources"
build || { log "mutate: the unmutated build failed, see $OUT/build.log"; exit 2; }
for m in "${MUTANTS[@]}"; do
  IFS='|' read -r name _ _ _ filter <<<"$(printf '%s' "$m" | sed 's/\\|/\x01/g')"
  if [[ -n "$ONLY" && "$name" != *"$ONLY"* ]]; then continue; fi
  if ! "$TESTS" --gtest_filter="$filter" --gtest_brief=1 >"$OUT/baseline.log" 2>&1; then
    log "mutate: the unmutated suite fails its filter $filter (mutant $name), see $OUT/baseline.log"
    exit 2
  fi
done

# 3. One mutant at a time: plant, rebuild, test, restore.
caught=0
total=0
results=()
for m in "${MUTANTS[@]}"; do
  # "\|" in a field is a literal "|": hide it while splitting.
  IFS='|' read -r name file old new filter <<<"$(printf '%s' "$m" | sed 's/\\|/\x01/g')"
  old="${old//$'\x01'/|}"
  new="${new//$'\x01'/|}"
  if [[ -n "$ONLY" && "$name" != *"$ONLY"* ]]; then continue; fi
  total=$((total + 1))
  target="$SRC/$file"
  count=$(python3 -c 'import sys; print(open(sys.argv[1]).read().count(sys.argv[2]))' "$target" "$old")
  if [[ "$count" != 1 ]]; then
    results+=("$(printf '%-34s %-34s %s' "$name" "$file" "NO LONGER APPLIES ($count matches)")")
    continue
  fi
  cp "$target" "$target.pristine"
  PLANTED="$target"
  python3 -c 'import sys; p, o, n = sys.argv[1:]; s = open(p).read(); open(p, "w").write(s.replace(o, n, 1))' \
    "$target" "$old" "$new"
  verdict=""
  if ! build; then
    verdict="DOES NOT BUILD (see $OUT/build.log)"
  else
    rc=0
    timeout "$PER_MUTANT_TIMEOUT" "$TESTS" --gtest_filter="$filter" --gtest_brief=1 >"$OUT/$name.log" 2>&1 || rc=$?
    if [[ "$rc" == 0 ]]; then
      verdict="SURVIVED ($filter)"
    else
      verdict="caught"
      [[ "$rc" == 124 ]] && verdict="caught (tests hung, killed after ${PER_MUTANT_TIMEOUT} s)"
      [[ "$rc" == 124 ]] || verdict="caught by $(grep -m1 -oE '^\[  FAILED  \] [A-Za-z0-9_./]+' "$OUT/$name.log" | cut -c14-)"
      caught=$((caught + 1))
    fi
  fi
  restore
  results+=("$(printf '%-34s %-34s %s' "$name" "$file" "$verdict")")
  log "mutate: $name: $verdict"
done
build || log "mutate: rebuilding the restored sources failed, see $OUT/build.log"

printf '\n%-34s %-34s %s\n' "mutant" "file" "result"
printf '%s\n' "${results[@]}"
printf '\nscore: %d of %d mutants caught\n' "$caught" "$total"
[[ "$caught" == "$total" ]]
