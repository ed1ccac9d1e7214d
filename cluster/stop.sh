#!/usr/bin/env bash
# Stops the local SLURM cluster of cluster/start.sh: cancels its remaining jobs,
# then stops every node's slurmd (run/slurmd.pid, or run/slurmd-<node>.pid of a
# --nodes N cluster) and slurmctld by their pid files, and munged only if
# start.sh started it (marker file). Waits for each to exit. Idempotent.
# The state folder (${WSC_CLUSTER_DIR:-/tmp/wsc-cluster}) with logs, job state and
# the jobcomp file is kept; remove it by hand for a clean slate.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=cluster/env.sh
. "$HERE/env.sh"
export PATH="$PATH:/usr/sbin:/sbin"

STATE="$WSC_CLUSTER_DIR"
RUN="$STATE/run"
CTLD_PID="$RUN/slurmctld.pid"
SLURMD_PID="$RUN/slurmd.pid"
MUNGE_MARKER="$RUN/munged.started-by-wsc"
JOB_WAIT="${WSC_CLUSTER_JOB_WAIT:-45}"

say() { echo "cluster/stop: $*" >&2; }
die() { echo "cluster/stop: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (the daemons belong to root, slurm and munge)"

# alive PID: the process exists and is not a zombie waiting to be reaped.
alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }

# pid_of FILE NAME: prints the pid recorded in FILE if that process is alive and is NAME.
pid_of() {
  local pid
  [ -r "$1" ] || return 1
  pid="$(tr -dc '0-9' <"$1")"
  [ -n "$pid" ] && alive "$pid" || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
  echo "$pid"
}

# stop_pid PID NAME: SIGTERM, wait up to 30 s, then SIGKILL.
stop_pid() {
  local pid=$1 name=$2 i
  say "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    alive "$pid" || { say "$name stopped"; return 0; }
    sleep 0.1
  done
  say "$name (pid $pid) still running 30 s after SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  die "$name (pid $pid) survived SIGKILL"
}

ctld_pid="$(pid_of "$CTLD_PID" slurmctld || true)"

# Jobs still in the queue would leave their processes (slurmstepd) behind: cancel them.
if [ -n "$ctld_pid" ] && [ -s "$SLURM_CONF" ]; then
  mapfile -t jobs < <(squeue -h -o '%i' 2>/dev/null || true)
  if [ "${#jobs[@]}" -gt 0 ]; then
    say "cancelling the jobs still queued or running: ${jobs[*]}"
    scancel --full "${jobs[@]}" 2>/dev/null || true
    deadline=$((SECONDS + JOB_WAIT))
    while ((SECONDS < deadline)); do
      [ -z "$(squeue -h -t PD,R,CG,S,CF,RQ,RS -o '%i' 2>/dev/null)" ] && break
      sleep 0.5
    done
    left="$(squeue -h -o '%i %T' 2>/dev/null | tr '\n' ';' || true)"
    [ -z "$left" ] || say "jobs left after ${JOB_WAIT}s: $left (stopping the daemons anyway)"
  fi
fi

stopped=0
for f in "$SLURMD_PID" "$RUN"/slurmd-*.pid; do
  [ -e "$f" ] || continue
  if slurmd_pid="$(pid_of "$f" slurmd)"; then
    stop_pid "$slurmd_pid" "slurmd ($(basename "$f" .pid))"
    stopped=$((stopped + 1))
  fi
  rm -f "$f"
done
((stopped > 0)) || say "slurmd not running"
rm -f "$RUN/nodes"
if [ -n "$ctld_pid" ]; then stop_pid "$ctld_pid" slurmctld; else say "slurmctld not running"; fi
rm -f "$CTLD_PID"

if [ -f "$MUNGE_MARKER" ]; then
  munge_pid="$(tr -dc '0-9' <"$MUNGE_MARKER")"
  if [ -n "$munge_pid" ] && alive "$munge_pid" && [ "$(cat "/proc/$munge_pid/comm" 2>/dev/null)" = munged ]; then
    stop_pid "$munge_pid" munged
  else
    say "munged (started by cluster/start.sh) already gone"
  fi
  rm -f "$MUNGE_MARKER"
else
  say "leaving munged alone (cluster/start.sh did not start it)"
fi
say "cluster stopped (state and logs kept in $STATE)"
