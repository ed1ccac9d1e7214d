#!/usr/bin/env bash
# Builds wsc with AddressSanitizer and UndefinedBehaviorSanitizer
# (-DWSC_SANITIZE=ON, into build-asan/) and runs the unit, mpi and e2e tests
# under them: any report (an invalid access, a leak of wsc's own, undefined
# behaviour) aborts the process and fails its test. Arguments go to ctest
# (default: -L 'unit|mpi|e2e'). WSC_MPI picks the MPI as for tools/build.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/tools/install-deps.sh"
dir="${WSC_BUILD_DIR:-$root/build-asan}"
start=$SECONDS
WSC_BUILD_DIR="$dir" "$root/tools/build.sh" -DWSC_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "sanitize.sh: build took $((SECONDS - start)) s"
# halt_on_error: the first report ends the process with a non-zero status.
# detect_leaks with suppressions for the MPI and HDF5 libraries' own
# start-up allocations. allocator_may_return_null stays 0: an allocation
# larger than the machine is a finding, not a std::bad_alloc to recover from.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
export LSAN_OPTIONS="suppressions=$root/tools/sanitizers/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
start=$SECONDS
cd "$dir"
if [ $# -eq 0 ]; then set -- -L 'unit|mpi|e2e'; fi
ctest --output-on-failure -j "$(nproc)" "$@"
echo "sanitize.sh: tests took $((SECONDS - start)) s"
