#!/usr/bin/env bash
# Configures and builds wsc into ./build (or $WSC_BUILD_DIR). Extra arguments
# go to cmake's configure step; WSC_BUILD_TARGET builds one target only.
#   WSC_MPI=openmpi | mpich   build against Debian's Open MPI or MPICH (and the
#                             matching parallel HDF5); unset: whatever MPI and
#                             HDF5 CMake finds first (a cluster's loaded modules)
#   WSC_ARCH=portable | native | <-march value>   instruction set (default portable)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${WSC_BUILD_DIR:-$root/build}"
mpi_args=()
case "${WSC_MPI:-}" in
  "") ;;
  openmpi | mpich)
    flavour="$WSC_MPI"
    for tool in mpicc mpicxx mpiexec h5pcc; do
      command -v "$tool.$flavour" >/dev/null || {
        echo "build.sh: $tool.$flavour not found (tools/install-deps.sh installs Debian's $flavour)" >&2
        exit 2
      }
    done
    mpi_args=(-DMPI_C_COMPILER="$(command -v "mpicc.$flavour")"
              -DMPI_CXX_COMPILER="$(command -v "mpicxx.$flavour")"
              -DMPIEXEC_EXECUTABLE="$(command -v "mpiexec.$flavour")"
              -DHDF5_C_COMPILER_EXECUTABLE="$(command -v "h5pcc.$flavour")")
    ;;
  *) echo "build.sh: WSC_MPI must be openmpi or mpich, got '$WSC_MPI'" >&2; exit 2 ;;
esac
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DWSC_ARCH="${WSC_ARCH:-portable}" \
  "${mpi_args[@]}" "$@" >/dev/null
cmake --build "$build" -j "$(nproc)" ${WSC_BUILD_TARGET:+--target "$WSC_BUILD_TARGET"}
