#!/usr/bin/env bash
# Requeue of jobs/analyse.sbatch (submitted by jobs/submit.sh analyse, 2 tasks):
# 1. once the run has written its checkpoint, `scontrol requeue` ends it (SIGTERM:
#    wsc saves its state and exits 75; SLURM requeues the job);
# 2. after it came back, USR1 to the batch shell alone (`scancel --signal=USR1
#    --batch`, what --signal=B:USR1@T does before the time limit): the script passes
#    it on to wsc, which saves and exits 75, and the script requeues the job itself;
# 3. the third start continues from the checkpoint and finishes: results equal
#    those of an uninterrupted run with the same 2 ranks, byte for byte; the output
#    (--open-mode=append) holds the three starts and "continued from".
# SLURM holds a requeued job for ~2 min (BeginTime: the old job credential must
# expire); the test runs the uninterrupted reference during the first wait and
# releases the job each time with `scontrol update jobid=... starttime=now`.
set -uo pipefail
WSC_TEST_NAME=requeue
# shellcheck source=tests/slurm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

/usr/bin/python3 "$ROOT/tests/slurm/make_model.py" "$WORK/model.h5" --rows 2000 --dims 32 || die "make_model.py failed"
# About 25-30 s on 2 ranks of 2 cores; a checkpoint every second.
write_config "$WORK/analysis.toml" model.h5 job 10000 100 $'\n[parallel]\nbatch = 16\n\n[checkpoint]\ninterval = 1\n'

submit_chain analyse "$WORK/analysis.toml" 2
id=$JOB_analyse
out="$WORK/wsc-analyse-$id.out"
echo "submitted analyse job $id ($(elapsed))"

# 1. Wait for the first checkpoint, then requeue the running job.
deadline=$((SECONDS + 120))
until [ -s "$WORK/job/checkpoint.wsc" ]; do
  in_queue "$id" || { show "$out"; die "job $id ended before writing a checkpoint"; }
  ((SECONDS < deadline)) || { show "$out"; die "no checkpoint after 120 s"; }
  sleep 0.5
done
[ "$(job_field "$id" JobState)" = RUNNING ] || die "job $id is $(job_field "$id" JobState), not RUNNING, with a checkpoint"
echo "checkpoint written; requeueing job $id ($(elapsed))"
scontrol requeue "$id" || die "scontrol requeue $id failed"
requeued_at=$SECONDS

deadline=$((SECONDS + 90))
until [ "$(job_field "$id" JobState)" = PENDING ]; do
  ((SECONDS < deadline)) || { show "$out"; die "job $id is $(job_field "$id" JobState) 90 s after the requeue, not PENDING"; }
  sleep 0.5
done
ok "job $id PENDING after scontrol requeue (reason $(job_field "$id" Reason), $((SECONDS - requeued_at)) s)"
if grep -q '^wsc: stopped by signal 15; state saved' "$out"; then
  ok "wsc saved its state on SIGTERM"
else
  bad "no 'stopped by signal 15; state saved' in the job output"
  show "$out"
fi
if grep -q 'SLURM is ending this job, not requeueing it here' "$out"; then
  ok "analyse.sbatch saw status 75 with SIGTERM and left the requeue to SLURM"
else
  bad "analyse.sbatch did not report status 75 after SIGTERM"
fi

# 2. The uninterrupted reference with the same 2 ranks (same rank layout), while the job waits.
"$WSC_MPIEXEC" -n 2 "$WSC_EXE" run "$WORK/analysis.toml" -q --set "output.dir=$WORK/direct" --set checkpoint.interval=0 ||
  die "the direct run failed"
echo "direct run done ($(elapsed))"

# release: lets the requeued job start now instead of after ~2 min. Not in the same
# second as the requeue: slurmd then refuses the launch ("Job credential revoked")
# and the job ends FAILED.
release() {
  while ((SECONDS - requeued_at < 3)); do sleep 0.5; done
  if [ "$(job_field "$id" JobState)" = PENDING ]; then
    scontrol update jobid="$id" starttime=now || die "scontrol update jobid=$id starttime=now failed"
  fi
}
release

# 3. Wait for the second start and its first checkpoint, then USR1 to the batch shell.
deadline=$((SECONDS + 120))
until grep -q "^analyse.sbatch: job $id start 1 " "$out" 2>/dev/null; do
  ((SECONDS < deadline)) || { show "$out"; die "job $id did not start again within 120 s of its release"; }
  sleep 0.5
done
sleep 2.5
[ "$(job_field "$id" JobState)" = RUNNING ] || { show "$out"; die "job $id is $(job_field "$id" JobState) in its second start, not RUNNING"; }
echo "second start running; USR1 to its batch shell ($(elapsed))"
scancel --signal=USR1 --batch "$id" || die "scancel --signal=USR1 --batch $id failed"
requeued_at=$SECONDS
deadline=$((SECONDS + 90))
until [ "$(job_field "$id" Restarts)" = 2 ] && [ "$(job_field "$id" JobState)" = PENDING ]; do
  ((SECONDS < deadline)) || { show "$out"; die "job $id is $(job_field "$id" JobState) (restarts $(job_field "$id" Restarts)) 90 s after USR1, not PENDING after a second requeue"; }
  sleep 0.5
done
ok "job $id requeued itself after USR1 ($((SECONDS - requeued_at)) s)"
for want in '^analyse.sbatch: USR1 at ' '^wsc: stopped by signal 10; state saved' \
  "^analyse.sbatch: wsc saved its state (status 75); requeueing job $id to continue"; do
  if grep -q "$want" "$out"; then ok "output: $want"; else bad "no '$want' in the output"; fi
done
release

wait_gone "$id" 240 || { show "$out"; die "job $id still queued 240 s after its release"; }
echo "job $id done ($(elapsed))"

state="$(job_field "$id" JobState) $(job_field "$id" ExitCode) restarts=$(job_field "$id" Restarts)"
if [ "$state" = "COMPLETED 0:0 restarts=2" ]; then ok "job $id $state"; else bad "job $id ended '$state'"; fi
if grep -q "^analyse.sbatch: job $id start 0 " "$out" && grep -q "^analyse.sbatch: job $id start 2 " "$out"; then
  ok "the output (--open-mode=append) holds all three starts"
else
  bad "the output does not hold starts 0 to 2"
fi
if grep -q "^continued from $WORK/job/checkpoint.wsc" "$out"; then
  ok "the last start continued from the checkpoint"
else
  bad "no 'continued from $WORK/job/checkpoint.wsc' in the job output"
  show "$out"
fi
if /usr/bin/python3 - "$WORK" <<'PY'; then ok "the job ran 2 ranks, like the reference"; else bad "rank count or layout differs from the reference"; fi
import json, sys
w = sys.argv[1]
a = json.load(open(w + "/job/summary.json"))
b = json.load(open(w + "/direct/summary.json"))
assert a["ranks"] == 2 == b["ranks"], (a["ranks"], b["ranks"])
assert a["layout"]["groups"] == b["layout"]["groups"], (a["layout"], b["layout"])
PY
same_file "$WORK/job/wsc.csv" "$WORK/direct/wsc.csv" "wsc.csv after the requeue"
same_file "$WORK/job/probes.csv" "$WORK/direct/probes.csv" "probes.csv after the requeue"
finish
