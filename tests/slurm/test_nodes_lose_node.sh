#!/usr/bin/env bash
# Losing a node while jobs/analyse.sbatch runs over the 2 nodes of a local 2-node
# cluster (4 tasks, 2 per node, 2 groups of 2 ranks, one per node), twice in one job:
# 1. the job's ranks on n2 are killed (SIGKILL): srun --kill-on-bad-exit ends the
#    step, the ranks on n1 (waiting for their peers) are killed within KillWait,
#    and analyse.sbatch says a task was lost and requeues the job;
# 2. after it came back, node n2 crashes (cluster/node.sh crash: its slurmd,
#    slurmstepd and tasks killed, nothing on it answers): slurmctld sets n2 DOWN
#    after SlurmdTimeout, ends the job for NODE_FAIL and requeues it; the job waits
#    for 2 nodes until n2 boots again (cluster/node.sh start);
# 3. the third start continues from the last checkpoint and finishes with wsc.csv
#    and probes.csv byte-identical to an uninterrupted run with the same layout.
# Each loss is timed from the kill to the job PENDING with none of its processes
# left: the bound on how long a rank waits for a dead peer (KillWait 30 s after
# the first task dies; SlurmdTimeout 20 s + KillWait for a silent node).
set -uo pipefail
WSC_TEST_NAME=nodes_lose
# shellcheck source=tests/slurm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

nodes="$(sinfo -h -o '%D' | head -n 1)"
[ "$nodes" = 2 ] || die "the cluster in $WSC_CLUSTER_DIR has '$nodes' node(s), expected 2 (cluster/start.sh --nodes 2)"
KILL_WAIT="$(scontrol show config | sed -n 's/^KillWait *= *\([0-9]*\) sec.*/\1/p')"
SLURMD_TIMEOUT="$(scontrol show config | sed -n 's/^SlurmdTimeout *= *\([0-9]*\) sec.*/\1/p')"
[ -n "$KILL_WAIT" ] && [ -n "$SLURMD_TIMEOUT" ] || die "KillWait/SlurmdTimeout not found in scontrol show config"

/usr/bin/python3 "$ROOT/tests/slurm/make_model.py" "$WORK/model.h5" --rows 2000 --dims 32 || die "make_model.py failed"
# About 40 s on 4 ranks of 2 cores; a checkpoint every second.
write_config "$WORK/analysis.toml" model.h5 job 10000 100 $'\n[parallel]\nbatch = 16\ngroups = 2\n\n[checkpoint]\ninterval = 1\n'

id="$(sbatch --parsable --nodes=2 --ntasks=4 --ntasks-per-node=2 \
  --export="ALL,WSC_CONFIG=$WORK/analysis.toml,WSC_EXE=$WSC_EXE" "$ROOT/jobs/analyse.sbatch" 2>"$WORK/sbatch.err")" ||
  { show "$WORK/sbatch.err"; die "sbatch failed"; }
id="${id%%;*}"
JOBS_TO_CANCEL+=("$id")
out="$WORK/wsc-analyse-$id.out"
echo "submitted job $id ($(elapsed))"

# job_pids: processes of job $id (any step, any node), found by SLURM_JOB_ID and this cluster's SLURM_CONF.
job_pids() {
  local d env
  for d in /proc/[0-9]*; do
    env="$(tr '\0' '\n' 2>/dev/null <"$d/environ")" || continue
    if grep -qx "SLURM_JOB_ID=$id" <<<"$env" && grep -qx "SLURM_CONF=$SLURM_CONF" <<<"$env"; then echo "${d#/proc/}"; fi
  done
}
# wsc_pids NODE: the job's wsc ranks on NODE.
wsc_pids() {
  local p
  for p in $(job_pids); do
    if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = wsc ] && tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" | grep -qx "SLURMD_NODENAME=$1"; then echo "$p"; fi
  done
}
# wait_checkpoint_after T START: waits for start START of the job and a checkpoint written after time T (epoch s).
wait_checkpoint_after() {
  local deadline=$((SECONDS + 180))
  until grep -q "^analyse.sbatch: job $id start $2 " "$out" 2>/dev/null && [ -s "$WORK/job/checkpoint.wsc" ] &&
    [ "$(stat -c %Y "$WORK/job/checkpoint.wsc")" -gt "$1" ]; do
    ((SECONDS < deadline)) || { show "$out"; die "no start $2 with a new checkpoint within 180 s"; }
    sleep 0.5
  done
  [ "$(job_field "$id" JobState)" = RUNNING ] || { show "$out"; die "job $id is $(job_field "$id" JobState) in start $2, not RUNNING"; }
}
# wait_requeued RESTARTS LIMIT WHAT: waits until the job is PENDING with RESTARTS restarts
# and none of its processes is left; PASS if within LIMIT seconds of the loss.
wait_requeued() {
  local deadline=$((SECONDS + $2 + 60)) t
  until [ "$(job_field "$id" JobState)" = PENDING ] && [ "$(job_field "$id" Restarts)" = "$1" ] && [ -z "$(job_pids)" ]; do
    ((SECONDS < deadline)) || { show "$out"; die "$3: job $id is $(job_field "$id" JobState) (restarts $(job_field "$id" Restarts), $(job_pids | wc -l) processes left) $(($2 + 60)) s after the loss"; }
    sleep 0.5
  done
  t=$((SECONDS - lost_at))
  if [ "$t" -le "$2" ]; then ok "$3: job $id requeued, none of its processes left, $t s after the loss (bound $2 s)"; else bad "$3: requeued only $t s after the loss (bound $2 s)"; fi
}
# agent_idle: slurmctld has no RPC queued or in flight (sdiag).
agent_idle() {
  local d
  d="$(sdiag 2>/dev/null)" || return 1
  grep -q '^Agent queue size: *0$' <<<"$d" && grep -q '^Agent count: *0$' <<<"$d"
}
# release: lets the requeued job start now instead of after SLURM's ~2 min hold
# (the hold is there because slurmctld retries an RPC to the old start that
# timed out: with the same job and step id, a late one cancels the new start;
# on a loaded machine here it did). So: once both nodes are idle and
# slurmctld's agent has had nothing queued or in flight for 5 s.
release() {
  local deadline=$((SECONDS + 150)) quiet=0
  while :; do
    if [ "$(sinfo -h -N -o '%t' | sort -u | tr -d '\n')" = idle ] && agent_idle; then
      quiet=$((quiet + 1))
    else
      quiet=0
    fi
    ((quiet >= 10)) && break
    ((SECONDS < deadline)) || die "nodes not idle, or slurmctld's agent busy, 150 s after the requeue: $(sinfo -h -N -o '%N=%t' | tr '\n' ' ')"
    sleep 0.5
  done
  scontrol update jobid="$id" starttime=now || die "scontrol update jobid=$id starttime=now failed"
  released_at="$(date +%s)"
}

