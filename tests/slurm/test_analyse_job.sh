#!/usr/bin/env bash
# jobs/analyse.sbatch on the local SLURM cluster, submitted with plain sbatch and
# --export as a user would: a 2-task analysis of the demo model whose results equal
# those of the same analysis run directly.
set -uo pipefail
WSC_TEST_NAME=analyse
# shellcheck source=tests/slurm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$WSC_EXE" demo "$WORK/demo" --permutations 5 >/dev/null 2>&1 || die "wsc demo failed"
"$WSC_EXE" run "$WORK/demo/biased.toml" -q --set "output.dir=$WORK/direct" || die "the direct run failed"

id="$(sbatch --parsable --export="ALL,WSC_CONFIG=$WORK/demo/biased.toml,WSC_EXE=$WSC_EXE" \
  "$ROOT/jobs/analyse.sbatch" 2>"$WORK/sbatch.err")" || { show "$WORK/sbatch.err"; die "sbatch failed"; }
id="${id%%;*}"
JOBS_TO_CANCEL+=("$id")
wait_gone "$id" 300 || die "job $id still queued after 300 s"
state="$(job_field "$id" JobState) $(job_field "$id" ExitCode)"
if [ "$state" != "COMPLETED 0:0" ]; then
  show "$WORK/wsc-analyse-$id.out"
  die "job $id ended '$state'"
fi
ok "job $id COMPLETED 0:0 ($(elapsed))"
same_as_direct "$WORK/demo/biased" "$WORK/direct" 2
finish
