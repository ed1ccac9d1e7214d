# shellcheck shell=bash
# Helpers for the tests of the jobs/ scripts on the local SLURM cluster (cluster/).
# Source it from a test: sets ROOT, starts the cluster if needed, exports
# SLURM_CONF and the Open MPI root variables, makes a work folder $WORK (removed
# on exit unless WSC_KEEP_WORK=1) and cds into it. Needs WSC_EXE.
# Jobs are followed by polling squeue/scontrol once a second (sbatch --wait polls
# after 2, 10 and 42 s, which would make every test slower).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WSC_EXE="${WSC_EXE:?WSC_EXE must name the wsc executable}"
export WSC_EXE
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
