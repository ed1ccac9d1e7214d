#!/usr/bin/env bash
# Configures and builds wsc into ./build (or $WSC_BUILD_DIR). Extra arguments
# go to cmake's configure step; WSC_BUILD_TARGET builds one target only.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${WSC_BUILD_DIR:-$root/build}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build" -j "$(nproc)" ${WSC_BUILD_TARGET:+--target "$WSC_BUILD_TARGET"}
