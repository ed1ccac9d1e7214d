#!/usr/bin/env bash
# Starts a single-node SLURM cluster on this machine: munged (if not running),
# slurmctld and slurmd, with a slurm.conf written for this host into the state
# folder ${WSC_CLUSTER_DIR:-/tmp/wsc-cluster}. Idempotent: when the cluster is
# already up and its node is usable it says so and exits 0.
#
# Messages go to stderr; the one line `export SLURM_CONF=...` goes to stdout, so
#   eval "$(cluster/start.sh)"
# starts the cluster and sets up the current shell. `. cluster/env.sh` does the latter too.
#
# Environment: WSC_CLUSTER_DIR (state folder, absolute), WSC_CLUSTER_TIMEOUT
# (seconds to wait for the node, default 30), WSC_CLUSTER_MEM_MARGIN_MB (memory
# kept out of RealMemory, default 1024).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=cluster/env.sh
. "$HERE/env.sh"
export PATH="$PATH:/usr/sbin:/sbin"

STATE="$WSC_CLUSTER_DIR"
CONF="$SLURM_CONF"
TIMEOUT="${WSC_CLUSTER_TIMEOUT:-30}"
MEM_MARGIN_MB="${WSC_CLUSTER_MEM_MARGIN_MB:-1024}"
RUN="$STATE/run"
LOG="$STATE/log"
CTLD_PID="$RUN/slurmctld.pid"
SLURMD_PID="$RUN/slurmd.pid"
MUNGE_MARKER="$RUN/munged.started-by-wsc"
MUNGE_PIDFILE=/run/munge/munged.pid

say() { echo "cluster/start: $*" >&2; }
die() { echo "cluster/start: ERROR: $*" >&2; exit 1; }

case "$STATE" in /*) ;; *) die "WSC_CLUSTER_DIR must be an absolute path (got '$STATE')" ;; esac
[ "$(id -u)" -eq 0 ] || die "must run as root (slurmd runs as root; munged and slurmctld drop to their own users)"
for b in munged munge unmunge slurmctld slurmd sinfo scontrol; do
  command -v "$b" >/dev/null 2>&1 || die "'$b' not found: install slurm-wlm and munge (tools/install-deps.sh)"
done
id slurm >/dev/null 2>&1 || die "user 'slurm' missing: (re)install slurm-wlm (tools/install-deps.sh)"
id munge >/dev/null 2>&1 || die "user 'munge' missing: (re)install munge (tools/install-deps.sh)"

HOST="$(hostname -s)"
[ -n "$HOST" ] || die "hostname -s printed nothing"

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

# Stops one daemon by its pid file (used only to clean up a half-running cluster).
stop_by_pidfile() {
  local pid i
  if pid="$(pid_of "$1" "$2")"; then
    say "stopping the leftover $2 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      say "$2 (pid $pid) ignored SIGTERM for 30 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -f "$1"
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

log_tails() {
  local f
  for f in "$LOG/slurmctld.log" "$LOG/slurmd.log"; do
    if [ -s "$f" ]; then
      echo "----- last 20 lines of $f -----" >&2
      tail -n 20 "$f" >&2
    else
      echo "----- $f: empty or missing -----" >&2
    fi
  done
}

node_state() { sinfo -h -n "$HOST" -o '%T' 2>/dev/null | head -n 1; }

node_usable() {
  case "$(node_state)" in
    idle | mixed | allocated | completing) return 0 ;;
    *) return 1 ;;
  esac
}

# node_field NAME: one field (State, Reason, SlurmdStartTime, ...) of 'scontrol show node'.
node_field() {
  scontrol show node -o "$HOST" 2>/dev/null | grep -o " $1=.*" | sed -E "s/^ $1=//; s/ [A-Z][A-Za-z]+=.*//" || true
}

show_node_problem() {
  scontrol show node "$HOST" 2>&1 | grep -E 'State=|Reason=' >&2 || true
  log_tails
}

