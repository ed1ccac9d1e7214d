#pragma once
// The one place the project includes Eigen. Every other file includes this
// header (directly or through wsc/core/types.hpp), never <Eigen/...>: a check
// in tests/CMakeLists.txt (lint_eigen_includes) enforces it.
//
// GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512 intrinsics
// (the `_mm512_undefined_*` idiom, GCC bug 105593, fixed in GCC 13) once
// Eigen's packet code is inlined into our functions. A warning in inlined
// code counts as "in a system header" only when every function of the
// inlining chain is, so -isystem does not silence it and -Werror would make
// the build depend on the processor it is configured for (-march=native on
// an AVX-512 machine). GCC decides such a warning by the pragmas in force at
// each location of the chain, innermost first: the Eigen frames below lie
// inside this push/pop, so they are ignored there, while a maybe-uninitialized
// whose innermost frame is in our own code stays a warning (and an error
// under WSC_WERROR).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Dense>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
