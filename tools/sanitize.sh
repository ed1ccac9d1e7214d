#!/usr/bin/env bash
# Builds wsc with AddressSanitizer and UndefinedBehaviorSanitizer
# (-DWSC_SANITIZE=ON, into build-asan/) and runs the unit, mpi and e2e tests
# under them: any report (an invalid access, undefined behaviour, and in the
# serial unit tests a leak) aborts the process and fails its test.
# Argument: a ctest label regex (default 'unit|mpi|e2e'). WSC_MPI picks the
# MPI as for tools/build.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/tools/install-deps.sh"
dir="${WSC_BUILD_DIR:-$root/build-asan}"
start=$SECONDS
WSC_BUILD_DIR="$dir" "$root/tools/build.sh" -DWSC_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "sanitize.sh: build took $((SECONDS - start)) s"
# halt_on_error: the first report ends the process with a non-zero status.
# allocator_may_return_null stays 0: an allocation larger than the machine is
# a finding, not a std::bad_alloc to recover from.
asan_options="halt_on_error=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
cd "$dir"
labels="${*:-unit|mpi|e2e}"
# LeakSanitizer runs on the processes that never start MPI (the serial unit
# tests). A process that calls MPI_Init ends with Open MPI's and PMIx's
# start-up allocations unfreed, made inside components that are unloaded
# before LeakSanitizer looks, so their reports name no library and cannot be
# told from ours: there leaks are not checked, everything else is. The serial
# tests need no leak suppressions.
start=$SECONDS
ASAN_OPTIONS="$asan_options:detect_leaks=1" \
  ctest --output-on-failure -j "$(nproc)" -L "$labels" -R '^(core|engine|io|app)_unit_tests$'
ASAN_OPTIONS="$asan_options:detect_leaks=0" \
  ctest --output-on-failure -j "$(nproc)" -L "$labels" -E '^(core|engine|io|app)_unit_tests$'
echo "sanitize.sh: tests took $((SECONDS - start)) s"
