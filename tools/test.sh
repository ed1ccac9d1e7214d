#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors and runs every test:
#   1. Open MPI build (build-test/): the whole suite (unit, mpi, e2e, slurm);
#   2. MPICH build (build-test-mpich/): unit, mpi and e2e tests under MPICH's
#      mpiexec (not the Python side, the fuzz subset and most malformed-input
#      cases, which take the same paths under either MPI), the same analysis as
#      the Open MPI build at 1-4 ranks with identical p-values
#      (e2e_same_numbers_as_reference), and the jobs on the 2-node SLURM cluster
#      (label slurm_nodes: srun --mpi=pmi2 across two nodes; not the single-node
#      cluster's, label slurm_one_node, which test the scripts, not the MPI,
#      nor the node-loss drill, label slurm_node_loss, which tests SLURM's side);
#   3. AVX-512 code generation (build-test-avx512/, -march=x86-64-v4, -Werror):
#      the numerical core, the engine and the core's unit tests compile on any
#      machine; the tests run where the processor has AVX-512.
# Arguments go to both ctest runs (e.g. -L unit). Environment:
#   WSC_ARCH=portable | native | <-march value>   (default portable)
#   WSC_TEST_MPIS="openmpi mpich"                  the builds to test, in order
#   WSC_TEST_AVX512=0                              skip step 3
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/tools/install-deps.sh"
base="${WSC_BUILD_DIR:-$root/build-test}"
export WSC_ARCH="${WSC_ARCH:-portable}"
reference=()
for mpi in ${WSC_TEST_MPIS:-openmpi mpich}; do
  case "$mpi" in
    openmpi) dir="$base"; labels=() ;;
    mpich) dir="$base-mpich"; labels=(-LE "slurm_one_node|slurm_node_loss|python_side|error_cases|fuzz") ;;
    *) echo "test.sh: unknown MPI '$mpi' in WSC_TEST_MPIS" >&2; exit 2 ;;
  esac
  echo "test.sh: $mpi build in $dir (WSC_ARCH=$WSC_ARCH)"
  start=$SECONDS
  WSC_MPI="$mpi" WSC_BUILD_DIR="$dir" "$root/tools/build.sh" -DWSC_WERROR=ON "${reference[@]}"
  echo "test.sh: $mpi build took $((SECONDS - start)) s"
  start=$SECONDS
  (cd "$dir" && ctest --output-on-failure -j "$(nproc)" "${labels[@]}" "$@")
  echo "test.sh: $mpi tests took $((SECONDS - start)) s"
  # Later builds compare their numbers with the first one's.
  if [ ${#reference[@]} -eq 0 ]; then
    reference=(-DWSC_REFERENCE_EXE="$dir/wsc"
               -DWSC_REFERENCE_MPIEXEC="$(sed -n 's/^MPIEXEC_EXECUTABLE:FILEPATH=//p' "$dir/CMakeCache.txt")")
  fi
done

if [ "${WSC_TEST_AVX512:-1}" = 1 ]; then
  dir="$base-avx512"
  echo "test.sh: AVX-512 build in $dir (WSC_ARCH=x86-64-v4: core, engine, core unit tests)"
  start=$SECONDS
  for target in wsc_engine wsc_core_tests; do
    WSC_ARCH=x86-64-v4 WSC_BUILD_DIR="$dir" WSC_BUILD_TARGET="$target" "$root/tools/build.sh" -DWSC_WERROR=ON
  done
  echo "test.sh: AVX-512 build took $((SECONDS - start)) s"
  if grep -qw avx512f /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo &&
     grep -qw avx512dq /proc/cpuinfo; then
    (cd "$dir" && ctest --output-on-failure -R '^core_unit_tests$')
  else
    echo "test.sh: this processor has no AVX-512: the AVX-512 build was compiled, not run"
  fi
fi
