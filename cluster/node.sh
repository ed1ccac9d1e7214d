#!/usr/bin/env bash
# One node of the multi-node cluster on this machine (cluster/start.sh --nodes N),
# for failure drills:
#   cluster/node.sh crash NODE   what a node failure looks like to the rest of the
#                                cluster: SIGKILL to the node's slurmd, its
#                                slurmstepd processes and every process of a job
#                                step on it (found by SLURMD_NODENAME and this
#                                cluster's SLURM_CONF), so nothing on it answers;
#                                slurmctld sets it DOWN after SlurmdTimeout.
#   cluster/node.sh start NODE   boots it again: clears its TmpFS (a reboot would)
#                                and the PMIx sockets of its killed steps in its
#                                spool (the requeued job's step, same job and step
#                                id, fails to launch on the node while they are
#                                there), starts its slurmd and waits until the
#                                node is idle.
# Environment: WSC_CLUSTER_DIR (the cluster's state folder, as for start.sh),
# WSC_CLUSTER_TIMEOUT (seconds to wait for the node, default 60).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=cluster/env.sh
. "$HERE/env.sh"
export PATH="$PATH:/usr/sbin:/sbin"
ME=cluster/node
die() { echo "$ME: ERROR: $*" >&2; exit 1; }
say() { echo "$ME: $*" >&2; }

[ $# -eq 2 ] || die "usage: cluster/node.sh crash|start NODE"
action=$1 node=$2
STATE="$WSC_CLUSTER_DIR"
CONF="$SLURM_CONF"
[ -s "$CONF" ] || die "no cluster in $STATE (no $CONF): start one with cluster/start.sh --nodes N"
grep -q "^NodeName=$node " "$CONF" || die "$CONF has no node '$node' (a multi-node cluster names its nodes n1..nN)"
grep -q '^TmpFS=.*%n' "$CONF" || die "$CONF is a single-node cluster: node drills need cluster/start.sh --nodes N"
pidfile="$STATE/run/slurmd-$node.pid"
log="$STATE/log/slurmd-$node.log"
TIMEOUT="${WSC_CLUSTER_TIMEOUT:-60}"

# The node's slurmstepd processes: the ones writing to its log.
stepds() {
  local p fd
  for p in $(pgrep -f '^slurmstepd' || true); do
    for fd in "/proc/$p/fd/"*; do
      if [ "$(readlink "$fd" 2>/dev/null)" = "$log" ]; then
        echo "$p"
        break
      fi
    done
  done
}
# Processes of job steps on the node: its name and this cluster's config in their environment.
tasks() {
  local d p env
  for d in /proc/[0-9]*; do
    p="${d#/proc/}"
    env="$(tr '\0' '\n' 2>/dev/null <"/proc/$p/environ")" || continue
    if grep -qx "SLURMD_NODENAME=$node" <<<"$env" && grep -qx "SLURM_CONF=$CONF" <<<"$env"; then echo "$p"; fi
  done
}

case "$action" in
  crash)
    pids=()
    if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then pids+=("$(cat "$pidfile")"); fi
    mapfile -t -O "${#pids[@]}" pids < <(stepds)
    mapfile -t -O "${#pids[@]}" pids < <(tasks)
    [ "${#pids[@]}" -gt 0 ] || die "nothing of node $node is running"
    kill -KILL "${pids[@]}" 2>/dev/null || true
    rm -f "$pidfile"
    say "node $node crashed: SIGKILL to ${#pids[@]} processes (slurmd, slurmstepd, tasks) at $(date +%T)"
    ;;
  start)
    if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then die "slurmd of node $node is running (pid $(cat "$pidfile"))"; fi
    [ -z "$(stepds)" ] || die "slurmstepd processes of node $node are still running: crash it first"
    tmpfs="$STATE/tmp/$node"
    rm -rf "${tmpfs:?}"
    mkdir -p "$tmpfs"
    # SLURM 22.05's PMIx plugin keeps a socket and a folder per step in the
    # spool, which a reboot does not clear: the requeued job's step (same job
    # and step id) then cannot bind its socket and fails to launch on this node.
    # No step runs on a crashed node, so all of them are stale.
    rm -rf "$STATE/slurmd-spool/$node/"stepd.slurm.pmix.* "$STATE/slurmd-spool/$node/"pmix.*
    slurmd -f "$CONF" -N "$node" || die "slurmd -N $node failed to start (log: $log)"
    deadline=$((SECONDS + TIMEOUT))
    while :; do
      st="$(sinfo -h -n "$node" -o '%t' 2>/dev/null | head -n 1)"
      case "$st" in idle | mix | alloc) break ;; esac
      ((SECONDS < deadline)) || die "node $node is '$st' ${TIMEOUT} s after its slurmd started (log: $log)"
      sleep 0.5
    done
    say "node $node is back: $st"
    ;;
  *) die "unknown action '$action' (crash or start)" ;;
esac
