// Compiled for baseline x86-64 whatever WSC_ARCH is (CMakeLists.txt), and
// kept to plain C-style code with internal linkage: an inline or template
// function shared with the other objects could be linked from a copy built
// for the newer instruction set, which is what this check must not execute.
#include "wsc/app/cpu_check.hpp"

#include "wsc/version.hpp"

#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace wsc::app {

namespace {

#if defined(__x86_64__) && defined(__GNUC__)
/// -1: a name the check does not know; 0: missing; 1: present.
int has_feature(const char* name) {
  __builtin_cpu_init();
#define WSC_FEATURE(text)                 \
  if (std::strcmp(name, text) == 0) {     \
    return __builtin_cpu_supports(text) ? 1 : 0; \
  }
  WSC_FEATURE("sse3")
  WSC_FEATURE("ssse3")
  WSC_FEATURE("sse4.1")
  WSC_FEATURE("sse4.2")
  WSC_FEATURE("popcnt")
  WSC_FEATURE("avx")
  WSC_FEATURE("avx2")
  WSC_FEATURE("fma")
  WSC_FEATURE("bmi")
  WSC_FEATURE("bmi2")
  WSC_FEATURE("avx512f")
  WSC_FEATURE("avx512cd")
  WSC_FEATURE("avx512bw")
  WSC_FEATURE("avx512dq")
  WSC_FEATURE("avx512vl")
  WSC_FEATURE("avx512ifma")
  WSC_FEATURE("avx512vbmi")
  WSC_FEATURE("avx512vbmi2")
  WSC_FEATURE("avx512vnni")
  WSC_FEATURE("avx512bitalg")
  WSC_FEATURE("avx512vpopcntdq")
  WSC_FEATURE("avx512bf16")
#undef WSC_FEATURE
  return -1;
}
#endif

/// Runs before main and before the static constructors of default priority.
__attribute__((constructor(101))) void check_processor() {
  char missing[512];
  if (missing_cpu_features(kCpuFeatures, missing, sizeof missing) == 0) return;
  std::fprintf(stderr,
               "wsc: error: this wsc was built with WSC_ARCH=%s and needs %s, which this processor "
               "lacks; run it on a node that has them, or build with -DWSC_ARCH=portable\n",
               kArch, missing);
  _exit(1);
}

}  // namespace

int missing_cpu_features(const char* required, char* out, std::size_t size) {
  if (size > 0) out[0] = '\0';
  int count = 0;
#if defined(__x86_64__) && defined(__GNUC__)
  char name[32];
  const char* p = required;
  while (*p != '\0') {
    const char* end = std::strchr(p, ',');
    const std::size_t length = end != nullptr ? static_cast<std::size_t>(end - p) : std::strlen(p);
    if (length > 0) {
      const std::size_t kept = length < sizeof name ? length : sizeof name - 1;
      std::memcpy(name, p, kept);
      name[kept] = '\0';
      if (has_feature(name) != 1) {
        const std::size_t used = std::strlen(out);
        if (used + kept + 3 < size) {
          if (count > 0) std::strcat(out, ", ");
          std::strcat(out, name);
        }
        ++count;
      }
    }
    if (end == nullptr) break;
    p = end + 1;
  }
#else
  (void)required;
  (void)out;
  (void)size;
#endif
  return count;
}

}  // namespace wsc::app
