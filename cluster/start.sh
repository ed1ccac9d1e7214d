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
# Options: --nodes N (default 1): N node daemons (slurmd -N n1 ... nN) on this machine,
# each with its own port, spool, TmpFS, pid and log file; the machine's CPUs and
# memory are split between them (see cluster/README.md). --nodes 1 is the single
# node named after this host.
#
# Environment: WSC_CLUSTER_DIR (state folder, absolute), WSC_CLUSTER_TIMEOUT
# (seconds to wait for the node, default 30), WSC_CLUSTER_MEM_MARGIN_MB (memory
# kept out of RealMemory, default 1024), WSC_CLUSTER_PORT (slurmctld's port,
# default 6817; slurmd uses the next one, node k of N>1 uses PORT+k),
# WSC_CLUSTER_NODES (the default of --nodes), WSC_CLUSTER_SLURMD_TIMEOUT (seconds
# after which a silent node of a multi-node cluster is set DOWN, default 20).
set -euo pipefail

NODES="${WSC_CLUSTER_NODES:-1}"
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) [ $# -ge 2 ] || { echo "cluster/start: ERROR: --nodes needs a number" >&2; exit 1; }; NODES="$2"; shift 2 ;;
    --nodes=*) NODES="${1#--nodes=}"; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) echo "cluster/start: ERROR: unknown option '$1' (use --nodes N)" >&2; exit 1 ;;
  esac
done
[[ "$NODES" =~ ^[1-9][0-9]*$ ]] && ((NODES <= 16)) || { echo "cluster/start: ERROR: --nodes must be 1..16 (got '$NODES')" >&2; exit 1; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=cluster/env.sh
. "$HERE/env.sh"
export PATH="$PATH:/usr/sbin:/sbin"

STATE="$WSC_CLUSTER_DIR"
CONF="$SLURM_CONF"
TIMEOUT="${WSC_CLUSTER_TIMEOUT:-30}"
SLURMD_TIMEOUT="${WSC_CLUSTER_SLURMD_TIMEOUT:-20}"
[[ "$SLURMD_TIMEOUT" =~ ^[0-9]+$ ]] && ((SLURMD_TIMEOUT >= 5)) || { echo "cluster/start: ERROR: WSC_CLUSTER_SLURMD_TIMEOUT must be a number of seconds >= 5 (got '$SLURMD_TIMEOUT')" >&2; exit 1; }
MEM_MARGIN_MB="${WSC_CLUSTER_MEM_MARGIN_MB:-1024}"
RUN="$STATE/run"
LOG="$STATE/log"
CTLD_PID="$RUN/slurmctld.pid"
SLURMD_PID="$RUN/slurmd.pid"
NODES_FILE="$RUN/nodes"
CTLD_PORT="${WSC_CLUSTER_PORT:-6817}"
[[ "$CTLD_PORT" =~ ^[0-9]+$ ]] && ((CTLD_PORT >= 1024 && CTLD_PORT + NODES <= 65535)) || { echo "cluster/start: ERROR: WSC_CLUSTER_PORT must be a port 1024..65535 (got '$CTLD_PORT')" >&2; exit 1; }
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

# The node names: this host for one node, n1..nN for several (slurmd -N <name>).
# Per node: slurmd pid file and log (one node: slurmd.pid, slurmd.log as always).
if ((NODES == 1)); then
  NODE_NAMES=("$HOST")
else
  NODE_NAMES=()
  for ((k = 1; k <= NODES; k++)); do NODE_NAMES+=("n$k"); done
fi
NODE="${NODE_NAMES[0]}"   # the node the functions below look at
slurmd_pidfile() { if ((NODES == 1)); then echo "$SLURMD_PID"; else echo "$RUN/slurmd-$1.pid"; fi; }
slurmd_logfile() { if ((NODES == 1)); then echo "$LOG/slurmd.log"; else echo "$LOG/slurmd-$1.log"; fi; }

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
  for f in "$LOG/slurmctld.log" "$(slurmd_logfile "$NODE")"; do
    if [ -s "$f" ]; then
      echo "----- last 20 lines of $f -----" >&2
      tail -n 20 "$f" >&2
    else
      echo "----- $f: empty or missing -----" >&2
    fi
  done
}

node_state() { sinfo -h -n "$NODE" -o '%T' 2>/dev/null | head -n 1; }

node_usable() {
  case "$(node_state)" in
    idle | mixed | allocated | completing) return 0 ;;
    *) return 1 ;;
  esac
}

# node_field NAME: one field (State, Reason, SlurmdStartTime, ...) of 'scontrol show node'.
node_field() {
  scontrol show node -o "$NODE" 2>/dev/null | grep -o " $1=.*" | sed -E "s/^ $1=//; s/ [A-Z][A-Za-z]+=.*//" || true
}

