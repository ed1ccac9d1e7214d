#!/usr/bin/env bash
# jobs/analyse.sbatch over the 2 nodes of a local 2-node cluster (cluster/start.sh
# --nodes 2; WSC_CLUSTER_NODES=2 in the fixture): 4 tasks, 2 per node.
# - srun's block distribution (ranks 0,1 on n1; 2,3 on n2) and its cyclic one
#   (0,2 on n1; 1,3 on n2), both with 2 groups of 2: summary.json records 2
#   nodes of 2 ranks, the node of every rank as SLURM placed it, and each group
#   on one node; wsc.csv is byte-identical to the same run (same 2 x 2 layout)
#   with mpiexec ($WSC_MPIEXEC: the build's MPI) on one node.
# - the automatic layout: p-values identical to a single-process run, cosines
#   within 1e-7.
set -uo pipefail
WSC_TEST_NAME=nodes_analyse
# shellcheck source=tests/slurm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

nodes="$(sinfo -h -o '%D' | head -n 1)"
[ "$nodes" = 2 ] || die "the cluster in $WSC_CLUSTER_DIR has '$nodes' node(s), expected 2 (cluster/start.sh --nodes 2)"

"$WSC_EXE" demo "$WORK/demo" --permutations 5 >/dev/null 2>&1 || die "wsc demo failed"
CONFIG="$WORK/demo/biased.toml"
"$WSC_EXE" run "$CONFIG" -q --set "output.dir=$WORK/single" || die "the single-process run failed"
OMPI_MCA_rmaps_base_oversubscribe=1 "$WSC_MPIEXEC" -n 4 "$WSC_EXE" run "$CONFIG" -q \
  --set "output.dir=$WORK/onenode" --set parallel.groups=2 || die "the 4-rank run on one node failed"
ok "direct runs done ($(elapsed))"

# submit NAME SBATCH_OPTIONS... : one analysis job, 4 tasks on 2 nodes, output in $WORK/NAME.
declare -A JOB
submit() {
  local name=$1 id
  shift
  id="$(sbatch --parsable --nodes=2 --ntasks=4 --ntasks-per-node=2 "$@" \
    --export="ALL,WSC_CONFIG=$CONFIG,WSC_EXE=$WSC_EXE,WSC_SET=--set output.dir=$WORK/$name ${GROUPS_SET:-}" \
    "$ROOT/jobs/analyse.sbatch" 2>"$WORK/sbatch-$name.err")" || { show "$WORK/sbatch-$name.err"; die "sbatch ($name) failed"; }
  id="${id%%;*}"
  JOB[$name]=$id
  JOBS_TO_CANCEL+=("$id")
}
GROUPS_SET="--set parallel.groups=2" submit block --distribution=block
GROUPS_SET="--set parallel.groups=2" submit cyclic --distribution=cyclic
GROUPS_SET="" submit auto

for name in block cyclic auto; do
  id=${JOB[$name]}
  wait_gone "$id" 400 || die "job $id ($name) still queued after 400 s"
  state="$(job_field "$id" JobState) $(job_field "$id" ExitCode)"
  if [ "$state" != "COMPLETED 0:0" ]; then
    show "$WORK/wsc-analyse-$id.out"
    bad "job $id ($name) ended '$state'"
    continue
  fi
  ok "job $id ($name) COMPLETED 0:0 on $(job_field "$id" NodeList) ($(elapsed))"
done
[ "$fails" -eq 0 ] || finish

# The placement in summary.json: SLURM's distribution, as recorded, and groups on one node each.
check_layout() {
  if /usr/bin/python3 - "$WORK/$1/summary.json" "$2" <<'PY'; then ok "$1: $(cat "$WORK/$1.layout")"; else bad "$1: layout in summary.json"; fi
import json, sys
s = json.load(open(sys.argv[1]))
lay = s["layout"]
assert s["ranks"] == 4, "ranks %r" % s["ranks"]
assert lay["nodes"] == 2 and lay["ranks_per_node"] == [2, 2], "nodes %r %r" % (lay.get("nodes"), lay.get("ranks_per_node"))
want = {"block": [0, 0, 1, 1], "cyclic": [0, 1, 0, 1], "any": None}[sys.argv[2]]
assert want is None or lay["node_of_rank"] == want, "node_of_rank %r, expected %r" % (lay["node_of_rank"], want)
if sys.argv[2] != "any":
    assert lay["groups"] == 2 and lay["ranks_per_group"] == 2
    assert lay["group_nodes"] == [[0, 0], [1, 1]], "group_nodes %r" % lay["group_nodes"]
    assert lay["groups_spanning_nodes"] == 0
else:
    # a group spans nodes only when it is larger than a node's share
    assert lay["groups_spanning_nodes"] == (lay["groups"] if lay["ranks_per_group"] > 2 else 0), lay
open(sys.argv[1].rsplit("/", 2)[0] + "/" + sys.argv[1].rsplit("/", 2)[1] + ".layout", "w").write(
    "%d x %d, node_of_rank %s, group_nodes %s" % (lay["groups"], lay["ranks_per_group"], lay["node_of_rank"], lay["group_nodes"]))
PY
}
check_layout block block
check_layout cyclic cyclic
check_layout auto any

same_file "$WORK/block/wsc.csv" "$WORK/onenode/wsc.csv" "block distribution over 2 nodes: wsc.csv"
same_file "$WORK/cyclic/wsc.csv" "$WORK/onenode/wsc.csv" "cyclic distribution over 2 nodes: wsc.csv"
same_as_direct "$WORK/auto" "$WORK/single" 4
finish
