#!/usr/bin/env bash
# Allreduce between nodes against inside one, on a 2-node SLURM cluster, and
# what it does to a real run's permutation phase.
#
#   bench/nodes_allreduce.sh [--build build] [--out bench-out] [--repeats 7] [--seconds 1.2]
#       [--rounds 3] [--n 20000] [--d 64] [--classes 3,5] [--perms 200]
#       [--model-d 2048] [--model-classes 3,5] [--batch 64]
#       [--cluster-dir DIR --cluster-port PORT] [--skip-allreduce] [--skip-wsc]
#
# Cluster: the one SLURM_CONF names if it has 2 nodes; otherwise (or with
# --cluster-dir) the script starts its own with cluster/start.sh --nodes 2 in
# DIR on PORT (default /tmp/wsc-bench-nodes, 6967) and stops it at the end.
# 1. build/allreduce_bench under srun --mpi=pmix, ROUNDS times each case,
#    alternating: 2 ranks on one node over shared memory (btl self,vader),
#    2 ranks on one node over TCP (btl self,tcp, as the cluster's task prolog
#    sets), 2 ranks on two nodes (TCP) and 4 ranks 2 per node in one
#    communicator (btl self,vader,tcp: shared memory inside a node, TCP
#    between, as on a real cluster); bench/allreduce_table.py prints
#    them side by side against the first and fits alpha and bw per case;
#    OUT/allreduce.json is what `scaling_model.py --network` reads. The sizes
#    include a batch's B C (d + 1) doubles of the scaling model's example
#    (--batch, --model-classes (mean C), --model-d).
# 2. wsc run (btl self,vader,tcp) on an N x d float32 model
#    (bench/make_large_model.py), ROUNDS times each, alternating: 2 nodes x
#    2 tasks with parallel.groups=2 (each group inside a node), the same with parallel.groups=1 (one group
#    across both nodes), 4 ranks on one node with parallel.groups=1; the
#    permutation phase's seconds (median, range) and its allreduce seconds
#    (summary.json performance.permutations.allreduce_seconds, rank 0); the
#    layouts' wsc.csv must agree (p-values identical, cosines within 1e-7).
# The machine's load average is printed beside every result.
set -uo pipefail

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2; }
die() { echo "nodes_allreduce.sh: $*" >&2; exit 1; }
say() { echo "nodes_allreduce.sh: $*" >&2; }

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
py=/usr/bin/python3
build="$root/build" out="$root/bench-out" repeats=7 seconds=1.2 rounds=3
n=20000 d=64 classes=3,5 perms=200 model_d=2048 model_classes=3,5 batch=64
cluster_dir="" cluster_port=6967 skip_allreduce=0 skip_wsc=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --d) d=$2; shift 2 ;;
    --classes) classes=$2; shift 2 ;;
    --perms) perms=$2; shift 2 ;;
    --model-d) model_d=$2; shift 2 ;;
    --model-classes) model_classes=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --cluster-dir) cluster_dir=$2; shift 2 ;;
    --cluster-port) cluster_port=$2; shift 2 ;;
    --skip-allreduce) skip_allreduce=1; shift ;;
    --skip-wsc) skip_wsc=1; shift ;;
    -h|--help) usage ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
