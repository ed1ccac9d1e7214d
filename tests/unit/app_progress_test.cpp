// RunProgress as a log file sees it (stderr not a terminal): a start line per
// phase at once, progress lines at the log interval, nothing for phases with
// nothing to do, nothing at all when not shown.
#include "wsc/app/progress.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <sstream>
#include <string>
#include <vector>

namespace {

using wsc::app::RunProgress;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

class AppProgress : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::isatty(STDERR_FILENO) != 0) GTEST_SKIP() << "stderr is a terminal: live lines instead of log lines";
  }
};

TEST_F(AppProgress, ShortPhasesPrintOnlyTheirStartLines) {
  std::ostringstream out;
  {
    RunProgress progress(out, true);  // 10 s log interval: these phases are short
    progress.set_describe([](const std::string& phase, std::int64_t total) {
      return phase == "pca" ? "pca: " + std::to_string(total) + " rows" : std::string();
    });
    progress.begin("reading", "reading /embeddings of m.h5");
    progress.update("reading", 1, 2);
    progress.update("reading", 2, 2);
    const auto engine = progress.callback();
    ASSERT_TRUE(engine);
    engine("pca", 0, 100);
    engine("pca", 100, 100);
    engine("fits", 0, 12);
    engine("fits", 12, 12);
    engine("encodability", 0, 0);     // nothing to do
    engine("permutations", 30, 30);   // all done already (merged chunks)
    engine("bootstrap", 5, 20);       // resumed
    engine("bootstrap", 20, 20);
  }
  EXPECT_EQ(lines_of(out.str()),
            (std::vector<std::string>{"wsc: reading /embeddings of m.h5", "wsc: pca: 100 rows", "wsc: fits: 12 steps",
                                      "wsc: bootstrap: 20 steps (continuing: 5 done)"}))
      << out.str();
}

TEST_F(AppProgress, LongPhasesPrintProgressLines) {
  std::ostringstream out;
  RunProgress progress(out, true, 0.0);  // every update is due
  progress.begin("writing", "writing 4 files");
  for (int k = 1; k <= 4; ++k) progress.update("writing", k, 4);
  progress.update("permutations", 0, 10);
  progress.update("permutations", 10, 10);
  const std::vector<std::string> lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 7u) << out.str();
  EXPECT_EQ(lines[0], "wsc: writing 4 files");
  EXPECT_TRUE(starts_with(lines[1], "writing: 1/4 (25.0%), ")) << lines[1];
  EXPECT_TRUE(starts_with(lines[4], "writing: 4/4 (100.0%), ")) << lines[4];
  EXPECT_NE(lines[4].find(" s left"), std::string::npos) << lines[4];
  EXPECT_EQ(lines[5], "wsc: permutations: 10 steps");
  EXPECT_TRUE(starts_with(lines[6], "permutations: 10/10 (100.0%), ")) << lines[6];
}

TEST_F(AppProgress, NotShownPrintsNothing) {
  std::ostringstream out;
  RunProgress progress(out, false, 0.0);
  EXPECT_FALSE(progress.callback());
  progress.begin("reading", "reading");
  progress.update("reading", 1, 1);
  progress.update("pca", 0, 10);
  progress.finish();
  EXPECT_EQ(out.str(), "");
}

}  // namespace