show_node_problem() {
  scontrol show node "$NODE" 2>&1 | grep -E 'State=|Reason=' >&2 || true
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
    pid_of "$(slurmd_pidfile "$NODE")" slurmd >/dev/null || { say "slurmd of node $NODE exited"; log_tails; die "slurmd is not running (see $(slurmd_logfile "$NODE"))"; }
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
          say "node $NODE rejected its registration (slurm.conf does not fit this machine):"
          show_node_problem
          die "node $NODE is '$st'; see the reason above; $HERE/stop.sh stops the daemons"
          ;;
        *DRAIN*)
          if ((RESUME_STALE_DRAIN)) && [[ "$reason" == *"[slurm@"* ]]; then
            say "node $NODE is still drained from an earlier run (reason: $reason); it registered fine now, so resuming it"
            scontrol update nodename="$NODE" state=resume >&2 || die "scontrol update nodename=$NODE state=resume failed"
            RESUME_STALE_DRAIN=0
          else
            say "node $NODE is '$st':"
            show_node_problem
            die "node $NODE is drained; fix the cause, then: SLURM_CONF=$CONF scontrol update nodename=$NODE state=resume"
          fi
          ;;
      esac
    fi
    sleep 0.3
  done
  say "node $NODE did not become idle within ${TIMEOUT}s (last state: '${st:-no answer from slurmctld}')"
  show_node_problem
  die "cluster did not come up (logs in $LOG); $HERE/stop.sh stops the daemons"
}

# all_nodes CMD: runs CMD with NODE set to each node in turn; fails at the first failure.
all_nodes() {
  local n
  for n in "${NODE_NAMES[@]}"; do
    NODE="$n"
    "$@" || return 1
  done
}

# all_slurmd_running: every node's slurmd is alive (by its pid file).
all_slurmd_running() {
  local n
  for n in "${NODE_NAMES[@]}"; do pid_of "$(slurmd_pidfile "$n")" slurmd >/dev/null || return 1; done
}

print_export() {
  local src=". $HERE/env.sh" n states=""
  [ "$STATE" = /tmp/wsc-cluster ] || src="export WSC_CLUSTER_DIR=$STATE; $src"
  for n in "${NODE_NAMES[@]}"; do NODE="$n"; states+=" $n=$(node_state)"; done
  if ((NODES == 1)); then
    say "ready: node $HOST is $(node_state). Use it with:  $src   (or the line below)"
  else
    say "ready: $NODES nodes:$states (ports $CTLD_PORT..$((CTLD_PORT + NODES))). Use it with:  $src   (or the line below)"
  fi
  echo "export SLURM_CONF=$CONF"
}

# --- folders ------------------------------------------------------------------
install -d -m 0755 "$STATE" "$STATE/etc"
install -d -o slurm -g slurm -m 0755 "$RUN" "$LOG"
install -d -o slurm -g slurm -m 0700 "$STATE/ctld-state"
install -d -o root -g root -m 0755 "$STATE/slurmd-spool"
if ((NODES > 1)); then
  for n in "${NODE_NAMES[@]}"; do
    install -d -o root -g root -m 0755 "$STATE/slurmd-spool/$n"
    install -d -o root -g root -m 1777 "$STATE/tmp/$n" "$STATE/shm/$n"
  done
fi

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
running_nodes="$(cat "$NODES_FILE" 2>/dev/null || echo 1)"
if [ -n "$ctld_pid" ] && all_slurmd_running && [ -s "$CONF" ] && [ "$running_nodes" = "$NODES" ]; then
  if ! all_nodes node_usable; then
    say "slurmctld (pid $ctld_pid) and slurmd are running; waiting for the node(s)"
    all_nodes wait_for_node
  fi
  say "cluster already running and healthy (slurmctld pid $ctld_pid, $NODES node(s), state in $STATE)"
  print_export
  exit 0
fi
# Anything left of this folder's cluster (also of a run with another --nodes) is stopped.
leftover=0
[ -z "$ctld_pid" ] || leftover=1
for f in "$RUN"/slurmd*.pid; do
  [ -e "$f" ] || continue
  if pid_of "$f" slurmd >/dev/null; then leftover=1; fi
done
if ((leftover)); then
  say "cluster only partly running or with another node count; restarting its daemons"
  for f in "$RUN"/slurmd*.pid; do [ -e "$f" ] && stop_by_pidfile "$f" slurmd; done
  stop_by_pidfile "$CTLD_PID" slurmctld
fi
rm -f "$CTLD_PID" "$RUN"/slurmd*.pid

# Another cluster (another WSC_CLUSTER_DIR, or a system one) on these ports?
LAST_PORT=$((CTLD_PORT + (NODES > 1 ? NODES : 1)))
if command -v ss >/dev/null 2>&1; then
  busy="$(ss -Hltn 2>/dev/null | awk '{n = split($4, a, ":"); print a[n]}' | awk -v lo="$CTLD_PORT" -v hi="$LAST_PORT" '$1 >= lo && $1 <= hi' | sort -un | tr '\n' ' ')"
  [ -z "$busy" ] || die "port(s) $busy(of $CTLD_PORT..$LAST_PORT) in use by another slurmctld/slurmd (another WSC_CLUSTER_DIR?): stop that one first or set WSC_CLUSTER_PORT"
