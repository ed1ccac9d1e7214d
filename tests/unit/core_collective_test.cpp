// The reduction hook as a real collective: several participants on threads,
// each with its own block of rows (some empty), joined by an in-process
// allreduce. Checks that the distributed objective and fit equal the serial
// ones and that every participant makes the same sequence of reduce calls.
#include "wsc/core/trust_region_newton.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <string>
#include <thread>

namespace wsc::core {
namespace {

/// An allreduce (sum) among `parties` threads. A call completes when every
/// party has made its matching call. If the parties disagree on the count, or
/// one party finishes while others still wait (different numbers of calls),
/// the collective is recorded as broken instead of hanging the test.
class ThreadAllreduce {
 public:
  explicit ThreadAllreduce(int parties) : parties_(parties), calls_(static_cast<std::size_t>(parties), 0) {}

  SumReduce hook(int party) {
    return [this, party](double* data, std::size_t count) { reduce(party, data, count); };
  }

  /// A party is done with all its collective calls.
  void finish() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++finished_;
    changed_.notify_all();
  }

  bool broken() const { return broken_; }
  const std::vector<int>& calls() const { return calls_; }
  std::string what() const { return what_; }

 private:
  void reduce(int party, double* data, std::size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    ++calls_[static_cast<std::size_t>(party)];
    if (broken_) return;
    if (arrived_ == 0) {
      sum_.assign(data, data + count);
    } else if (sum_.size() != count) {
      fail("count mismatch: " + std::to_string(count) + " vs " + std::to_string(sum_.size()));
      return;
    } else {
      for (std::size_t i = 0; i < count; ++i) sum_[i] += data[i];
    }
    if (++arrived_ == parties_) {
      result_ = sum_;
      arrived_ = 0;
      ++generation_;
      changed_.notify_all();
    } else {
      const std::uint64_t mine = generation_;
      const bool done = changed_.wait_for(lock, std::chrono::seconds(20), [&] {
        return generation_ != mine || broken_ || finished_ > 0;
      });
      if (generation_ == mine) {
        fail(done ? "a party finished while others were in a reduce" : "reduce timed out");
        return;
      }
    }
    std::copy(result_.begin(), result_.end(), data);
  }

  void fail(const std::string& why) {
    if (!broken_) what_ = why;
    broken_ = true;
    changed_.notify_all();
  }

  int parties_;
  std::mutex mutex_;
  std::condition_variable changed_;
  int arrived_ = 0;
  int finished_ = 0;
  std::uint64_t generation_ = 0;
  std::vector<double> sum_, result_;
  std::vector<int> calls_;
  bool broken_ = false;
  std::string what_;
};

struct Problem {
  RowMatrix x;
  Labels y;
};

Problem make_problem(Index n, Index d, int classes, std::uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  Matrix means(classes, d);
  for (Index c = 0; c < classes; ++c)
    for (Index j = 0; j < d; ++j) means(c, j) = normal(rng);
  Problem p;
  p.x.resize(n, d);
  p.y.resize(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % classes);
    for (Index j = 0; j < d; ++j) p.x(i, j) = means(label, j) + normal(rng);
    p.y[static_cast<std::size_t>(i)] = i % 9 == 0 ? -1 : label;
  }
  return p;
}

/// Row blocks [begin, end) of each party.
using Blocks = std::vector<std::pair<Index, Index>>;

/// Runs `body(party, x_block, y_block, reduce)` on one thread per block.
template <typename Body>
void run_parties(const Problem& p, const Blocks& blocks, ThreadAllreduce& comm, Body body) {
  std::vector<RowMatrix> xs;
  std::vector<Labels> ys;
  for (const auto& [begin, end] : blocks) {
    xs.emplace_back(p.x.middleRows(begin, end - begin));
    ys.emplace_back(p.y.begin() + begin, p.y.begin() + end);
  }
  std::vector<std::thread> threads;
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    threads.emplace_back([&, k] {
      body(static_cast<int>(k), xs[k], ys[k], comm.hook(static_cast<int>(k)));
      comm.finish();
    });
  }
  for (auto& t : threads) t.join();
}