# 1. Kill the job's ranks on n2 once it has a checkpoint.
wait_checkpoint_after 0 0
victims="$(wsc_pids n2 | tr '\n' ' ')"
[ -n "$victims" ] || die "no wsc rank of job $id on n2"
echo "checkpoint written; SIGKILL to the ranks on n2 (pids $victims) ($(elapsed))"
lost_at=$SECONDS
# shellcheck disable=SC2086 # a list of pids
kill -KILL $victims
wait_requeued 1 $((KILL_WAIT + 30)) "ranks on n2 killed"
if grep -q "^analyse.sbatch: job $id: a task was lost (srun status 1[0-9][0-9]: signal [0-9]*); requeueing it" "$out"; then
  ok "analyse.sbatch said a task was lost and requeued the job"
else
  bad "no 'a task was lost ... requeueing' line in the job output"
  show "$out"
fi

# The uninterrupted reference (same 4 ranks, same 2 x 2 layout) while the job waits.
OMPI_MCA_rmaps_base_oversubscribe=1 "${WSC_MPIEXEC:-mpiexec}" -n 4 "$WSC_EXE" run "$WORK/analysis.toml" -q --set "output.dir=$WORK/direct" \
  --set checkpoint.interval=0 || die "the direct run failed"
echo "direct run done ($(elapsed))"
release

# 2. Crash node n2 in the second start.
wait_checkpoint_after "$released_at" 1
echo "second start running with a new checkpoint; crashing node n2 ($(elapsed))"
lost_at=$SECONDS
bash "$ROOT/cluster/node.sh" crash n2 || die "cluster/node.sh crash n2 failed"
deadline=$((SECONDS + SLURMD_TIMEOUT + 60))
until sinfo -h -n n2 -o '%t' | grep -q '^down'; do
  ((SECONDS < deadline)) || die "n2 is '$(sinfo -h -n n2 -o '%t')' $((SLURMD_TIMEOUT + 60)) s after its crash, not down"
  sleep 0.5
done
ok "slurmctld set n2 down $((SECONDS - lost_at)) s after its crash (SlurmdTimeout $SLURMD_TIMEOUT s)"
wait_requeued 2 $((SLURMD_TIMEOUT + KILL_WAIT + 40)) "node n2 crashed"
if grep -q "CANCELLED AT .* DUE TO NODE FAILURE" "$out"; then
  ok "the job output says it was cancelled due to node failure"
else
  bad "no 'DUE TO NODE FAILURE' in the job output"
  show "$out"
fi
sleep 3
reason="$(job_field "$id" Reason)"
echo "job $id pending while n2 is down (reason $reason)"
bash "$ROOT/cluster/node.sh" start n2 || die "cluster/node.sh start n2 failed"
release

# 3. The third start finishes from the checkpoint.
wait_gone "$id" 300 || { show "$out"; die "job $id still queued 300 s after its release"; }
echo "job $id done ($(elapsed))"
state="$(job_field "$id" JobState) $(job_field "$id" ExitCode) restarts=$(job_field "$id" Restarts)"
if [ "$state" = "COMPLETED 0:0 restarts=2" ]; then ok "job $id $state"; else bad "job $id ended '$state'"; show "$out"; fi
if [ "$(grep -c "^continued from $WORK/job/checkpoint.wsc" "$out")" -ge 1 ] && grep -q "^analyse.sbatch: job $id start 2 " "$out"; then
  ok "the last start continued from the checkpoint"
else
  bad "no 'continued from $WORK/job/checkpoint.wsc' in the third start"
  show "$out"
fi
if compgen -G "$WORK/.wsc-done.*" >/dev/null; then bad "done files left in $WORK"; else ok "no done file left behind"; fi
if /usr/bin/python3 - "$WORK" <<'PY'; then ok "the job ran 4 ranks on 2 nodes in 2 groups of 2, one per node"; else bad "layout differs"; fi
import json, sys
lay = json.load(open(sys.argv[1] + "/job/summary.json"))["layout"]
assert lay["nodes"] == 2 and lay["ranks_per_node"] == [2, 2], lay
assert lay["group_nodes"] == [[0, 0], [1, 1]] and lay["groups_spanning_nodes"] == 0, lay
PY
same_file "$WORK/job/wsc.csv" "$WORK/direct/wsc.csv" "wsc.csv after losing a node twice"
same_file "$WORK/job/probes.csv" "$WORK/direct/probes.csv" "probes.csv after losing a node twice"
finish