fi

# --- slurm.conf for this host -------------------------------------------------
CPUS="$(nproc)"
MEM_MB="$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)"
REAL_MB=$((MEM_MB - MEM_MARGIN_MB))
if ((REAL_MB < 256)); then REAL_MB=$((MEM_MB / 2)); fi
# Several nodes: each node declares all this machine's CPUs (the nodes share them,
# so `srun -N2 -n4` runs on 2 cores), and gets 1/N of the memory.
NODE_CPUS="${WSC_CLUSTER_NODE_CPUS:-$CPUS}"
[[ "$NODE_CPUS" =~ ^[1-9][0-9]*$ ]] || die "WSC_CLUSTER_NODE_CPUS must be a positive integer (got '$NODE_CPUS')"
NODE_MB=$((REAL_MB / NODES))

if ((NODES == 1)); then
  NODE_DAEMON_CONF="SlurmdSpoolDir=$STATE/slurmd-spool
SlurmdPidFile=$SLURMD_PID
SlurmdLogFile=$LOG/slurmd.log"
  NODE_LINES="NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$REAL_MB State=UNKNOWN"
  PART_NODES="$HOST"
else
  # %n: the node name, so that each slurmd has its own spool, pid file, log and
  # TmpFS (PMIx puts its per-job folder there: a shared one aborts the step with
  # "File exists"). The TaskProlog gives Open MPI a shared-memory folder per node
  # (both "nodes" have the same host name, so their segment names collide) and
  # the TCP transport between ranks (shared memory does not reach the other node).
  prolog="$STATE/etc/task-prolog.sh"
  cat >"$prolog" <<EOP
#!/bin/sh
# Written by cluster/start.sh: environment for each task of a job on this multi-node cluster.
echo "export OMPI_MCA_btl_vader_backing_directory=$STATE/shm/\$SLURMD_NODENAME"
echo "export OMPI_MCA_btl=self,tcp"
echo "export OMPI_MCA_btl_tcp_if_include=lo"
EOP
  chmod 0755 "$prolog"
  NODE_DAEMON_CONF="SlurmdSpoolDir=$STATE/slurmd-spool/%n
SlurmdPidFile=$RUN/slurmd-%n.pid
SlurmdLogFile=$LOG/slurmd-%n.log
TmpFS=$STATE/tmp/%n
TaskProlog=$prolog
SlurmdParameters=config_overrides
# A node whose slurmd stops answering is set DOWN after SlurmdTimeout seconds and its
# jobs end (NODE_FAIL; requeued when they allow it): the bound on how long a job waits
# for a lost node. SLURM's default is 300 s; a test cluster wants it short.
SlurmdTimeout=$SLURMD_TIMEOUT"
  NODE_LINES=""
  for ((k = 1; k <= NODES; k++)); do
    NODE_LINES+="NodeName=n$k NodeHostname=$HOST NodeAddr=127.0.0.1 Port=$((CTLD_PORT + k)) CPUs=$NODE_CPUS RealMemory=$NODE_MB State=UNKNOWN"$'\n'
  done
  PART_NODES="n[1-$NODES]"
fi

tmp="$(mktemp "$STATE/etc/slurm.conf.XXXXXX")"
cat >"$tmp" <<EOF
# Written by cluster/start.sh for host '$HOST' ($CPUS CPUs, ${MEM_MB} MiB); rewritten at each start.
ClusterName=wsc
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
SlurmctldPort=$CTLD_PORT
SlurmdPort=$((CTLD_PORT + 1))
StateSaveLocation=$STATE/ctld-state
SlurmctldPidFile=$CTLD_PID
SlurmctldLogFile=$LOG/slurmctld.log
$NODE_DAEMON_CONF
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

$NODE_LINES
PartitionName=local Nodes=$PART_NODES Default=YES MaxTime=INFINITE State=UP
EOF
chmod 0644 "$tmp"
mv -f "$tmp" "$CONF"
if ((NODES == 1)); then
  say "wrote $CONF (node $HOST: CPUs=$CPUS RealMemory=$REAL_MB)"
else
  say "wrote $CONF ($NODES nodes ${PART_NODES}: CPUs=$NODE_CPUS RealMemory=$NODE_MB each, ports $CTLD_PORT..$LAST_PORT)"
fi

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
for NODE in "${NODE_NAMES[@]}"; do
  slurmd -f "$CONF" -N "$NODE" || { log_tails; die "slurmd of node $NODE failed to start"; }
done
for ((i = 0; i < 100; i++)); do
  all_slurmd_running && break
  sleep 0.1
done
echo "$NODES" >"$NODES_FILE"

all_nodes wait_for_node
print_export
