// Calibration of run_analysis's permutation p-values: on data where the null
// hypothesis holds under the chosen exchangeability scheme, p_perm must be
// uniform on its grid {1/(m+1), ..., 1} and p_fwer must not reject more often
// than its level. Each test runs many small replicate datasets generated
// identically on every rank (fixed seeds), so the outcome is deterministic.
//
// Statistics (one cell per replicate, so the p-values are independent):
//  - chi-square over 10 equiprobable bins of the grid (m = 39: 40 grid points,
//    4 per bin). Rejected above 27.877, the 1e-3 upper quantile of chi-square
//    with 9 degrees of freedom; the exact discrete uniform passes with
//    probability about 0.999.
//  - the number of replicates whose smallest p_fwer over all cells is <= 0.05
//    (exactly 2/40 under the complete null): rejected when its binomial(R, 0.05)
//    upper tail is below 1e-3.
// On the "within" and "blocks" data the free scheme, which ignores the
// exchangeability structure, is shown to fail the chi-square check, so a
// restricted scheme that fell back to free permutation would be caught.
#include "wsc/core/types.hpp"
#include "wsc/engine/analysis.hpp"
#include "wsc/engine/task_labels.hpp"
#include "wsc/par/communicator.hpp"
#include "wsc/par/row_partition.hpp"

#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using wsc::core::Index;
using wsc::core::Matrix;
using wsc::core::RowMatrix;
using wsc::engine::AnalysisInput;
using wsc::engine::AnalysisResult;
using wsc::engine::AnalysisSettings;

constexpr std::int64_t kPermutations = 39;  // p grid k/40, k = 1..40
constexpr int kBins = 10;                   // 4 grid points per bin
constexpr double kChiSquareCritical = 27.877;  // chi-square(9), upper 1e-3 quantile
constexpr double kTailLevel = 1e-3;
constexpr double kPi = 3.14159265358979323846;

/// Portable draws from std::mt19937_64 (the standard distributions' algorithms
/// are left to the library; these are not), so every platform makes the same data.
class Draws {
 public:
  explicit Draws(std::uint64_t seed) : gen_(seed) {}
  double uniform() { return (static_cast<double>(gen_() >> 11) + 0.5) * 0x1.0p-53; }
  double normal() {
    const double u = uniform();
    const double v = uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * kPi * v);
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(gen_() % n); }
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

 private:
  std::mt19937_64 gen_;
};

/// One replicate dataset, whole (every rank holds all of it).
struct Dataset {
  RowMatrix x;                           // N x d
  wsc::core::ProbeHead primary;          // C x d
  std::vector<std::int64_t> metadata;    // one code per row
  std::vector<std::int64_t> strata;      // scheme "within"
  std::vector<std::int64_t> blocks;      // scheme "blocks"
};

/// `counts[c]` copies of c, in shuffled order.
std::vector<std::int64_t> shuffled_codes(const std::vector<int>& counts, Draws& draws) {
  std::vector<std::int64_t> codes;
  for (std::size_t c = 0; c < counts.size(); ++c) {
    codes.insert(codes.end(), static_cast<std::size_t>(counts[c]), static_cast<std::int64_t>(c));
  }
  draws.shuffle(codes);
  return codes;
}

/// `classes` primary classes of `per_class` rows, embedded as class mean 2 e_c
/// plus N(0, I) in d = 5; the primary head's rows are the centred class means.
/// strata = primary class.
Dataset class_embedding(int classes, int per_class, Draws& draws) {
  const Index d = 5;
  Dataset data;
  data.strata =
      shuffled_codes(std::vector<int>(static_cast<std::size_t>(classes), per_class), draws);
  const Index n = static_cast<Index>(data.strata.size());
  Matrix means = Matrix::Zero(classes, d);
  for (int c = 0; c < classes; ++c) means(c, c) = 2.0;
  data.x.resize(n, d);
  for (Index i = 0; i < n; ++i) {
    const Index c = data.strata[static_cast<std::size_t>(i)];
    for (Index k = 0; k < d; ++k) data.x(i, k) = means(c, k) + draws.normal();
  }
  data.primary.weight = means.rowwise() - means.colwise().mean();
  data.primary.bias = wsc::core::Vector::Zero(classes);
  return data;
}

/// Scheme "free": three primary classes of 20 rows and three balanced metadata
/// classes drawn independently of the embedding and of the primary classes.
Dataset free_null(std::uint64_t seed) {
  Draws draws(seed);
  Dataset data = class_embedding(3, 20, draws);
  data.metadata = shuffled_codes({20, 20, 20}, draws);
  return data;
}

