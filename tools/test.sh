#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, runs every test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/tools/install-deps.sh"
export WSC_BUILD_DIR="${WSC_BUILD_DIR:-$root/build-test}"
"$root/tools/build.sh" -DWSC_WERROR=ON
cd "$WSC_BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" "$@"