# Waits until the node is idle (or busy with jobs); dies with the logs otherwise.
# RESUME_STALE_DRAIN=1 (fresh start only): a drain that slurm itself set in an
# earlier run (reason '[slurm@...]', e.g. a config since fixed) is resumed once
# after slurmd has registered successfully in this run; a drain set by a person is not.
RESUME_STALE_DRAIN=0
STARTED_AT=0
wait_for_node() {
  local deadline=$((SECONDS + TIMEOUT)) st="" state reason registered t
  while ((SECONDS < deadline)); do
    pid_of "$CTLD_PID" slurmctld >/dev/null || { say "slurmctld exited"; log_tails; die "slurmctld is not running (see $LOG/slurmctld.log)"; }
    pid_of "$SLURMD_PID" slurmd >/dev/null || { say "slurmd exited"; log_tails; die "slurmd is not running (see $LOG/slurmd.log)"; }
    st="$(node_state)"
    case "$st" in
      idle | mixed | allocated | completing) return 0 ;;
    esac
    # Did slurmd register in this run? (Before that the node shows the state saved by the last run.)
    registered=0
    t="$(node_field SlurmdStartTime)"
    if [ -n "$t" ] && t="$(date -d "$t" +%s 2>/dev/null)" && ((t >= STARTED_AT)); then registered=1; fi
    if ((registered)); then
      state="$(node_field State)"
      reason="$(node_field Reason)"
      case "$state" in
        *INVALID_REG* | *INVAL*)
          say "node $HOST rejected its registration (slurm.conf does not fit this machine):"
          show_node_problem
          die "node $HOST is '$st'; see the reason above; $HERE/stop.sh stops the daemons"
          ;;
        *DRAIN*)
          if ((RESUME_STALE_DRAIN)) && [[ "$reason" == *"[slurm@"* ]]; then
            say "node $HOST is still drained from an earlier run (reason: $reason); it registered fine now, so resuming it"
            scontrol update nodename="$HOST" state=resume >&2 || die "scontrol update nodename=$HOST state=resume failed"
            RESUME_STALE_DRAIN=0
          else
            say "node $HOST is '$st':"
            show_node_problem
            die "node $HOST is drained; fix the cause, then: SLURM_CONF=$CONF scontrol update nodename=$HOST state=resume"
          fi
          ;;
      esac
    fi
    sleep 0.3
  done
  say "node $HOST did not become idle within ${TIMEOUT}s (last state: '${st:-no answer from slurmctld}')"
  show_node_problem
  die "cluster did not come up (logs in $LOG); $HERE/stop.sh stops the daemons"
}

print_export() {
  local src=". $HERE/env.sh"
  [ "$STATE" = /tmp/wsc-cluster ] || src="export WSC_CLUSTER_DIR=$STATE; $src"
  say "ready: node $HOST is $(node_state). Use it with:  $src   (or the line below)"
  echo "export SLURM_CONF=$CONF"
}

# --- folders ------------------------------------------------------------------
install -d -m 0755 "$STATE" "$STATE/etc"
install -d -o slurm -g slurm -m 0755 "$RUN" "$LOG"
install -d -o slurm -g slurm -m 0700 "$STATE/ctld-state"
install -d -o root -g root -m 0755 "$STATE/slurmd-spool"

# --- munge --------------------------------------------------------------------
if munge_ok; then
  say "munged is running"
else
  if [ ! -s /etc/munge/munge.key ]; then
    say "creating /etc/munge/munge.key"
    install -d -o munge -g munge -m 0700 /etc/munge
    runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge
  install -d -o munge -g munge -m 0711 /var/lib/munge
  say "starting munged"
  runuser -u munge -- munged || { tail -n 20 /var/log/munge/munged.log >&2 2>/dev/null || true; die "munged failed to start (log: /var/log/munge/munged.log)"; }
  for ((i = 0; i < 50; i++)); do munge_ok && break; sleep 0.1; done
  munge_ok || { tail -n 20 /var/log/munge/munged.log >&2 2>/dev/null || true; die "munged started but 'munge -n | unmunge' fails (log: /var/log/munge/munged.log)"; }
  pid_of "$MUNGE_PIDFILE" munged >"$MUNGE_MARKER" || die "munged runs but $MUNGE_PIDFILE names no munged process"
  say "munged started (pid $(cat "$MUNGE_MARKER")); cluster/stop.sh will stop it"