/// Scheme "within": two primary classes of 30 rows and a binary metadata label
/// confounded with them (6 of class 0's rows and 24 of class 1's carry label
/// 1), in random order within each class, so it is independent of the
/// embedding given the class. Strata = primary class.
Dataset confounded(std::uint64_t seed) {
  Draws draws(seed);
  Dataset data = class_embedding(2, 30, draws);
  const int ones[2] = {6, 24};
  std::vector<std::vector<std::int64_t>> per_stratum(2);
  for (std::size_t s = 0; s < 2; ++s) {
    per_stratum[s] = shuffled_codes({30 - ones[s], ones[s]}, draws);
  }
  std::vector<std::size_t> next(2, 0);
  data.metadata.resize(data.strata.size());
  for (std::size_t i = 0; i < data.strata.size(); ++i) {
    const auto s = static_cast<std::size_t>(data.strata[i]);
    data.metadata[i] = per_stratum[s][next[s]++];
  }
  return data;
}

/// Scheme "blocks": 16 patients of 6 rows (row i belongs to patient i % 16, so a
/// patient's rows are spread over the ranks). A balanced binary label per
/// patient; each row is the patient's random effect (N(0, 2) along e_0) plus
/// row noise (sd 0.5 along e_0, 1 elsewhere) in d = 4. The primary head is two
/// classes mostly along e_0, the direction of the block effect.
Dataset patient_blocks(std::uint64_t seed) {
  Draws draws(seed);
  const int patients = 16;
  const int rows_each = 6;
  const Index d = 4;
  const Index n = patients * rows_each;
  Dataset data;
  const std::vector<std::int64_t> patient_label =
      shuffled_codes({patients / 2, patients / 2}, draws);
  std::vector<double> effect(patients);
  for (double& e : effect) e = std::sqrt(2.0) * draws.normal();
  data.x.resize(n, d);
  data.blocks.resize(static_cast<std::size_t>(n));
  data.metadata.resize(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    const auto p = static_cast<std::size_t>(i % patients);
    data.blocks[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(p);
    data.metadata[static_cast<std::size_t>(i)] = patient_label[p];
    data.x(i, 0) = effect[p] + 0.5 * draws.normal();
    for (Index k = 1; k < d; ++k) data.x(i, k) = draws.normal();
  }
  data.primary.weight = Matrix::Zero(2, d);
  data.primary.weight(0, 0) = -1.0;
  data.primary.weight(1, 0) = 1.0;
  data.primary.weight(0, 1) = -0.2;
  data.primary.weight(1, 1) = 0.2;
  data.primary.bias = wsc::core::Vector::Zero(2);
  return data;
}

/// This rank's AnalysisInput for `data` under `scheme`.
AnalysisInput make_input(const Dataset& data, const std::string& scheme,
                         const wsc::par::Communicator& comm) {
  AnalysisInput in;
  in.rows = data.x.rows();
  in.dim = data.x.cols();
  const wsc::par::RowBlock block = wsc::par::block_of(in.rows, comm.size(), comm.rank());
  in.row_begin = block.begin;
  in.x = wsc::core::RowMatrix(data.x.middleRows(block.begin, block.count));
  in.primary_task = "primary";
  in.primary_from_file = true;
  in.primary_head = data.primary;
  for (Index c = 0; c < data.primary.classes(); ++c) {
    in.primary_class_names.push_back(std::to_string(c));
  }
  in.metadata.push_back(wsc::engine::make_task_labels("meta", "test", data.metadata, {}, {}));
  if (scheme == "within") in.permutation_strata = data.strata;
  if (scheme == "blocks") in.permutation_blocks = data.blocks;
  return in;
}

AnalysisSettings settings_for(const std::string& scheme, std::uint64_t permutation_seed, int components,
                              bool encodability = false) {
  AnalysisSettings s;
  s.permutation.scheme = *wsc::engine::permutation_scheme_from(scheme);
  // The encodability null (CV refits per permutation) only where it is checked.
  s.encodability.permutations = encodability ? kPermutations : 0;
  s.pca.components = components;
  // A firm ridge and a loose tolerance keep the fits (and so the collective
  // calls) few; neither affects exchangeability.
  s.probe.l2 = 0.1;
  s.probe.solver.tol = 1e-6;
  s.cv.folds = 2;
  s.permutation.count = kPermutations;
  s.permutation.seed = permutation_seed;
  return s;
}

/// p-values collected over replicates: one cell's p_perm per replicate and the
/// smallest p_fwer over all cells.
struct Collected {
  std::vector<double> p_cell;
  std::vector<double> p_fwer_min;
  std::vector<double> p_encoded;  ///< when the encodability test ran
  std::int64_t unconverged = 0;
};

void collect(const AnalysisResult& r, std::size_t replicate, Collected& out) {
  ASSERT_FALSE(r.p_perm.empty());
  out.p_cell.push_back(r.p_perm[replicate % r.p_perm.size()]);
  out.p_fwer_min.push_back(*std::min_element(r.p_fwer.begin(), r.p_fwer.end()));
  out.unconverged += r.permutation_unconverged;
  if (!r.metadata.empty() && !std::isnan(r.metadata[0].p_encoded)) {
    out.p_encoded.push_back(r.metadata[0].p_encoded);
  }
}

/// Counts of p over the 10 equiprobable bins of the grid k/(m+1).
std::vector<int> bin_counts(const std::vector<double>& p) {
  std::vector<int> counts(kBins, 0);
  const int per_bin = static_cast<int>(kPermutations + 1) / kBins;
  for (double v : p) {
    const long k = std::lround(v * static_cast<double>(kPermutations + 1));  // 1..m+1
    const long bin = std::clamp((k - 1) / per_bin, 0L, static_cast<long>(kBins - 1));
    ++counts[static_cast<std::size_t>(bin)];
  }
  return counts;
}

double chi_square(const std::vector<int>& counts, std::size_t total) {
  const double expected = static_cast<double>(total) / kBins;
  double chi2 = 0.0;
  for (int c : counts) chi2 += (c - expected) * (c - expected) / expected;
  return chi2;
}

/// P(X >= k) for X ~ binomial(n, q).
double binomial_upper_tail(std::size_t n, std::size_t k, double q) {
  double tail = 0.0;
  for (std::size_t j = k; j <= n; ++j) {
    const double nn = static_cast<double>(n);
    const double jj = static_cast<double>(j);
    const double log_term = std::lgamma(nn + 1) - std::lgamma(jj + 1) - std::lgamma(nn - jj + 1) +
                            jj * std::log(q) + (nn - jj) * std::log1p(-q);
    tail += std::exp(log_term);
  }
  return std::min(tail, 1.0);
}

std::size_t at_most(const std::vector<double>& p, double level) {
  return static_cast<std::size_t>(
      std::count_if(p.begin(), p.end(), [&](double v) { return v <= level + 1e-12; }));
}

std::string describe(const std::vector<double>& p) {
  std::ostringstream s;
  s << "bin counts (p in ((b-1)/10, b/10]):";
  for (int c : bin_counts(p)) s << ' ' << c;
  s << "; chi-square " << chi_square(bin_counts(p), p.size()) << "; P(p <= 0.05) "
    << static_cast<double>(at_most(p, 0.05)) / static_cast<double>(p.size());
  return s.str();
}

/// The checks of a calibrated scheme.
void expect_calibrated(const Collected& c, const std::string& what) {
  const std::vector<int> counts = bin_counts(c.p_cell);
  EXPECT_LT(chi_square(counts, c.p_cell.size()), kChiSquareCritical)
      << what << ": p_perm not uniform; " << describe(c.p_cell);
  const std::size_t fwer_rejections = at_most(c.p_fwer_min, 0.05);
  EXPECT_GT(binomial_upper_tail(c.p_fwer_min.size(), fwer_rejections, 0.05), kTailLevel)
      << what << ": min p_fwer <= 0.05 in " << fwer_rejections << " of " << c.p_fwer_min.size()
      << " replicates";
  EXPECT_EQ(c.unconverged, 0) << what;
}

/// Every rank must hold rank 0's p-values exactly.
void expect_same_on_every_rank(const Collected& c, const wsc::par::Communicator& comm,
                               const std::string& what) {
  std::vector<double> mine = c.p_cell;
  mine.insert(mine.end(), c.p_fwer_min.begin(), c.p_fwer_min.end());
  std::vector<double> root = mine;
  comm.broadcast(root.data(), root.size());
  std::size_t differ = 0;
  for (std::size_t i = 0; i < mine.size(); ++i) differ += mine[i] != root[i] ? 1 : 0;
  EXPECT_EQ(differ, 0u) << what << ": rank " << comm.rank() << " differs from rank 0";
}

// Replicates per test: 300 analyses in all (about 100 collective calls each),
// a few seconds at 4 ranks on 2 busy cores. At these sizes the calibrated
// schemes passed with 1500 replicates each (chi-square 5.9, 5.5, 8.4).
constexpr std::size_t kFreeReplicates = 60;
constexpr std::size_t kWithinReplicates = 80;
constexpr std::size_t kWithinFreeReplicates = 20;  // the free scheme on the first ones
constexpr std::size_t kBlockReplicates = 80;
constexpr std::size_t kBlockFreeReplicates = 60;

AnalysisResult analyse(const Dataset& data, const std::string& scheme,
                       std::uint64_t permutation_seed, int components,
                       const wsc::par::Communicator& comm, bool encodability = false) {
  return wsc::engine::run_analysis(make_input(data, scheme, comm),
                                   settings_for(scheme, permutation_seed, components, encodability), comm,
                                   nullptr);
}

TEST(EngineNullUniformity, FreeSchemeIsUniformForIndependentLabels) {
  wsc::par::Communicator comm(MPI_COMM_WORLD);
  Collected free;
  for (std::size_t r = 0; r < kFreeReplicates; ++r) {
    // Three PCA components of five: the projection is fitted on the
    // embedding alone, so the labels stay exchangeable.
    collect(analyse(free_null(0x5eed0000u + r), "free", 1000 + r, 3, comm, true), r, free);
  }
  expect_calibrated(free, "free scheme, independent labels");
  // The labels are not in the embedding: the encodability p-value (CV AUROC
  // against its permutation null) is uniform too.
  ASSERT_EQ(free.p_encoded.size(), kFreeReplicates);
  EXPECT_LT(chi_square(bin_counts(free.p_encoded), free.p_encoded.size()), kChiSquareCritical)
      << "p_encoded not uniform; " << describe(free.p_encoded);
  expect_same_on_every_rank(free, comm, "free scheme, independent labels");
}

TEST(EngineNullUniformity, WithinSchemeIsUniformForLabelsConfoundedWithStrata) {
  wsc::par::Communicator comm(MPI_COMM_WORLD);
  Collected within;
  Collected free;
  for (std::size_t r = 0; r < kWithinReplicates; ++r) {
    const Dataset data = confounded(0xc0f00000u + r);
    collect(analyse(data, "within", 2000 + r, 0, comm), r, within);
    if (r < kWithinFreeReplicates) collect(analyse(data, "free", 2000 + r, 0, comm), r, free);
  }
  expect_calibrated(within, "within scheme, labels confounded with the strata");
  expect_same_on_every_rank(within, comm, "within scheme");
  expect_same_on_every_rank(free, comm, "free scheme, confounded labels");
  // The label follows the primary class, which the embedding encodes, so its
  // head aligns with the primary head; free permutation breaks that link and
  // rejects nearly always (measured: about 0.8 of p-values <= 0.05).
  EXPECT_GT(chi_square(bin_counts(free.p_cell), free.p_cell.size()), kChiSquareCritical)
      << "free scheme on confounded labels: " << describe(free.p_cell);
  EXPECT_GT(at_most(free.p_cell, 0.05), free.p_cell.size() / 2)
      << "free scheme on confounded labels: " << describe(free.p_cell);
}

TEST(EngineNullUniformity, BlockSchemeIsUniformForPatientLevelLabels) {
  wsc::par::Communicator comm(MPI_COMM_WORLD);
  Collected blocks;
  Collected free;
  for (std::size_t r = 0; r < kBlockReplicates; ++r) {
    const Dataset data = patient_blocks(0xb10c0000u + r);
    collect(analyse(data, "blocks", 3000 + r, 0, comm), r, blocks);
    if (r < kBlockFreeReplicates) collect(analyse(data, "free", 3000 + r, 0, comm), r, free);
  }
  expect_calibrated(blocks, "block scheme, patient-level labels");
  expect_same_on_every_rank(blocks, comm, "block scheme");
  expect_same_on_every_rank(free, comm, "free scheme, patient-level labels");
  // Free permutation treats the 96 rows as independent although a patient's
  // six rows share its label and its random effect: anti-conservative
  // (measured over 1500 replicates: 0.26 of p-values <= 0.05, 0.39 <= 0.1).
  const std::vector<int> counts = bin_counts(free.p_cell);
  EXPECT_GT(chi_square(counts, free.p_cell.size()), kChiSquareCritical)
      << "free scheme on patient-level labels: " << describe(free.p_cell);
  EXPECT_GT(counts.front(), static_cast<int>(free.p_cell.size() / kBins))
      << "free scheme on patient-level labels: " << describe(free.p_cell);
}

}  // namespace