TEST(Collective, ObjectiveOverBlocksEqualsSerial) {
  const int classes = 3;
  const Problem p = make_problem(90, 4, classes, 1);
  // Three parties, the middle one without rows.
  const Blocks blocks = {{0, 50}, {50, 50}, {50, 90}};
  SoftmaxObjective serial(p.x, p.y, classes, 0.01, identity_reduce());
  std::mt19937_64 rng(2);
  std::normal_distribution<double> normal(0.0, 0.5);
  Vector theta(serial.parameters()), v(serial.parameters());
  for (Index k = 0; k < theta.size(); ++k) {
    theta(k) = normal(rng);
    v(k) = normal(rng);
  }
  Vector g_ref, hv_ref;
  const double f_ref = serial.value_and_gradient(theta, g_ref);
  serial.hessian_vector(v, hv_ref);
  const Vector diag_ref = serial.hessian_diagonal();

  ThreadAllreduce comm(3);
  std::vector<double> f(3);
  std::vector<Vector> g(3), hv(3), diag(3);
  run_parties(p, blocks, comm, [&](int k, const RowMatrix& x, const Labels& y, SumReduce reduce) {
    const auto i = static_cast<std::size_t>(k);
    SoftmaxObjective obj(x, y, classes, 0.01, reduce);
    f[i] = obj.value_and_gradient(theta, g[i]);
    obj.hessian_vector(v, hv[i]);
    diag[i] = obj.hessian_diagonal();
  });
  ASSERT_FALSE(comm.broken()) << comm.what();
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(comm.calls()[k], 4);  // construction, value, product, diagonal
    EXPECT_NEAR(f[k], f_ref, 1e-14);
    EXPECT_LE((g[k] - g_ref).lpNorm<Eigen::Infinity>(), 1e-14);
    EXPECT_LE((hv[k] - hv_ref).lpNorm<Eigen::Infinity>(), 1e-14);
    EXPECT_LE((diag[k] - diag_ref).lpNorm<Eigen::Infinity>(), 1e-14);
  }
}

TEST(Collective, FitOverBlocksEqualsSerialFit) {
  const int classes = 4;
  const double l2 = 1e-3;
  const Problem p = make_problem(1200, 12, classes, 3);
  SolverOptions options;
  options.tol = 1e-10;
  FitReport serial_report;
  const ProbeHead serial = fit_probe(p.x, p.y, classes, l2, options, identity_reduce(), &serial_report);
  ASSERT_TRUE(serial_report.converged);

  for (const Blocks& blocks : {Blocks{{0, 600}, {600, 1200}},
                               Blocks{{0, 0}, {0, 1}, {1, 700}, {700, 1200}}}) {
    const std::size_t parties = blocks.size();
    ThreadAllreduce comm(static_cast<int>(parties));
    std::vector<ProbeHead> heads(parties);
    std::vector<FitReport> reports(parties);
    run_parties(p, blocks, comm, [&](int k, const RowMatrix& x, const Labels& y, SumReduce reduce) {
      const auto i = static_cast<std::size_t>(k);
      heads[i] = fit_probe(x, y, classes, l2, options, reduce, &reports[i]);
    });
    ASSERT_FALSE(comm.broken()) << comm.what();
    for (std::size_t k = 0; k < parties; ++k) {
      // Same decisions everywhere: same number of collective calls, same result.
      EXPECT_EQ(comm.calls()[k], comm.calls()[0]);
      EXPECT_TRUE(reports[k].converged);
      EXPECT_EQ(reports[k].iterations, reports[0].iterations);
      EXPECT_EQ(heads[k].weight, heads[0].weight);
      EXPECT_EQ(heads[k].bias, heads[0].bias);
    }
    // Against the serial fit: summation order differs, so compare within
    // the optimum's uncertainty |g| / l2 (per entry, both sides converged).
    const double bound = 2.0 * std::sqrt(static_cast<double>(classes * 13)) * options.tol / l2;
    EXPECT_LE((heads[0].weight - serial.weight).lpNorm<Eigen::Infinity>(), bound);
    EXPECT_LE((heads[0].bias - serial.bias).lpNorm<Eigen::Infinity>(), bound);
  }
}

TEST(Collective, LocalLabelErrorIsAgreedByAll) {
  // A bad label on one party makes every party throw (after the same single
  // reduce), instead of one party leaving the others in the collective.
  Problem p = make_problem(40, 2, 2, 4);
  p.y[30] = 5;
  ThreadAllreduce comm(2);
  std::vector<int> threw(2, 0);
  run_parties(p, Blocks{{0, 20}, {20, 40}}, comm,
              [&](int k, const RowMatrix& x, const Labels& y, SumReduce reduce) {
                try {
                  SoftmaxObjective obj(x, y, 2, 0.1, reduce);
                } catch (const std::invalid_argument&) {
                  threw[static_cast<std::size_t>(k)] = 1;
                }
              });
  ASSERT_FALSE(comm.broken()) << comm.what();
  EXPECT_EQ(threw, (std::vector<int>{1, 1}));
  EXPECT_EQ(comm.calls(), (std::vector<int>{1, 1}));
}

}  // namespace
}  // namespace wsc::core
