# shellcheck shell=bash
# Helpers for the tests of the jobs/ scripts on the local SLURM cluster (cluster/).
# Source it from a test: sets ROOT, starts the cluster if needed, exports
# SLURM_CONF and the Open MPI root variables, makes a work folder $WORK (removed
# on exit unless WSC_KEEP_WORK=1) and cds into it, and sets CLUSTER_NODES (the
# cluster's node count). Needs WSC_EXE; WSC_MPIEXEC is the mpiexec of the MPI wsc
# was built with (default mpiexec), for the direct runs the jobs are compared with.
# Jobs are followed by polling squeue/scontrol once a second (sbatch --wait polls
# after 2, 10 and 42 s, which would make every test slower).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WSC_EXE="${WSC_EXE:?WSC_EXE must name the wsc executable}"
export WSC_EXE
WSC_MPIEXEC="${WSC_MPIEXEC:-mpiexec}"
export PATH="$PATH:/usr/sbin:/sbin"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

fails=0
passes=0
T0=$SECONDS
ok() { echo "PASS: $*"; passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
show() { echo "----- $1 -----"; cat "$1" 2>/dev/null || echo "(missing)"; }
finish() {
  echo "$passes passed, $fails failed ($((SECONDS - T0)) s)"
  [ "$fails" -eq 0 ]
  exit $?
}
die() {
  echo "FAIL: $*"
  fails=$((fails + 1))
  finish
}
elapsed() { echo "$((SECONDS - T0)) s"; }

# write_config FILE EMBEDDINGS OUTPUT_DIR PERMUTATIONS ENCODABILITY [EXTRA_TOML]:
# the analysis the tests run (plane head; scanner and sex probes; grouped
# 3-fold CV; no projection), with EXTRA_TOML appended before [output].
write_config() {
  cat >"$1" <<TOML
[input]
embeddings = "$2"

[primary]
task = "plane"

[[metadata]]
name = "scanner"

[[metadata]]
name = "sex"

[pca]
components = 0

[cv]
folds = 3
groups = "patient"

[permutation]
count = $4
seed = 1

[encodability]
permutations = $5
${6:-}
[output]
dir = "$3"
TOML
}

"$ROOT/cluster/start.sh" >/dev/null || die "cluster/start.sh failed"
# shellcheck source=cluster/env.sh
. "$ROOT/cluster/env.sh"

# One line per node, whatever its state (sinfo's %D counts the nodes of one state).
CLUSTER_NODES="$(sinfo -h -N -o '%N' 2>/dev/null | sort -u | wc -l)"

WORK="$(mktemp -d "/tmp/wsc-slurm-${WSC_TEST_NAME:-test}.XXXXXX")"
JOBS_TO_CANCEL=()
cleanup() {
  if [ "${#JOBS_TO_CANCEL[@]}" -gt 0 ]; then scancel "${JOBS_TO_CANCEL[@]}" 2>/dev/null || true; fi
  if [ "${WSC_KEEP_WORK:-0}" = 1 ]; then echo "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
cd "$WORK" || die "cannot enter $WORK"

# job_field ID FIELD: FIELD (JobState, ExitCode, Reason, Restarts, ...) of job ID
# (the first record: for an array job id, its first task). Empty when unknown.
job_field() {
  scontrol -o show job "$1" 2>/dev/null | head -n 1 | grep -o " $2=[^ ]*" | head -n 1 | cut -d= -f2- || true
}

# array_states ID: one line `<array task id> <state> <exit code>` per task of array job ID.
array_states() {
  scontrol -o show job "$1" 2>/dev/null | while read -r line; do
    echo "$(grep -o ' ArrayTaskId=[^ ]*' <<<"$line" | cut -d= -f2) $(grep -o ' JobState=[^ ]*' <<<"$line" | cut -d= -f2) $(grep -o ' ExitCode=[^ ]*' <<<"$line" | cut -d= -f2)"
  done | sort -n
}

# in_queue ID: is job ID (or a task of array ID) pending, running or completing?
in_queue() { [ -n "$(squeue -h -j "$1" -o %i 2>/dev/null)" ]; }

# wait_gone ID SECONDS: waits until job ID has left the queue; 1 on timeout.
wait_gone() {
  local id=$1 deadline=$((SECONDS + $2))
  while in_queue "$id"; do
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
}

# The job ids submit_chain sets (one per line of jobs/submit.sh's output).
# shellcheck disable=SC2034 # used by the tests
JOB_analyse="" JOB_permutations="" JOB_sweep="" JOB_merge=""

# submit_chain ARGS...: runs jobs/submit.sh ARGS, keeps its output in submit.out and
# sets the variables named by its lines (`permutations 12` -> JOB_permutations=12).
submit_chain() {
  local name id
  "$ROOT/jobs/submit.sh" "$@" >"$WORK/submit.out" 2>"$WORK/submit.err" || {
    show "$WORK/submit.out"
    show "$WORK/submit.err"
    die "jobs/submit.sh $* failed"
  }
  while read -r name id; do
    [[ "$name" =~ ^[a-z]+$ && "$id" =~ ^[0-9]+$ ]] || die "jobs/submit.sh printed '$name $id', not '<name> <job id>'"
    printf -v "JOB_$name" '%s' "$id"
    JOBS_TO_CANCEL+=("$id")
  done <"$WORK/submit.out"
}

# same_file A B WHAT: byte comparison, one PASS/FAIL line.
same_file() {
  if cmp -s "$1" "$2"; then
    ok "$3: byte-identical to the direct run"
  else
    bad "$3 differs from the direct run ($1 vs $2)"
    diff "$1" "$2" | head -n 10
  fi
}

# same_as_direct JOB_OUT DIRECT_OUT RANKS: the job's outputs against the same analysis
# run directly: RANKS ranks under srun, p-values identical, cosines within 1e-7 (the
# rank layouts differ, so the fits' arithmetic may). One PASS/FAIL line.
same_as_direct() {
  if /usr/bin/python3 - "$1" "$2" "$3" <<'PY'; then ok "$3 ranks under srun; results equal the direct run"; else bad "results differ from the direct run"; fi
import csv, json, sys
job, direct, ranks = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = json.load(open(job + "/summary.json"))
assert s["ranks"] == ranks, "the job ran %d rank(s), expected %d" % (s["ranks"], ranks)
a = list(csv.DictReader(open(job + "/wsc.csv")))
b = list(csv.DictReader(open(direct + "/wsc.csv")))
assert [r["p_fwer"] for r in a] == [r["p_fwer"] for r in b], "p-values differ from the direct run"
d = max(abs(float(x["cos"]) - float(y["cos"])) for x, y in zip(a, b))
assert d < 1e-7, "cosines differ from the direct run by %g" % d
print("the job ran %d ranks under srun; max |dcos| to the direct run %.1e" % (ranks, d))
PY
}

# spread_jobs: how the job tests run on the cluster. One node: every job and direct
# run is one process (RANKS=1, DIRECT=(wsc), SET=()). Two or more nodes: every job
# of jobs/submit.sh (array tasks and merge) runs 2 ranks, one on each of 2 nodes
# (WSC_SBATCH_ARGS; --exclusive: the jobs take both nodes in turn, so the ranks of
# two jobs never share a core), in one rank group (SET, WSC_SET: the rows sharded
# over both nodes, so every fit is a collective between them); the direct runs are
# the same layout on this one machine (DIRECT=($WSC_MPIEXEC -n 2 wsc) with SET).
# shellcheck disable=SC2034 # used by the tests
spread_jobs() {
  SET=()
  if [ "$CLUSTER_NODES" -ge 2 ]; then
    RANKS=2
    SET=(--set parallel.groups=1)
    DIRECT=("$WSC_MPIEXEC" -n 2 "$WSC_EXE")
    export WSC_SET="${SET[*]}"
    export WSC_SBATCH_ARGS="--nodes=2 --ntasks-per-node=1 --exclusive"
    export WSC_MERGE_SBATCH_ARGS="--ntasks=2"
    echo "$CLUSTER_NODES nodes: every job runs 2 ranks, one per node; direct runs: ${DIRECT[*]}"
  else
    RANKS=1
    DIRECT=("$WSC_EXE")
  fi
}

# on_both_nodes ID WHAT: every task of job (or array) ID ran on both nodes n1 and n2
# (spread_jobs with 2 nodes). One PASS/FAIL line.
on_both_nodes() {
  local lists
  lists="$(scontrol -o show job "$1" 2>/dev/null | grep -o ' NodeList=[^ ]*' | cut -d= -f2 | sort | uniq -c | sed 's/^ *//')"
  if [ -n "$lists" ] && [ "$(cut -d' ' -f2 <<<"$lists" | sort -u)" = "n[1-2]" ]; then
    ok "$2: every task ran on n[1-2] ($(head -n 1 <<<"$lists" | cut -d' ' -f1) task(s))"
  else
    bad "$2: the tasks ran on (count, nodes):"$'\n'"${lists:-(job $1 unknown)}"
  fi
}

# layout_over_nodes JOB_SUMMARY DIRECT_SUMMARY WHAT: the job's summary.json records 2
# ranks on 2 nodes (rank 0 on node 0, rank 1 on node 1, one group spanning them),
# the direct run's the same group layout on one node. One PASS/FAIL line.
layout_over_nodes() {
  local said
  if said="$(/usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
job = json.load(open(sys.argv[1]))
direct = json.load(open(sys.argv[2]))
lay, dlay = job["layout"], direct["layout"]
assert job["ranks"] == 2 and direct["ranks"] == 2, "ranks %r and %r, expected 2" % (job["ranks"], direct["ranks"])
assert lay["nodes"] == 2 and lay["node_of_rank"] == [0, 1], "nodes %r, node_of_rank %r" % (lay["nodes"], lay["node_of_rank"])
assert lay["groups"] == 1 and lay["groups_spanning_nodes"] == 1, "groups %r, spanning %r" % (lay["groups"], lay["groups_spanning_nodes"])
assert dlay["nodes"] == 1 and (dlay["groups"], dlay["ranks_per_group"]) == (lay["groups"], lay["ranks_per_group"]), \
    "direct run: nodes %r, %r x %r" % (dlay["nodes"], dlay["groups"], dlay["ranks_per_group"])
print("node_of_rank %s, group_nodes %s" % (lay["node_of_rank"], lay["group_nodes"]))
PY
)"; then
    ok "$3: summary.json: 2 nodes, $said"
  else
    bad "$3: layout in $1"
  fi
}
