// The one cell order (task, primary class, metadata class).
#include "wsc/engine/cell_index.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace {

using wsc::core::Matrix;
using wsc::engine::Cell;
using wsc::engine::CellIndex;

TEST(CellIndex, OrdersTasksThenPrimaryThenMetadataClasses) {
  const CellIndex cells({{2, 3}, {2, 2}});
  EXPECT_EQ(cells.size(), 10u);
  EXPECT_EQ(cells.tasks(), 2u);
  EXPECT_EQ(cells.begin(0), 0u);
  EXPECT_EQ(cells.end(0), 6u);
  EXPECT_EQ(cells.begin(1), 6u);
  EXPECT_EQ(cells.end(1), 10u);
  EXPECT_EQ(cells.at(0, 1, 2), 5u);
  EXPECT_EQ(cells.at(1, 1, 0), 8u);

  std::vector<Cell> seen;
  cells.for_each([&](const Cell& c) { seen.push_back(c); });
  ASSERT_EQ(seen.size(), 10u);
  for (std::size_t k = 0; k < seen.size(); ++k) {
    EXPECT_EQ(seen[k].index, k);
    EXPECT_EQ(cells.at(seen[k].task, seen[k].i, seen[k].j), k);
  }
  EXPECT_EQ(seen[3].task, 0u);
  EXPECT_EQ(seen[3].i, 1);
  EXPECT_EQ(seen[3].j, 0);
  EXPECT_EQ(seen[7].task, 1u);
  EXPECT_EQ(seen[7].i, 0);
  EXPECT_EQ(seen[7].j, 1);
}

TEST(CellIndex, TaskMatrixInvertsTheFlatOrder) {
  Matrix a(2, 3), b(3, 1);
  a << 1, 2, 3, 4, 5, 6;
  b << 7, 8, 9;
  const CellIndex cells({{2, 3}, {3, 1}});
  std::vector<double> flat(cells.size());
  cells.for_each([&](const Cell& c) { flat[c.index] = (c.task == 0 ? a : b)(c.i, c.j); });
  EXPECT_EQ(flat, (std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(cells.task_matrix(0, flat), a);
  EXPECT_EQ(cells.task_matrix(1, flat), b);
}

TEST(CellIndex, EmptyHasNoCells) {
  const CellIndex none;
  EXPECT_EQ(none.size(), 0u);
  EXPECT_EQ(none.tasks(), 0u);
  int calls = 0;
  none.for_each([&](const Cell&) { ++calls; });
  EXPECT_EQ(calls, 0);
}

}  // namespace
