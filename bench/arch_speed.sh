#!/usr/bin/env bash
# What native tuning buys on this machine: the same sources built with two
# WSC_ARCH values (default: portable against native), run alternately on the
# same inputs, ROUNDS times each, and the medians printed with their ratio.
#   1. batched_fit_bench: permuted-label heads fitted per second, batch 64
#      (n = 4800, d = 128, 3 classes, tol 1e-8);
#   2. wsc run on one rank: the permutation phase of a model of N = 4800 x d = 128
#      (three metadata tasks of 3, 4 and 2 classes, 200 permutations = 600 heads),
#      from summary.json's timings.
#   bench/arch_speed.sh [ARCH_A [ARCH_B]]      (env: ROUNDS=3, WSC_BENCH_DIR=/tmp/wsc-arch-bench)
# Builds into build-arch-<ARCH>/ (wsc and batched_fit_bench only). Run it on a
# quiet machine: the two builds share it, so load skews both alike, but noise
# still shows in the spread printed beside each median.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
a="${1:-portable}"
b="${2:-native}"
rounds="${ROUNDS:-3}"
work="${WSC_BENCH_DIR:-/tmp/wsc-arch-bench}"
mkdir -p "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

for arch in "$a" "$b"; do
  for target in wsc batched_fit_bench; do
    WSC_ARCH="$arch" WSC_BUILD_DIR="$root/build-arch-$arch" WSC_BUILD_TARGET="$target" \
      "$root/tools/build.sh" -DWSC_BUILD_TESTS=OFF >/dev/null
  done
  "$root/build-arch-$arch/wsc" --version | sed -n 2p | sed "s/^/$arch: /"
done

/usr/bin/python3 - "$work/model.h5" <<'PY'
import sys
import h5py
import numpy as np
rng = np.random.default_rng(7)
n, d = 4800, 128
basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
z = (rng.normal(size=(n, d)) * np.arange(1, d + 1) ** -0.8) @ basis.T + 0.5
plane = rng.integers(0, 3, n)
with h5py.File(sys.argv[1], "w") as f:
    f["embeddings"] = (z + 0.3 * np.eye(3, d)[plane]).astype(np.float32)
    f["heads/plane/weight"] = rng.normal(size=(3, d))
    f["labels/plane"] = plane
    f["labels/scanner"] = np.where(rng.random(n) < 0.5, plane, rng.integers(0, 3, n))
    f["labels/site"] = rng.integers(0, 4, n)
    f["labels/sex"] = rng.integers(0, 2, n)
PY
cat >"$work/bench.toml" <<TOML
[input]
embeddings = "model.h5"
[primary]
task = "plane"
[[metadata]]
name = "scanner"
[[metadata]]
name = "site"
[[metadata]]
name = "sex"
[pca]
components = 0
[probe]
l2 = 1e-4
[permutation]
count = 200
[encodability]
permutations = 0
[output]
dir = "out"
TOML

declare -A fits perms
for ((r = 1; r <= rounds; r++)); do
  for arch in "$a" "$b"; do
    rate="$("$root/build-arch-$arch/batched_fit_bench" --n 4800 --d 128 --heads 256 --batches 64 \
             --single-heads 4 | awk '$1 == "batched" {print $3}')"
    fits[$arch]+="$rate "
    "$root/build-arch-$arch/wsc" run "$work/bench.toml" -q
    secs="$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["timings_seconds"]["permutations"])' "$work/out/summary.json")"
    perms[$arch]+="$secs "
    echo "round $r $arch: batched_fit_bench $rate heads/s; wsc permutations $secs s"
  done
done

/usr/bin/python3 - "$a" "$b" "${fits[$a]}" "${fits[$b]}" "${perms[$a]}" "${perms[$b]}" <<'PY'
import statistics as st
import sys
a, b = sys.argv[1], sys.argv[2]
fa, fb, pa, pb = ([float(v) for v in s.split()] for s in sys.argv[3:7])
def show(name, xa, xb, unit, higher_better):
    ma, mb = st.median(xa), st.median(xb)
    ratio = mb / ma if higher_better else ma / mb
    print("%-34s %s %8.2f [%g..%g]   %s %8.2f [%g..%g]   %s/%s speed %.2fx"
          % (name + " (" + unit + ")", a, ma, min(xa), max(xa), b, mb, min(xb), max(xb), b, a, ratio))
show("batched_fit_bench", fa, fb, "heads/s", True)
show("wsc run, permutation phase", pa, pb, "s", False)
PY
