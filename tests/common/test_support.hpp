#pragma once
// Helpers shared by the serial tests of the numerical core: random problems
// and a threads-as-ranks harness that runs one fit per row block on its own
// thread, the blocks' sums combined by an in-process allreduce.
#include "wsc/core/types.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace wsc_test {

/// The message of the std::invalid_argument that f throws ("" if none).
template <typename F>
std::string invalid_argument_message(F f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

using wsc::core::Index;
using wsc::core::Labels;
using wsc::core::Matrix;
using wsc::core::RowMatrix;
using wsc::core::SumReduce;

struct Problem {
  RowMatrix x;
  Labels y;
};

/// Gaussian classes: row i belongs to class i mod C and is
/// offset + (mean_{class} + N(0, I)) * scale_j. The class means are drawn
/// N(0, I) and, when separation > 0, rescaled to that norm. Row i is
/// unlabelled (-1) when unlabelled_every > 0 and i mod unlabelled_every ==
/// unlabelled_at.
struct GaussianClasses {
  Index n = 100;
  Index d = 4;
  int classes = 2;
  std::uint32_t seed = 1;
  double separation = 0.0;  // <= 0: the drawn means as they are
  double offset = 0.0;
  enum class Scales { none, cycle5, geometric } scales = Scales::none;
  double scale = 1.0;  // geometric: feature j scaled by scale^(j / (d-1)); cycle5: 1 + 2 (j mod 5)
  int unlabelled_every = 0;
  int unlabelled_at = 0;
};

inline Problem make_problem(const GaussianClasses& s) {
  std::mt19937_64 rng(s.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  Matrix means(s.classes, s.d);
  for (Index c = 0; c < s.classes; ++c) {
    for (Index j = 0; j < s.d; ++j) means(c, j) = normal(rng);
    if (s.separation > 0.0) means.row(c) *= s.separation / means.row(c).norm();
  }
  Problem p;
  p.x.resize(s.n, s.d);
  p.y.resize(static_cast<std::size_t>(s.n));
  for (Index i = 0; i < s.n; ++i) {
    const int label = static_cast<int>(i % s.classes);
    for (Index j = 0; j < s.d; ++j) {
      double scale = 1.0;
      if (s.scales == GaussianClasses::Scales::cycle5) {
        scale = 1.0 + 2.0 * static_cast<double>(j % 5);
      } else if (s.scales == GaussianClasses::Scales::geometric) {
        const double f = s.d > 1 ? static_cast<double>(j) / static_cast<double>(s.d - 1) : 0.0;
        scale = std::pow(s.scale, f);
      }
      p.x(i, j) = s.offset + (means(label, j) + normal(rng)) * scale;
    }
    const bool unlabelled = s.unlabelled_every > 0 && i % s.unlabelled_every == s.unlabelled_at;
    p.y[static_cast<std::size_t>(i)] = unlabelled ? -1 : label;
  }
  return p;
}

/// Gaussian rows without class structure, labels uniform over the classes,
/// every `skip_every`-th row unlabelled when skip_every > 0.
inline Problem random_problem(Index n, Index d, int classes, int skip_every, std::uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<int> label(0, classes - 1);
  Problem p;
  p.x.resize(n, d);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < d; ++j) p.x(i, j) = normal(rng);
  p.y.resize(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    p.y[static_cast<std::size_t>(i)] = (skip_every > 0 && i % skip_every == 0) ? -1 : label(rng);
  }
  return p;
}

/// An allreduce (sum) among `parties` threads, recording the buffer sizes of
/// every party's calls. A call completes when every party has made its
/// matching call. If the parties disagree on the count, or one party finishes
/// while others still wait (different numbers of calls), the collective is
/// recorded as broken instead of hanging the test.
class ThreadAllreduce {
 public:
  explicit ThreadAllreduce(int parties)
      : parties_(parties), sizes_(static_cast<std::size_t>(parties)) {}

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
  std::string what() const { return what_; }
  /// Buffer sizes of every call, per party.
  const std::vector<std::vector<std::size_t>>& sizes() const { return sizes_; }
  /// Number of calls per party.
  std::vector<int> calls() const {
    std::vector<int> out;
    for (const auto& s : sizes_) out.push_back(static_cast<int>(s.size()));
    return out;
  }

 private:
  void reduce(int party, double* data, std::size_t count) {
    std::unique_lock<std::mutex> lock(mutex_);
    sizes_[static_cast<std::size_t>(party)].push_back(count);
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
      const bool done = changed_.wait_for(lock, std::chrono::seconds(30), [&] {
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
  std::vector<std::vector<std::size_t>> sizes_;
  bool broken_ = false;
  std::string what_;
};

/// Row blocks [begin, end) of each party.
using Blocks = std::vector<std::pair<Index, Index>>;

/// Runs body(party, x_block, label_blocks, reduce) on one thread per block;
/// label_blocks holds the block of every label vector. A party that throws
/// leaves the collective (the others see it broken, not hung) and the
/// exception ends the test.
template <typename Body>
void run_parties(const RowMatrix& x, const std::vector<Labels>& labels, const Blocks& blocks,
                 ThreadAllreduce& comm, Body body) {
  std::vector<RowMatrix> xs;
  std::vector<std::vector<Labels>> ys;
  for (const auto& [begin, end] : blocks) {
    xs.emplace_back(x.middleRows(begin, end - begin));
    std::vector<Labels> part;
    for (const Labels& y : labels) part.emplace_back(y.begin() + begin, y.begin() + end);
    ys.push_back(std::move(part));
  }
  std::vector<std::thread> threads;
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    threads.emplace_back([&, k] {
      try {
        body(static_cast<int>(k), xs[k], ys[k], comm.hook(static_cast<int>(k)));
      } catch (...) {
        comm.finish();
        throw;
      }
      comm.finish();
    });
  }
  for (auto& t : threads) t.join();
}

/// run_parties for one label vector: body(party, x_block, y_block, reduce).
template <typename Body>
void run_parties(const Problem& p, const Blocks& blocks, ThreadAllreduce& comm, Body body) {
  run_parties(p.x, std::vector<Labels>{p.y}, blocks, comm,
              [&](int k, const RowMatrix& x, const std::vector<Labels>& ys, SumReduce reduce) {
                body(k, x, ys[0], std::move(reduce));
              });
}

}  // namespace wsc_test
