#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, as a site would: the executable, the
# job scripts, the cluster helpers and the Lmod module file are where the README
# says; `module load wsc` puts the installed wsc on PATH and `wsc --version`
# names its instruction set and MPI; then the installed jobs/analyse.sbatch,
# submitted with plain sbatch and no WSC_EXE, finds the installed wsc on PATH and
# gives the results of the same analysis run directly. Needs WSC_BUILD_DIR.
set -uo pipefail
WSC_TEST_NAME=installed
# shellcheck source=tests/slurm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD="${WSC_BUILD_DIR:?WSC_BUILD_DIR must name the build folder}"
PREFIX="$WORK/prefix"

cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" 2>&1 || { show "$WORK/install.log"; die "cmake --install failed"; }
version="$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt")"
missing=0
for f in bin/wsc share/wsc/jobs/analyse.sbatch share/wsc/jobs/permutations.sbatch \
         share/wsc/jobs/merge.sbatch share/wsc/jobs/sweep.sbatch share/wsc/jobs/submit.sh \
         share/wsc/cluster/start.sh share/wsc/cluster/stop.sh share/wsc/cluster/env.sh \
         "share/modulefiles/wsc/$version.lua" share/doc/wsc/README.md; do
  [ -e "$PREFIX/$f" ] || { bad "not installed: $f"; missing=1; }
done
[ "$missing" -eq 0 ] && ok "installed: bin/wsc, share/wsc/{jobs,cluster}, share/modulefiles/wsc/$version.lua"
[ -x "$PREFIX/share/wsc/jobs/submit.sh" ] || bad "the installed submit.sh is not executable"

# The module, as a user loads it (Debian's lmod), with the build tree out of reach.
# shellcheck disable=SC1091
. /usr/share/lmod/lmod/init/bash || die "cannot initialise Lmod"
unset WSC_EXE
module use "$PREFIX/share/modulefiles"
module load wsc 2>"$WORK/module.err" || { show "$WORK/module.err"; die "module load wsc failed"; }
found="$(command -v wsc || true)"
if [ "$found" = "$PREFIX/bin/wsc" ]; then ok "module load wsc: wsc is $found"; else bad "after module load, wsc is '$found'"; fi
[ "${WSC_JOBS:-}" = "$PREFIX/share/wsc/jobs" ] && ok "module sets WSC_JOBS=$WSC_JOBS" || bad "WSC_JOBS='${WSC_JOBS:-}'"
wsc --version >"$WORK/version.txt" 2>&1 || { show "$WORK/version.txt"; die "wsc --version failed"; }
if grep -q "^instruction set: " "$WORK/version.txt" && grep -q "^MPI: " "$WORK/version.txt"; then
  ok "wsc --version: $(tr '\n' ';' <"$WORK/version.txt")"
else
  show "$WORK/version.txt"; bad "wsc --version names no instruction set or MPI"
fi

# One job from the installed scripts, submitted from a folder without any build/.
mkdir -p "$WORK/run" && cd "$WORK/run" || die "cannot make $WORK/run"
wsc demo demo --permutations 5 >/dev/null 2>&1 || die "the installed wsc demo failed"
wsc run demo/biased.toml -q --set "output.dir=$WORK/run/direct" || die "the direct run failed"
id="$(sbatch --parsable --export="ALL,WSC_CONFIG=demo/biased.toml" \
  "$WSC_JOBS/analyse.sbatch" 2>"$WORK/sbatch.err")" || { show "$WORK/sbatch.err"; die "sbatch failed"; }
id="${id%%;*}"
JOBS_TO_CANCEL+=("$id")
wait_gone "$id" 300 || die "job $id still queued after 300 s"
state="$(job_field "$id" JobState) $(job_field "$id" ExitCode)"
out="$WORK/run/wsc-analyse-$id.out"
if [ "$state" != "COMPLETED 0:0" ]; then show "$out"; die "job $id ended '$state'"; fi
if grep -q "running $PREFIX/bin/wsc under srun" "$out"; then
  ok "job $id COMPLETED 0:0 with the installed wsc, found on PATH ($(elapsed))"
else
  show "$out"; bad "job $id did not run the installed wsc"
fi
same_as_direct "$WORK/run/demo/biased" "$WORK/run/direct" 2
finish
