#!/usr/bin/env bash
# A split permutation run through jobs/submit.sh permutations: an array of 3 chunk
# tasks (jobs/permutations.sbatch) and the merge job (jobs/merge.sbatch) that waits
# for them (afterok). The merged wsc.csv and probes.csv must equal, byte for byte,
# those of the same config run directly in one piece.
# On a cluster of 2 or more nodes (slurm_nodes_permutations_job: cluster/start.sh
# --nodes 2) every job runs 2 ranks, one per node (lib.sh spread_jobs): each array
# task and the merge must have run on both nodes (NodeList n[1-2], 2 ranks reading
# the embeddings), the merge's summary.json must record the 2 nodes, and the direct
# run is the same 2-rank layout on one machine.
set -uo pipefail
WSC_TEST_NAME=permutations
# shellcheck source=tests/slurm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

/usr/bin/python3 "$ROOT/tests/slurm/make_model.py" "$WORK/model.h5" --rows 400 --dims 12 || die "make_model.py failed"
write_config "$WORK/analysis.toml" model.h5 split 200 40 $'\n[parallel]\nbatch = 16\n'

spread_jobs
"${DIRECT[@]}" run "$WORK/analysis.toml" -q --set "output.dir=$WORK/direct" "${SET[@]}" || die "the direct run failed"

submit_chain permutations "$WORK/analysis.toml" 3 "$RANKS"
echo "submitted: array $JOB_permutations, merge $JOB_merge ($(elapsed))"
if ! wait_gone "$JOB_merge" 240; then
  squeue
  die "the merge job $JOB_merge is still queued after 240 s"
fi
echo "merge job left the queue ($(elapsed))"

states="$(array_states "$JOB_permutations")"
want="$(printf '%s COMPLETED 0:0\n' 0 1 2)"
if [ "$states" = "$want" ]; then
  ok "array $JOB_permutations: 3 chunk tasks COMPLETED 0:0"
else
  bad "array $JOB_permutations: task states are"$'\n'"$states"
fi
merge_state="$(job_field "$JOB_merge" JobState) $(job_field "$JOB_merge" ExitCode)"
if [ "$merge_state" = "COMPLETED 0:0" ]; then
  ok "merge job $JOB_merge COMPLETED 0:0"
else
  bad "merge job $JOB_merge ended '$merge_state'"
  for f in "$WORK"/wsc-*.out; do show "$f"; done
fi

for i in 0 1 2; do
  if [ -s "$WORK/split/chunks/chunk-$i-of-3.wsc" ]; then ok "chunk $i of 3 written"; else bad "chunk $i of 3 missing"; fi
  if grep -q "^completed chunk $i of 3" "$WORK/wsc-permutations-${JOB_permutations}_$i.out" 2>/dev/null; then
    ok "task $i ran chunk $i/3"
  else
    bad "task $i did not report chunk $i of 3"
    show "$WORK/wsc-permutations-${JOB_permutations}_$i.out"
  fi
done
if [ "$RANKS" -eq 2 ]; then
  on_both_nodes "$JOB_permutations" "array $JOB_permutations"
  on_both_nodes "$JOB_merge" "merge job $JOB_merge"
  for i in 0 1 2; do
    if grep -q '^wsc: reading /embeddings .* over 2 ranks$' "$WORK/wsc-permutations-${JOB_permutations}_$i.out" 2>/dev/null; then
      ok "task $i: wsc ran over 2 ranks"
    else
      bad "task $i: wsc did not say it read over 2 ranks"
    fi
  done
  layout_over_nodes "$WORK/split/summary.json" "$WORK/direct/summary.json" "merge job"
fi
same_file "$WORK/split/wsc.csv" "$WORK/direct/wsc.csv" "merged wsc.csv"
same_file "$WORK/split/probes.csv" "$WORK/direct/probes.csv" "merged probes.csv"
finish
