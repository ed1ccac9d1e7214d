#!/usr/bin/env bash
# Submits the jobs/ scripts, chained with dependencies, and prints the job ids,
# one line per job: `<name> <job id>`.
#
#   jobs/submit.sh analyse CONFIG [TASKS]
#       one model's analysis over TASKS MPI tasks (default 2)        -> analyse <id>
#   jobs/submit.sh permutations CONFIG CHUNKS [TASKS_PER_CHUNK]
#       an array of CHUNKS tasks, `wsc run CONFIG --chunk I/CHUNKS` each over
#       TASKS_PER_CHUNK MPI tasks (default 1), and a merge job that runs
#       `wsc merge CONFIG` once all chunks succeeded                 -> permutations <id>, merge <id>
#   jobs/submit.sh sweep MANIFEST [TASKS_PER_MODEL]
#       an array with one task per model (`wsc sweep MANIFEST --list` counts them),
#       `wsc sweep MANIFEST --index I` each, and a merge job that runs
#       `wsc merge --sweep MANIFEST` once all of them ended, failed ones too
#                                                                    -> sweep <id>, merge <id>
#
# Environment:
#   WSC_EXE          the wsc executable (default: wsc on PATH, else build/wsc of this repository)
#   WSC_SET          --set options for every wsc command, e.g. "--set permutation.count=10000"
#   WSC_SBATCH_ARGS  extra sbatch options for every job, e.g. "--time=04:00:00 --partition=long"
#   WSC_MERGE_SBATCH_ARGS  extra sbatch options for the merge job only
# The jobs start in the current folder: their output files (wsc-<name>-<id>.out) go there.
# A merge job whose dependency can no longer be met (a chunk failed) is cancelled
# (--kill-on-invalid-dep=yes) instead of waiting forever.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ME="jobs/submit.sh"

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}
die() { echo "$ME: $*" >&2; exit 1; }

# abs PATH: PATH made absolute (the file must exist).
abs() {
  [ -e "$1" ] || die "'$1' does not exist"
  echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
}

# positive NAME VALUE: dies unless VALUE is a whole number >= 1.
positive() {
  if ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -lt 1 ]; then die "$1 must be a whole number >= 1 (got '$2')"; fi
}

# submit NAME SCRIPT SBATCH_OPTIONS...: submits SCRIPT; sets JOB to its id and prints `NAME JOB`.
submit() {
  local name=$1 script=$2 out
  shift 2
  # shellcheck disable=SC2086 # WSC_SBATCH_ARGS is a list of options
  out="$(sbatch --parsable --export=ALL ${WSC_SBATCH_ARGS:-} "$@" "$script")" ||
    die "sbatch of $name ($script) failed"
  JOB="${out%%;*}"
  [[ "$JOB" =~ ^[0-9]+$ ]] || die "sbatch of $name printed '$out', not a job id"
  echo "$name $JOB"
}

[ $# -ge 1 ] || usage
case "$1" in -h | --help | help) usage ;; esac
command -v sbatch >/dev/null 2>&1 || die "sbatch not found (on the local cluster: . cluster/env.sh)"

WSC_EXE="${WSC_EXE:-$(command -v wsc || echo "$HERE/../build/wsc")}"
[ -x "$WSC_EXE" ] || die "wsc executable '$WSC_EXE' not found; set WSC_EXE"
WSC_EXE="$(abs "$WSC_EXE")"
export WSC_EXE
export WSC_SET="${WSC_SET:-}"
if [ "$(id -u)" -eq 0 ]; then
  # Open MPI (also wsc run alone, and inside the jobs) refuses root without these.
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# shellcheck disable=SC2206 # word splitting intended
MERGE_ARGS=(${WSC_MERGE_SBATCH_ARGS:-})

what=$1
shift
case "$what" in
  analyse | analyze)
    if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
    WSC_CONFIG="$(abs "$1")"
    tasks="${2:-2}"
    positive TASKS "$tasks"
    export WSC_CONFIG
    unset WSC_SWEEP
    submit analyse "$HERE/analyse.sbatch" --ntasks="$tasks"
    ;;
  permutations | chunks)
    if [ $# -lt 2 ] || [ $# -gt 3 ]; then usage; fi
    WSC_CONFIG="$(abs "$1")"
    chunks=$2
    tasks="${3:-1}"
    positive CHUNKS "$chunks"
    positive TASKS_PER_CHUNK "$tasks"
    export WSC_CONFIG WSC_CHUNKS="$chunks"
    unset WSC_SWEEP
    submit permutations "$HERE/permutations.sbatch" --array="0-$((chunks - 1))" --ntasks="$tasks"
    array=$JOB
    submit merge "$HERE/merge.sbatch" --dependency="afterok:$array" --kill-on-invalid-dep=yes "${MERGE_ARGS[@]}" ||
      die "the merge job was not submitted; the chunks run as job $array (merge by hand: sbatch --dependency=afterok:$array jobs/merge.sbatch)"
    ;;
  sweep)
    if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
    WSC_SWEEP="$(abs "$1")"
    tasks="${2:-1}"
    positive TASKS_PER_MODEL "$tasks"
    list="$("$WSC_EXE" sweep "$WSC_SWEEP" --list)" || die "wsc sweep $WSC_SWEEP --list failed"
    models="$(head -n 1 <<<"$list" | tr -d '[:space:]')"
    [[ "$models" =~ ^[0-9]+$ ]] || die "wsc sweep --list printed '$(head -n 1 <<<"$list")' on its first line, not a model count"
    [ "$models" -ge 1 ] || die "the manifest $WSC_SWEEP lists no models"
    export WSC_SWEEP
    unset WSC_CONFIG
    submit sweep "$HERE/sweep.sbatch" --array="0-$((models - 1))" --ntasks="$tasks"
    array=$JOB
    submit merge "$HERE/merge.sbatch" --dependency="afterany:$array" --kill-on-invalid-dep=yes "${MERGE_ARGS[@]}" ||
      die "the merge job was not submitted; the models run as job $array"
    ;;
  *)
    echo "$ME: unknown job kind '$what'" >&2
    usage
    ;;
esac