bench_exe="$build/allreduce_bench"
wsc_exe="$build/wsc"
[[ -x "$bench_exe" ]] || die "$bench_exe not built (cmake --build build --target allreduce_bench)"
[[ -x "$wsc_exe" ]] || die "$wsc_exe not built"
mkdir -p "$out" || die "cannot make $out"
out=$(cd "$out" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# The cluster: SLURM_CONF's when it has two nodes and no folder was given, else our own.
started=0
stop_cluster() {
  if ((started)); then
    say "stopping the cluster in $cluster_dir"
    WSC_CLUSTER_DIR=$cluster_dir bash "$root/cluster/stop.sh" >&2 || say "cluster/stop.sh failed"
  fi
}
trap stop_cluster EXIT
if [[ -z "$cluster_dir" && -n "${SLURM_CONF:-}" ]] && [[ "$(sinfo -h -o '%D' 2>/dev/null | head -n 1)" == 2 ]]; then
  say "using the 2-node cluster of $SLURM_CONF"
else
  cluster_dir=${cluster_dir:-/tmp/wsc-bench-nodes}
  say "starting a 2-node cluster in $cluster_dir (port $cluster_port)"
  exports=$(WSC_CLUSTER_DIR=$cluster_dir WSC_CLUSTER_PORT=$cluster_port bash "$root/cluster/start.sh" --nodes 2) ||
    die "cluster/start.sh failed"
  started=1
  eval "$exports"
  [[ "$(sinfo -h -o '%D' | head -n 1)" == 2 ]] || die "the cluster in $cluster_dir does not have 2 nodes"
fi
mapfile -t nodes < <(sinfo -h -N -o '%N' | sort -u)
[[ ${#nodes[@]} -ge 2 ]] || die "sinfo lists ${#nodes[@]} node(s)"
srun_=(srun --mpi=pmix --quiet)
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

if ((skip_allreduce == 0)); then
  # A batch's sums in the scaling model's example: B C (d + 1) doubles, C the mean class count.
  model_doubles=$("$py" -c "import sys; c=[int(x) for x in sys.argv[1].split(',')]; \
print(int(round(int(sys.argv[2]) * sum(c) / len(c) * (int(sys.argv[3]) + 1))))" "$model_classes" "$batch" "$model_d")
  bargs=(--repeats "$repeats" --seconds "$seconds" --doubles "$model_doubles")
  # NAME ROUND LABEL BTL SRUN_OPTIONS... : one run of a case (BTL empty: the cluster's task prolog's self,tcp).
  run_case() {
    local name=$1 round=$2 label=$3 btl=$4
    shift 4
    local envs=()
    [[ -n "$btl" ]] && envs=(env "OMPI_MCA_btl=$btl")
    local base="$out/allreduce_${name}_r$round"
    say "allreduce: $label, round $round ($*), load $(loadavg)"
    "${srun_[@]}" "$@" "${envs[@]}" "$bench_exe" "${bargs[@]}" --label "$label" --json "$base.json" \
      >"$base.txt" 2>&1 || { cat "$base.txt" >&2; die "allreduce case $name failed"; }
  }
  # Rounds alternate the cases, so the load of other work falls on all alike.
  for ((r = 1; r <= rounds; r++)); do
    run_case one_node_shm "$r" "2 ranks, one node, shared memory" self,vader -N1 -n2 -w "${nodes[0]}"
    run_case one_node_tcp "$r" "2 ranks, one node, TCP loopback" "" -N1 -n2 -w "${nodes[0]}"
    run_case two_nodes "$r" "2 ranks, two nodes, 1 per node" "" -N2 -n2 --ntasks-per-node=1
    run_case two_nodes_4 "$r" "4 ranks, two nodes, 2 per node" self,vader,tcp -N2 -n4 --ntasks-per-node=2
  done
  files() { local f="" k; for ((k = 1; k <= rounds; k++)); do f+="${f:+,}$out/allreduce_$1_r$k.json"; done; echo "$f"; }
  "$py" "$here/allreduce_table.py" one_node_shm="$(files one_node_shm)" one_node_tcp="$(files one_node_tcp)" \
    two_nodes="$(files two_nodes)" two_nodes_4="$(files two_nodes_4)" --out "$out/allreduce.json" ||
    die "allreduce_table.py failed"
  echo "(the 4 MiB-class row is the model's batch: $model_doubles doubles = B $batch x C mean of $model_classes x (d $model_d + 1))"
  echo
fi

if ((skip_wsc == 0)); then
  model="$out/model_${n}x${d}_${classes//,/-}.h5"
  if [[ ! -s "$model" ]]; then
    say "writing $model"
    "$py" "$here/make_large_model.py" "$model.tmp" --n "$n" --d "$d" --classes "$classes" >&2 || die "make_large_model.py failed"
    mv "$model.tmp" "$model"
  fi
  config="$out/run_${n}x${d}.toml"
  {
    echo "[input]"; echo "embeddings = \"$model\""
    echo "[primary]"; echo "task = \"plane\""
    t=0
    for _ in ${classes//,/ }; do echo "[[metadata]]"; echo "name = \"task$t\""; t=$((t + 1)); done
    echo "[permutation]"; echo "count = $perms"
    echo "[encodability]"; echo "permutations = 0"
    echo "[output]"; echo "dir = \"out\""
  } >"$config"
  # NAME GROUPS SRUN_OPTIONS...
  run_wsc() {
    local name=$1 groups=$2 round=$3
    shift 3
    local dir="$out/wsc_${name}_r$round"
    rm -rf "$dir"
    say "wsc run: $name round $round ($*, parallel.groups=$groups), load $(loadavg)"
    "${srun_[@]}" "$@" env OMPI_MCA_btl=self,vader,tcp "$wsc_exe" run "$config" -q --set "output.dir=$dir" --set "parallel.groups=$groups" \
      >"$dir.log" 2>&1 || { cat "$dir.log" >&2; die "wsc run $name failed"; }
    loadavg >"$dir/loadavg"
  }
  for ((r = 1; r <= rounds; r++)); do
    run_wsc two_nodes_groups_in_nodes 2 "$r" -N2 -n4 --ntasks-per-node=2
    run_wsc two_nodes_group_spanning 1 "$r" -N2 -n4 --ntasks-per-node=2
    run_wsc one_node_4 1 "$r" -N1 -n4 --overcommit -w "${nodes[0]}"
  done
  "$py" - "$out" "$rounds" <<'PY' || die "summarising the wsc runs failed"
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
cases = [("two_nodes_groups_in_nodes", "2 nodes x 2, parallel.groups=2 (groups inside nodes)"),
         ("two_nodes_group_spanning", "2 nodes x 2, parallel.groups=1 (one group across nodes)"),
         ("one_node_4", "1 node x 4, parallel.groups=1 (one group, shared memory)")]
print("wsc run, permutation phase (medians of %d rounds, ranges in brackets; allreduce: seconds rank 0 spent in "
      "its group's allreduce during the phase)" % rounds)
print()
print("| layout | groups x size | spanning groups | permuted heads | perm s | heads/s | allreduce s | allreduce calls "
      "| MB per call | load average after each round |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
summary = {}
for name, label in cases:
    runs = [json.load(open("%s/wsc_%s_r%d/summary.json" % (out, name, r))) for r in range(1, rounds + 1)]
    loads = [open("%s/wsc_%s_r%d/loadavg" % (out, name, r)).read().split()[0] for r in range(1, rounds + 1)]
    lay = runs[0]["layout"]
    t = [s["timings_seconds"]["permutations"] for s in runs]
    perf = [s["performance"]["permutations"] for s in runs]
    ar = [p["allreduce_seconds"] for p in perf]
    heads = runs[0]["permutations"]["fits"]
    calls = perf[0]["allreduce_calls"]
    mb = perf[0]["allreduce_doubles"] * 8 / max(calls, 1) / 1e6
    med = statistics.median(t)
    print("| %s | %d x %d | %d | %d | %.2f [%.2f..%.2f] | %.1f | %.2f [%.2f..%.2f] | %d | %.3f | %s |" % (
        label, lay["groups"], lay["ranks_per_group"], lay["groups_spanning_nodes"], heads, med, min(t), max(t),
        heads / med, statistics.median(ar), min(ar), max(ar), calls, mb, " ".join(loads)))
    summary[name] = {"label": label, "groups": lay["groups"], "ranks_per_group": lay["ranks_per_group"],
                     "groups_spanning_nodes": lay["groups_spanning_nodes"], "node_of_rank": lay["node_of_rank"],
                     "permuted_heads": heads, "permutation_seconds": t, "allreduce_seconds": ar,
                     "allreduce_calls": calls, "loadavg_after": loads}
json.dump(summary, open(out + "/wsc_runs.json", "w"), indent=1)
# The layouts must not change the results.
import csv
def rows(name):
    return list(csv.DictReader(open("%s/wsc_%s_r1/wsc.csv" % (out, name))))
ref = rows(cases[0][0])
worst = 0.0
for name, _ in cases[1:]:
    other = rows(name)
    assert len(other) == len(ref), "%s: %d rows, %d expected" % (name, len(other), len(ref))
    for a, b in zip(ref, other):
        for key in ("p_perm", "p_fwer", "q_fdr"):
            assert a[key] == b[key], "%s: %s %s != %s" % (name, key, b[key], a[key])
        worst = max(worst, abs(float(a["cos"]) - float(b["cos"])))
assert worst <= 1e-7, "cosines differ by %.1e between layouts" % worst
print()
print("wsc.csv of the three layouts: p-values identical, largest cosine difference %.1e" % worst)
PY
fi
