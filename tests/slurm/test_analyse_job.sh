#!/usr/bin/env bash
# jobs/analyse.sbatch on the local SLURM cluster: a 2-task analysis of the demo
# model whose results equal those of the same analysis run directly.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WSC_EXE="${WSC_EXE:?WSC_EXE must name the wsc executable}"
export PATH="$PATH:/usr/sbin:/sbin"
"$ROOT/cluster/start.sh" >/dev/null
. "$ROOT/cluster/env.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

WORK="$(mktemp -d /tmp/wsc-slurm-analyse.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
"$WSC_EXE" demo "$WORK/demo" --permutations 5 >/dev/null 2>&1
"$WSC_EXE" run "$WORK/demo/biased.toml" -q --set "output.dir=$WORK/direct"

rc=0
timeout 300 sbatch --wait --export="ALL,WSC_CONFIG=$WORK/demo/biased.toml,WSC_EXE=$WSC_EXE" \
  "$ROOT/jobs/analyse.sbatch" > "$WORK/sbatch.out" 2>&1 || rc=$?

if [ "$rc" -ne 0 ]; then
  echo "FAIL: sbatch --wait returned $rc"; cat "$WORK/sbatch.out" "$WORK"/wsc-analyse-*.out 2>/dev/null
  echo "0 passed, 1 failed"; exit 1
fi
/usr/bin/python3 - "$WORK" <<'PY'
import csv, json, sys
work = sys.argv[1]
s = json.load(open(work + "/demo/biased/summary.json"))
assert s["ranks"] == 2, "the job ran %d rank(s), expected 2 (srun --mpi=pmix)" % s["ranks"]
a = list(csv.DictReader(open(work + "/demo/biased/wsc.csv")))
b = list(csv.DictReader(open(work + "/direct/wsc.csv")))
assert [r["p_fwer"] for r in a] == [r["p_fwer"] for r in b], "p-values differ from the direct run"
d = max(abs(float(x["cos"]) - float(y["cos"])) for x, y in zip(a, b))
assert d < 1e-7, "cosines differ from the direct run by %g" % d
print("PASS: the job ran 2 ranks under srun; results equal the direct run (max |dcos| %.1e)" % d)
PY
echo "1 passed, 0 failed"
