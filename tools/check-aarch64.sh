#!/usr/bin/env bash
# Compiles the numerical core (src/core, where Eigen's vector code is) for
# aarch64 with Debian's cross compiler, the project's warnings as errors and
# the portable default (-march=armv8-a, Eigen's NEON path): evidence that the
# default build is not x86-only. Compile only: running it needs an aarch64
# machine. Installs g++-aarch64-linux-gnu when missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cxx=aarch64-linux-gnu-g++
if ! command -v "$cxx" >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends g++-aarch64-linux-gnu >/dev/null
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
flags=(-std=c++17 -O2 -ffp-contract=off -Wall -Wextra -Wpedantic -Wshadow -Wconversion
       -Wno-sign-conversion -Werror -I"$root/include" -isystem /usr/include/eigen3)
n=0
for src in "$root"/src/core/*.cpp; do
  "$cxx" "${flags[@]}" -c "$src" -o "$out/$(basename "$src" .cpp).o"
  n=$((n + 1))
done
simd="$(printf '#include "wsc/core/eigen.hpp"\n#include <cstdio>\nint main() { std::puts(Eigen::SimdInstructionSetsInUse()); }\n' |
        "$cxx" "${flags[@]}" -x c++ -E - | grep -c 'arm_neon' || true)"
echo "check-aarch64: $n core sources compiled for $("$cxx" -dumpmachine) with -Werror ($(file -b "$out/pca.o" | cut -d, -f1-2)); arm_neon.h included: $([ "$simd" -gt 0 ] && echo yes || echo no)"
