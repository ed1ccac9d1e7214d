#!/usr/bin/env bash
# Large-data benchmark: wsc run on an N x d float32 model at 1 and 2 ranks,
# rows replicated (parallel.groups = ranks) and sharded (parallel.groups = 1),
# one table row per run from its summary.json: permuted heads per second, the
# fraction of the GEMM-bound limit measured in the same run, peak memory per
# rank against the bytes of the rows it holds. With --baseline, the same runs
# of a second binary side by side and the ratio of heads/s.
#
#   bench/large_data.sh --candidate build/wsc [--baseline OLD/wsc] [--n 1000000] [--d 256]
#                       [--classes 3,5] [--perms 100] [--ranks 1,2] [--layouts replicated,sharded]
#                       [--baseline-perms P] [--cache /tmp/wsc-large]
set -euo pipefail

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
die() { echo "large_data.sh: $*" >&2; exit 1; }

candidate="" baseline="" baseline_perms="" n=1000000 d=256 classes="3,5" perms=100 ranks="1,2" layouts="replicated,sharded"
cache=/tmp/wsc-large
while [[ $# -gt 0 ]]; do
  case "$1" in
    --candidate) candidate=$2; shift 2 ;;
    --baseline) baseline=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --d) d=$2; shift 2 ;;
    --classes) classes=$2; shift 2 ;;
    --perms) perms=$2; shift 2 ;;
    --baseline-perms) baseline_perms=$2; shift 2 ;;  # a slow baseline: fewer permutations (heads/s compared)
    --ranks) ranks=$2; shift 2 ;;
    --layouts) layouts=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    -h|--help) usage ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[[ -n "$candidate" ]] || die "--candidate WSC is required"
for b in "$candidate" ${baseline:+"$baseline"}; do [[ -x "$b" ]] || die "'$b' is not an executable"; done
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
mkdir -p "$cache"
model="$cache/model_${n}x${d}_${classes//,/-}.h5"
if [[ ! -s "$model" ]]; then
  echo "writing $model" >&2
  "$py" "$here/make_large_model.py" "$model.tmp" --n "$n" --d "$d" --classes "$classes"
  mv "$model.tmp" "$model"
fi

write_config() {  # FILE PERMS
{
  echo "[input]"; echo "embeddings = \"$model\""
  echo "[primary]"; echo "task = \"plane\""
  t=0
  for c in ${classes//,/ }; do echo "[[metadata]]"; echo "name = \"task$t\""; t=$((t + 1)); done
  echo "[permutation]"; echo "count = $2"
  echo "[encodability]"; echo "permutations = 0"
  echo "[output]"; echo "dir = \"out\""
} > "$1"
}
config="$cache/run_${n}x${d}.toml"
write_config "$config" "$perms"
baseline_config="$config"
if [[ -n "$baseline_perms" ]]; then
  baseline_config="$cache/run_${n}x${d}_baseline.toml"
  write_config "$baseline_config" "$baseline_perms"
fi

mpi=(mpiexec --allow-run-as-root --oversubscribe)
printf '| binary | N | d | classes | ranks | layout | permuted heads | perm s | heads/s | GEMM fraction (phase / kernels) | peak MiB/rank | row MiB/rank | peak / rows | estimate MiB |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
declare -A rate
for r in ${ranks//,/ }; do
  for layout in ${layouts//,/ }; do
    [[ $r == 1 && $layout == sharded ]] && continue
    groups=$r; [[ $layout == sharded ]] && groups=1
    for which in baseline candidate; do
      bin=${!which}; [[ -n "$bin" ]] || continue
      cfg=$config; [[ $which == baseline ]] && cfg=$baseline_config
      out="$cache/out_${which}_${n}x${d}_r${r}_${layout}"
      rm -rf "$out"
      "${mpi[@]}" -n "$r" "$bin" run "$cfg" --set "output.dir=$out" --set "parallel.groups=$groups" -q \
        > "$out.log" 2>&1 || die "$which run failed ($out.log)"
      row=$("$py" - "$out/summary.json" "$which" "$n" "$d" "$classes" "$r" "$layout" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
which, n, d, classes, r, layout = sys.argv[2:8]
t = s["timings_seconds"].get("permutations", float("nan"))
heads = s["permutations"]["fits"]
peak = max(s.get("peak_rss_bytes_per_rank", [0])) / 2**20
perf = s.get("performance", {}).get("permutations", {})
mem = s.get("memory", {})
held = int(n) / s["layout"]["ranks_per_group"] * int(d) * (4 if s.get("embeddings_dtype") == "float32" else 8) / 2**20
frac = "%.2f / %.2f" % (perf["gemm_fraction"], perf["gemm_fraction_of_kernels"]) if perf else "-"
est = "%.0f" % (mem["estimated_bytes_per_rank"] / 2**20) if mem else "-"
print("| %s | %s | %s | %s | %s | %s (%dx%d) | %d | %.1f | %.3f | %s | %.0f | %.0f | %.2f | %s |" % (
    which, n, d, classes, r, layout, s["layout"]["groups"], s["layout"]["ranks_per_group"], heads, t,
    heads / t if t > 0 else float("nan"), frac, peak, held, peak / held, est))
PY
)
      echo "$row"
      rate[$which]=$(echo "$row" | awk -F'|' '{print $10}')
    done
    if [[ -n "$baseline" ]]; then
      awk -v a="${rate[baseline]}" -v b="${rate[candidate]}" \
        'BEGIN { if (a > 0) printf "|   | ratio candidate / baseline: %.1fx |||||||||||||\n", b / a }'
    fi
  done
done
