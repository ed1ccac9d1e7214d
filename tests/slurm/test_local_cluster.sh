#!/usr/bin/env bash
# Smoke test of the local SLURM cluster (cluster/start.sh): batch jobs, exit codes,
# a 2-task srun --mpi=pmix step (task ids and a real MPI_Init with 2 ranks), and
# the job completion log read by 'sacct -c'. Starts the cluster if needed and
# leaves it running (cluster/stop.sh, or ctest's slurm_cluster_stop, stops it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="$PATH:/usr/sbin:/sbin"

fails=0
passes=0
ok() { echo "PASS: $*"; passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
die() { echo "FAIL: $*"; echo "0 passed, 1 failed"; exit 1; }
show() { echo "----- $1 -----"; cat "$1" 2>/dev/null || echo "(missing)"; }

"$ROOT/cluster/start.sh" >/dev/null || die "cluster/start.sh failed"
# shellcheck source=cluster/env.sh
. "$ROOT/cluster/env.sh"
[ -s "$SLURM_CONF" ] || die "no $SLURM_CONF after cluster/start.sh"

WORK="$(mktemp -d /tmp/wsc-slurm-smoke.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
# Open MPI refuses root without these; sbatch passes the environment on to the job.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# submit NAME EXPECTED_RC SBATCH_ARGS...: sbatch --wait; records the job id in JOBID.
submit() {
  local name=$1 want=$2 rc=0 out
  shift 2
  out="$(timeout 120 sbatch --wait --parsable --job-name="$name" --output="$WORK/$name-%j.out" "$@" 2>"$WORK/$name.sbatch.err")" || rc=$?
  JOBID="${out%%;*}"
  if [ "$rc" -eq "$want" ]; then
    ok "$name: sbatch --wait returned $rc (job ${JOBID:-?})"
  else
    bad "$name: sbatch --wait returned $rc, expected $want (job ${JOBID:-?})"
    show "$WORK/$name.sbatch.err"
    show "$WORK/$name-$JOBID.out"
  fi
}

# 1. A trivial job: exit 0 and its output.
cat >"$WORK/trivial.sh" <<'EOF'
#!/bin/bash
echo "smoke-ok job=$SLURM_JOB_ID node=$SLURMD_NODENAME"
EOF
submit wsc-smoke-trivial 0 "$WORK/trivial.sh"
trivial_id=$JOBID
if grep -q "^smoke-ok job=$trivial_id node=$(hostname -s)\$" "$WORK/wsc-smoke-trivial-$trivial_id.out" 2>/dev/null; then
  ok "trivial job output"
else
  bad "trivial job output"
  show "$WORK/wsc-smoke-trivial-$trivial_id.out"
fi

# 2. A failing job: sbatch --wait passes its exit code on.
submit wsc-smoke-fail 3 --wrap 'exit 3'
fail_id=$JOBID

# 3. Two tasks under srun --mpi=pmix: task ids 0 and 1, and a real MPI program
#    that must see 2 ranks (a broken PMI would give two 1-rank jobs).
command -v mpicc >/dev/null || die "mpicc not found (tools/install-deps.sh installs libopenmpi-dev)"
cat >"$WORK/hello.c" <<'EOF'
#include <mpi.h>
#include <stdio.h>
int main(int argc, char **argv) {
  int rank, size;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int sum = 0;
  MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  printf("mpi rank %d of %d sum %d\n", rank, size, sum);
  MPI_Finalize();
  return 0;
}
EOF
mpicc -o "$WORK/hello" "$WORK/hello.c" || die "mpicc failed"
cat >"$WORK/twotasks.sh" <<EOF
#!/bin/bash
set -euo pipefail
srun --mpi=pmix -n 2 bash -c 'echo "task \$SLURM_PROCID of \$SLURM_NTASKS"'
srun --mpi=pmix -n 2 "$WORK/hello"
EOF
submit wsc-smoke-2tasks 0 --ntasks=2 "$WORK/twotasks.sh"
two_id=$JOBID
out="$WORK/wsc-smoke-2tasks-$two_id.out"
for want in "task 0 of 2" "task 1 of 2" "mpi rank 0 of 2 sum 1" "mpi rank 1 of 2 sum 1"; do
  if grep -qx "$want" "$out" 2>/dev/null; then ok "2-task job printed '$want'"; else bad "2-task job did not print '$want'"; fi
done
if [ "$(wc -l <"$out" 2>/dev/null || echo 0)" -ne 4 ]; then
  bad "2-task job output has $(wc -l <"$out" 2>/dev/null || echo 0) lines, expected 4"
  show "$out"
fi

# 4. The job completion log (jobcomp/filetxt) read by sacct -c.
declare -A want_state=(["$trivial_id"]="COMPLETED 0:0" ["$fail_id"]="FAILED 3:0" ["$two_id"]="COMPLETED 0:0")
for ((i = 0; i < 20; i++)); do
  comp="$(sacct -c -n -P -o jobid,state,exitcode 2>/dev/null || true)"
  missing=0
  for id in "${!want_state[@]}"; do grep -q "^$id|" <<<"$comp" || missing=1; done
  [ "$missing" -eq 0 ] && break
  sleep 0.5
done
for id in "${!want_state[@]}"; do
  got="$(grep "^$id|" <<<"$comp" | tail -n 1 | cut -d'|' -f2,3 | tr '|' ' ')"
  if [ "$got" = "${want_state[$id]}" ]; then
    ok "sacct -c lists job $id as $got"
  else
    bad "sacct -c: job $id is '${got:-absent}', expected '${want_state[$id]}'"
  fi
done

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
