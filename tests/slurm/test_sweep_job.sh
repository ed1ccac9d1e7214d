#!/usr/bin/env bash
# A sweep through jobs/submit.sh sweep: 4 models (the third one broken: NaN in its
# embeddings), sized by `wsc sweep MANIFEST --list`, one array task each
# (jobs/sweep.sbatch), then `wsc merge --sweep` (jobs/merge.sbatch, afterany).
# The broken model fails only its own task; the merge job summarises the other
# three (and exits 1, naming the broken one); every result equals, byte for byte,
# that of the same sweep run directly.
# On a cluster of 2 or more nodes (slurm_nodes_sweep_job: cluster/start.sh --nodes 2)
# every job runs 2 ranks, one per node (lib.sh spread_jobs): each array task and the
# merge must have run on both nodes, each model's summary.json must record the 2
# nodes, and the direct sweep is the same 2-rank layout on one machine.
set -uo pipefail
WSC_TEST_NAME=sweep
# shellcheck source=tests/slurm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$WSC_EXE" sweep --help >/dev/null 2>&1 || die "this wsc has no 'sweep' command ($WSC_EXE sweep --help fails)"

mkdir -p "$WORK/models"
for i in 0 1 2 3; do
  nan=()
  [ "$i" -eq 2 ] && nan=(--nan)
  /usr/bin/python3 "$ROOT/tests/slurm/make_model.py" "$WORK/models/m$i.h5" --seed "$i" "${nan[@]}" || die "make_model.py failed"
done
write_config "$WORK/analysis.toml" set-by-the-sweep.h5 set-by-the-sweep 100 20
printf 'config = "analysis.toml"\noutput = "%s"\nmodels = ["models/*.h5"]\n' sweep >"$WORK/sweep.toml"
printf 'config = "analysis.toml"\noutput = "%s"\nmodels = ["models/*.h5"]\n' direct >"$WORK/direct.toml"

spread_jobs
"${DIRECT[@]}" sweep "$WORK/direct.toml" -q "${SET[@]}" >"$WORK/direct.out" 2>&1
rc=$?
[ "$rc" -eq 1 ] || { show "$WORK/direct.out"; die "the direct sweep exited $rc, expected 1 (one broken model)"; }
"${DIRECT[@]}" merge --sweep "$WORK/direct.toml" -q "${SET[@]}" >>"$WORK/direct.out" 2>&1
echo "direct sweep and summary done ($(elapsed))"

submit_chain sweep "$WORK/sweep.toml" "$RANKS"
echo "submitted: array $JOB_sweep, merge $JOB_merge ($(elapsed))"
if ! wait_gone "$JOB_merge" 240; then
  squeue
  die "the merge job $JOB_merge is still queued after 240 s"
fi
echo "merge job left the queue ($(elapsed))"

states="$(array_states "$JOB_sweep")"
want="$(printf '0 COMPLETED 0:0\n1 COMPLETED 0:0\n2 FAILED 1:0\n3 COMPLETED 0:0')"
if [ "$states" = "$want" ]; then
  ok "array $JOB_sweep: 4 tasks, the broken model's (2) FAILED 1:0, the others COMPLETED 0:0"
else
  bad "array $JOB_sweep: task states are"$'\n'"$states"
  for f in "$WORK"/wsc-sweep-*.out; do show "$f"; done
fi
merge_state="$(job_field "$JOB_merge" JobState) $(job_field "$JOB_merge" ExitCode)"
if [ "$merge_state" = "FAILED 1:0" ]; then
  ok "merge --sweep job $JOB_merge ran after the failed task and exited 1 (a model has no results)"
else
  bad "merge --sweep job $JOB_merge ended '$merge_state', expected 'FAILED 1:0'"
  show "$WORK/wsc-merge-$JOB_merge.out"
fi
if grep -q 'models_m2.*NaN' "$WORK/wsc-sweep-${JOB_sweep}_2.out" 2>/dev/null; then
  ok "task 2's output names the broken model and the NaN"
else
  bad "task 2's output does not name models_m2 and the NaN"
  show "$WORK/wsc-sweep-${JOB_sweep}_2.out"
fi
if grep -q 'sweep summary of 3 of 4 models' "$WORK/wsc-merge-$JOB_merge.out" 2>/dev/null; then
  ok "the merge job summarised 3 of 4 models"
else
  bad "the merge job did not report 'sweep summary of 3 of 4 models'"
  show "$WORK/wsc-merge-$JOB_merge.out"
fi
if [ -s "$WORK/sweep/failures/models_m2.txt" ]; then ok "failures/models_m2.txt written"; else bad "no failures/models_m2.txt"; fi
if [ "$RANKS" -eq 2 ]; then
  on_both_nodes "$JOB_sweep" "array $JOB_sweep"
  on_both_nodes "$JOB_merge" "merge job $JOB_merge"
  for m in 0 1 3; do
    layout_over_nodes "$WORK/sweep/models_m$m/summary.json" "$WORK/direct/models_m$m/summary.json" "model m$m"
  done
fi
for m in 0 1 3; do
  same_file "$WORK/sweep/models_m$m/wsc.csv" "$WORK/direct/models_m$m/wsc.csv" "model m$m wsc.csv"
done
for f in sweep_models.csv sweep_summary.csv sweep_reference.csv; do
  same_file "$WORK/sweep/$f" "$WORK/direct/$f" "$f"
done
finish