fi

# --- already running? ---------------------------------------------------------
ctld_pid="$(pid_of "$CTLD_PID" slurmctld || true)"
slurmd_pid="$(pid_of "$SLURMD_PID" slurmd || true)"
if [ -n "$ctld_pid" ] && [ -n "$slurmd_pid" ] && [ -s "$CONF" ]; then
  if ! node_usable; then
    say "slurmctld (pid $ctld_pid) and slurmd (pid $slurmd_pid) are running; waiting for node $HOST"
    wait_for_node
  fi
  say "cluster already running and healthy (slurmctld pid $ctld_pid, slurmd pid $slurmd_pid, state in $STATE)"
  print_export
  exit 0
fi
if [ -n "$ctld_pid" ] || [ -n "$slurmd_pid" ]; then
  say "cluster only partly running; restarting its daemons"
  stop_by_pidfile "$SLURMD_PID" slurmd
  stop_by_pidfile "$CTLD_PID" slurmctld
fi
rm -f "$CTLD_PID" "$SLURMD_PID"

# Another cluster (another WSC_CLUSTER_DIR, or a system one) on the default ports?
if command -v ss >/dev/null 2>&1 && ss -Hltn 2>/dev/null | awk '{print $4}' | grep -Eq ':(6817|6818)$'; then
  die "ports 6817/6818 are in use by another slurmctld/slurmd (another WSC_CLUSTER_DIR?): stop that one first"
fi

# --- slurm.conf for this host -------------------------------------------------
CPUS="$(nproc)"
MEM_MB="$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)"
REAL_MB=$((MEM_MB - MEM_MARGIN_MB))
if ((REAL_MB < 256)); then REAL_MB=$((MEM_MB / 2)); fi

tmp="$(mktemp "$STATE/etc/slurm.conf.XXXXXX")"
cat >"$tmp" <<EOF
# Written by cluster/start.sh for host '$HOST' ($CPUS CPUs, ${MEM_MB} MiB); rewritten at each start.
ClusterName=wsc
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/ctld-state
SlurmdSpoolDir=$STATE/slurmd-spool
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true

# Processes and tasks: no cgroups here; linuxproc tracks a job's processes so that
# scancel, time limits and --signal reach all of them.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
KillWait=30
MpiDefault=pmix

# Scheduling
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
PreemptType=preempt/none
EnforcePartLimits=ALL
ReturnToService=2
JobRequeue=1
InactiveLimit=0
MinJobAge=300

# No slurmdbd: accounting off; finished jobs go to a text file that 'sacct -c' reads.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG/jobcomp.log

NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$REAL_MB State=UNKNOWN
PartitionName=local Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
chmod 0644 "$tmp"
mv -f "$tmp" "$CONF"
say "wrote $CONF (node $HOST: CPUs=$CPUS RealMemory=$REAL_MB)"

# --- daemons ------------------------------------------------------------------
say "starting slurmctld"
slurmctld -i -f "$CONF" || { log_tails; die "slurmctld failed to start"; }
for ((i = 0; i < 100; i++)); do
  pid_of "$CTLD_PID" slurmctld >/dev/null && scontrol ping 2>/dev/null | grep -q 'UP' && break
  sleep 0.1
done
pid_of "$CTLD_PID" slurmctld >/dev/null || { log_tails; die "slurmctld did not stay up (see $LOG/slurmctld.log)"; }

say "starting slurmd"
STARTED_AT="$(date +%s)"
RESUME_STALE_DRAIN=1
slurmd -f "$CONF" -N "$HOST" || { log_tails; die "slurmd failed to start"; }
for ((i = 0; i < 100; i++)); do
  pid_of "$SLURMD_PID" slurmd >/dev/null && break
  sleep 0.1
done

wait_for_node
print_export
