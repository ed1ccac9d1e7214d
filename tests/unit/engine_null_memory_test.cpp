// The null storage estimate and the refusal of counts whose nulls cannot fit.
#include "wsc/engine/layout.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace {

using wsc::engine::AnalysisSettings;
using wsc::engine::estimate_null_memory;
using wsc::engine::null_memory_problem;

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

TEST(EngineNullMemory, PermutationCountTooLargeForMemory) {
  AnalysisSettings s;
  s.permutation.count = 2147483647;
  s.encodability.permutations = 0;
  s.bootstrap.count = 0;
  // 4 cells: 2^31 x 4 > keep_null_limit, so only the max statistic is kept:
  // 8 bytes per permutation, twice (state and result).
  const double bytes = 16.0 * 2147483647.0;
  EXPECT_DOUBLE_EQ(estimate_null_memory(s, 4, 1).permutations, bytes);
  EXPECT_EQ(null_memory_problem(s, 4, 1, 4.0 * kGiB),
            "permutation.count = 2147483647 needs about 32.0 GiB per rank for the null; at most 268435456 fit "
            "(4.0 GiB per rank left after the rows)");
  EXPECT_EQ(null_memory_problem(s, 4, 1, bytes), "");
  EXPECT_EQ(null_memory_problem(s, 4, 1, 0.0), "");  // memory unknown
  // 2^40 permutations: 16 TiB; the default 100 encodability permutations take too little to be named.
  s.permutation.count = std::int64_t{1} << 40;
  s.encodability.permutations = 100;
  EXPECT_EQ(null_memory_problem(s, 4, 1, 4.0 * kGiB),
            "permutation.count = 1099511627776 needs about 16.0 TiB per rank for the null; at most 268435356 fit "
            "(4.0 GiB per rank left after the rows)");
  s.encodability.permutations = 0;
  s.permutation.count = 268435456;
  EXPECT_EQ(null_memory_problem(s, 4, 1, 4.0 * kGiB), "");
  s.permutation.count = 268435457;
  EXPECT_NE(null_memory_problem(s, 4, 1, 4.0 * kGiB), "");
}

TEST(EngineNullMemory, KeptCellsAndLooksCount) {
  AnalysisSettings s;
  s.permutation.count = 1000;
  s.encodability.permutations = 0;
  s.bootstrap.count = 0;
  s.sensitivity = {5, 10};
  // 1000 x 50 cells <= 10^7: the cells are kept; two extra max statistics per permutation.
  EXPECT_DOUBLE_EQ(estimate_null_memory(s, 50, 1).permutations, 2.0 * 1000.0 * 8.0 * (1.0 + 2.0 + 50.0));
  s.permutation.stop = wsc::engine::PermutationStop::Decisions;
  s.permutation.look = 10;
  // Plus two int64 counts per cell and per (k, cell) per look: 100 looks.
  EXPECT_DOUBLE_EQ(estimate_null_memory(s, 50, 1).permutations,
                   2.0 * (1000.0 * 8.0 * (1.0 + 2.0 + 50.0) + 100.0 * 16.0 * 50.0 * 3.0));
}

TEST(EngineNullMemory, EncodabilityAndBootstrapAreNamed) {
  AnalysisSettings s;
  s.permutation.count = 100'000;  // 12 cells kept: 2 x 8 x 13 bytes each, 19.8 MiB
  s.encodability.permutations = std::int64_t{1} << 31;
  s.bootstrap.count = 0;
  // Per encodability permutation one score per task (3 tasks), twice.
  EXPECT_DOUBLE_EQ(estimate_null_memory(s, 12, 3).encodability, 48.0 * 2147483648.0);
  const std::string problem = null_memory_problem(s, 12, 3, 2.0 * kGiB);
  EXPECT_EQ(problem.rfind("encodability.permutations = 2147483648 needs about 96.0 GiB per rank for the null; at most ",
                          0),
            0u)
      << problem;
  EXPECT_NE(problem.find("(2.0 GiB per rank left after the rows, 19.8 MiB of it taken by the other nulls)"),
            std::string::npos)
      << problem;
  // At most (2 GiB - 20.8e6 bytes) / 48 bytes encodability permutations.
  EXPECT_NE(problem.find("at most " + std::to_string((2147483648LL - 20'800'000LL) / 48) + " fit"), std::string::npos)
      << problem;
  s.encodability.permutations = 0;
  s.bootstrap.count = 100'000'000;
  EXPECT_EQ(null_memory_problem(s, 12, 3, 2.0 * kGiB).rfind("bootstrap.count = 100000000 needs about", 0), 0u);
  s.cv.folds = 0;  // no folds: no encodability test, nothing to hold
  s.bootstrap.count = 0;
  s.encodability.permutations = std::int64_t{1} << 40;
  EXPECT_DOUBLE_EQ(estimate_null_memory(s, 12, 3).encodability, 0.0);
}

}  // namespace
