#pragma once
// The processor check: a wsc built with -DWSC_ARCH=native or another -march
// refuses to start, with one line naming what is missing, on a processor
// that lacks an instruction set extension it was compiled for (instead of
// dying later with SIGILL). The check itself is compiled for baseline x86-64
// and runs before main (src/app/cpu_check.cpp).
#include <cstddef>

namespace wsc::app {

/// Writes the comma-separated names in `required` (e.g. "avx2,fma") that
/// this processor lacks, or that the check does not know, to `out`
/// (NUL-terminated, cut at `size`); returns how many. Always 0 off x86-64.
int missing_cpu_features(const char* required, char* out, std::size_t size);

}  // namespace wsc::app
