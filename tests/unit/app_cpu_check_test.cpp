// The start-up processor check: names it knows are looked up, names it does
// not know count as missing, and the extensions this binary was built for are
// all present (the test would not have started otherwise).
#include "wsc/app/cpu_check.hpp"
#include "wsc/version.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

std::string missing(const char* required, int* count = nullptr) {
  char out[256];
  const int n = wsc::app::missing_cpu_features(required, out, sizeof out);
  if (count != nullptr) *count = n;
  return out;
}

TEST(CpuCheck, ThisBuildsExtensionsArePresent) {
  int count = -1;
  EXPECT_EQ(missing(wsc::kCpuFeatures, &count), "") << "built for " << wsc::kCpuFeatures;
  EXPECT_EQ(count, 0);
}

#if defined(__x86_64__)
TEST(CpuCheck, UnknownNamesCountAsMissing) {
  int count = -1;
  EXPECT_EQ(missing("sse3,no-such-thing,,avx512nonsense", &count), "no-such-thing, avx512nonsense");
  EXPECT_EQ(count, 2);
  EXPECT_EQ(missing("", &count), "");
  EXPECT_EQ(count, 0);
}

TEST(CpuCheck, AnswersMatchTheCompilersBuiltin) {
  __builtin_cpu_init();
  EXPECT_EQ(missing("avx2"), __builtin_cpu_supports("avx2") ? "" : "avx2");
  EXPECT_EQ(missing("avx512f"), __builtin_cpu_supports("avx512f") ? "" : "avx512f");
  EXPECT_EQ(missing("sse4.2,fma"),
            std::string(__builtin_cpu_supports("sse4.2") ? "" : "sse4.2") +
                (__builtin_cpu_supports("sse4.2") || __builtin_cpu_supports("fma") ? "" : ", ") +
                (__builtin_cpu_supports("fma") ? "" : "fma"));
}

TEST(CpuCheck, OutputIsCutNotOverrun) {
  char out[8];
  const int n = wsc::app::missing_cpu_features("unknown-one,unknown-two", out, sizeof out);
  EXPECT_EQ(n, 2);
  EXPECT_LT(std::string(out).size(), sizeof out);
}
#endif

}  // namespace
