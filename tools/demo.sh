#!/usr/bin/env bash
# The first thing to run: installs what is missing, builds, and runs the demo
# (a synthetic shortcut model against a balanced control) on 2 MPI ranks.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/tools/install-deps.sh"
WSC_BUILD_TARGET=wsc "$root/tools/build.sh"
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1
wsc="${WSC_BUILD_DIR:-$root/build}/wsc"
dir="${1:-$root/demo}"
mpiexec -n "${WSC_RANKS:-2}" "$wsc" demo "$dir"
# One report of both models (a comparison table, then each model's verdicts,
# figures and tables); wsc report prints its path.
echo
echo "report (open in a browser):"
"$wsc" report "$dir"
