// Permutation-null probe fits: H heads over the same embedding matrix, fitted
// (a) one at a time with fit_probe and (b) in batches with fit_probes_batched.
// Prints one table: heads/second, speed-up over (a), mean outer iterations and
// Hessian-vector products per head, agreement with (a), and the GFLOP/s of
// the batched evaluation / Hessian-vector kernels against a plain Eigen GEMM
// of the comparable shape (n x d times d x B*C) measured in the same run.
//
//   batched_fit_bench [--n 4800] [--d 128] [--classes 3] [--heads 256]
//                     [--batches 16,64,256] [--l2 1e-3] [--tol 1e-8] [--seed 1]
//                     [--single-heads H1]   (fit only H1 heads one at a time; default all)
//                     [--hessian float|double]  (SolverOptions::float_hessian; default float)
#include "wsc/core/batched_newton.hpp"
#include "wsc/core/trust_region_newton.hpp"

#include "wsc/core/eigen.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace wsc::core;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Args {
  Index n = 4800;
  Index d = 128;
  int classes = 3;
  int heads = 256;
  std::vector<int> batches = {16, 64, 256};
  double l2 = 1e-3;
  double tol = 1e-8;
  unsigned seed = 1;
  int single_heads = -1;
  bool float_hessian = true;
};

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoi(item));
  return out;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (key == "-h" || key == "--help") {
      std::printf(
          "batched_fit_bench [--n N] [--d D] [--classes C] [--heads H] [--batches B1,B2,..]\n"
          "                  [--l2 L] [--tol T] [--seed S] [--single-heads H1] [--hessian float|double]\n");
      std::exit(0);
    }
    if (i + 1 >= argc) throw std::invalid_argument("missing value for " + key);
    const std::string v = argv[++i];
    if (key == "--n") a.n = std::stol(v);
    else if (key == "--d") a.d = std::stol(v);
    else if (key == "--classes") a.classes = std::stoi(v);
    else if (key == "--heads") a.heads = std::stoi(v);
    else if (key == "--batches") a.batches = parse_list(v);
    else if (key == "--l2") a.l2 = std::stod(v);
    else if (key == "--tol") a.tol = std::stod(v);
    else if (key == "--seed") a.seed = static_cast<unsigned>(std::stoul(v));
    else if (key == "--single-heads") a.single_heads = std::stoi(v);
    else if (key == "--hessian" && (v == "float" || v == "double")) a.float_hessian = v == "float";
    else throw std::invalid_argument("unknown option " + key);
  }
  if (a.n < 1 || a.d < 1 || a.classes < 2 || a.heads < 1) throw std::invalid_argument("bad sizes");
  return a;
}

/// Embedding-like rows: correlated features with a decaying spectrum
/// (singular values ~ j^-0.8 in a random basis), a common offset, and a weak
/// class signal along the leading directions. Labels cycle through the
/// classes so every class is present; the signal is added by class.
void make_data(const Args& a, RowMatrix& x, Labels& y) {
  std::mt19937_64 rng(a.seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  Matrix g(a.d, a.d);
  for (Index i = 0; i < g.size(); ++i) g.data()[i] = normal(rng);
  const Matrix q = Eigen::HouseholderQR<Matrix>(g).householderQ();
  Vector spectrum(a.d);
  for (Index j = 0; j < a.d; ++j) spectrum(j) = std::pow(static_cast<double>(j + 1), -0.8);
  Matrix means = Matrix::Zero(a.classes, a.d);
  for (int c = 0; c < a.classes; ++c)
    for (Index j = 0; j < std::min<Index>(8, a.d); ++j) means(c, j) = 0.4 * normal(rng);
  Vector offset(a.d);
  for (Index j = 0; j < a.d; ++j) offset(j) = 0.5 * normal(rng);
  Matrix z(a.n, a.d);
  for (Index i = 0; i < z.size(); ++i) z.data()[i] = normal(rng);
  y.resize(static_cast<std::size_t>(a.n));
  for (Index i = 0; i < a.n; ++i) {
    const int label = static_cast<int>(i % a.classes);
    y[static_cast<std::size_t>(i)] = label;
    z.row(i) = z.row(i).cwiseProduct(spectrum.transpose()) + means.row(label);
  }
  x = z * q.transpose();
  x.rowwise() += offset.transpose();
}

/// Plain GEMM n x d times d x m, GFLOP/s (best of a few repeats).
double gemm_gflops(const RowMatrix& x, Index m) {
  Matrix w = Matrix::Random(x.cols(), m);
  Matrix out(x.rows(), m);
  const double flops = 2.0 * static_cast<double>(x.rows()) * static_cast<double>(x.cols()) *
                       static_cast<double>(m);
  const int repeats = static_cast<int>(std::clamp(2e9 / flops, 3.0, 200.0));
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    const auto t = Clock::now();
    out.noalias() = x * w;
    best = std::min(best, seconds_since(t));
    w(0, 0) += out(0, 0) * 1e-30;  // keep the product live
  }
  return flops / best / 1e9;
}

double relative_difference(const ProbeHead& a, const ProbeHead& b) {
  const double scale = std::sqrt(b.weight.squaredNorm() + b.bias.squaredNorm());
  const double diff =
      std::sqrt((a.weight - b.weight).squaredNorm() + (a.bias - b.bias).squaredNorm());
  return diff / std::max(scale, 1e-300);
}

struct Row {
  std::string method;
  int batch = 1;
  double seconds = 0.0;
  int heads = 0;
  double outer = 0.0;
  double hv = 0.0;
  int not_converged = 0;
  double eval_gflops = -1.0;
  double hv_gflops = -1.0;
  double ref_gflops = -1.0;
  double max_rel = -1.0;
};

}  // namespace

int main(int argc, char** argv) {
  Args a;
  try {
    a = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "batched_fit_bench: %s (try --help)\n", e.what());
    return 2;
  }
  RowMatrix x;
  Labels base;
  make_data(a, x, base);
  std::mt19937_64 rng(a.seed + 17);
  std::vector<Labels> labels;
  for (int h = 0; h < a.heads; ++h) {
    Labels y = base;
    std::shuffle(y.begin(), y.end(), rng);  // permutations keep the class counts
    labels.push_back(std::move(y));
  }
  SolverOptions options;
  options.tol = a.tol;
  options.float_hessian = a.float_hessian;
  std::printf(
      "batched_fit_bench: n=%ld d=%ld C=%d heads=%d l2=%g tol=%g hessian=%s (Eigen %d.%d.%d, %s)\n",
              static_cast<long>(a.n), static_cast<long>(a.d), a.classes, a.heads, a.l2, a.tol,
              a.float_hessian ? "float" : "double",
              EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION,
              Eigen::SimdInstructionSetsInUse());

  std::vector<Row> rows;
  // (a) One at a time.
  const int single_heads = a.single_heads > 0 ? std::min(a.single_heads, a.heads) : a.heads;
  std::vector<ProbeHead> single(static_cast<std::size_t>(single_heads));
  {
    Row row;
    row.method = "fit_probe";
    row.heads = single_heads;
    const auto t = Clock::now();
    for (int h = 0; h < single_heads; ++h) {
      FitReport report;
      single[static_cast<std::size_t>(h)] = fit_probe(x, labels[static_cast<std::size_t>(h)],
                                                      a.classes, a.l2, options, identity_reduce(),
                                                      &report);
      row.outer += report.iterations;
      row.hv += report.inner_iterations;
      row.not_converged += report.converged ? 0 : 1;
    }
    row.seconds = seconds_since(t);
    row.outer /= single_heads;
    row.hv /= single_heads;
    row.ref_gflops = gemm_gflops(x, a.classes);
    rows.push_back(row);
  }

  // (b) Batched.
  for (const int batch : a.batches) {
    if (batch < 1) continue;
    Row row;
    row.method = "batched";
    row.batch = batch;
    row.heads = a.heads;
    double eval_flops = 0, eval_s = 0, hv_flops = 0, hv_s = 0;
    double max_rel = 0.0;
    const auto t = Clock::now();
    for (int start = 0; start < a.heads; start += batch) {
      const int count = std::min(batch, a.heads - start);
      const std::vector<Labels> chunk(labels.begin() + start, labels.begin() + start + count);
      std::vector<FitReport> reports;
      BatchedFitStats stats;
      const auto heads = fit_probes_batched(x, chunk, a.classes, a.l2, options, identity_reduce(),
                                            &reports, &stats);
      eval_flops += stats.evaluation_flops;
      eval_s += stats.evaluation_seconds;
      hv_flops += stats.hessian_flops;
      hv_s += stats.hessian_seconds;
      for (int k = 0; k < count; ++k) {
        const FitReport& r = reports[static_cast<std::size_t>(k)];
        row.outer += r.iterations;
        row.hv += r.inner_iterations;
        row.not_converged += r.converged ? 0 : 1;
        const int h = start + k;
        if (h < single_heads) {
          max_rel = std::max(max_rel, relative_difference(heads[static_cast<std::size_t>(k)],
                                                          single[static_cast<std::size_t>(h)]));
        }
      }
    }
    row.seconds = seconds_since(t);
    row.outer /= a.heads;
    row.hv /= a.heads;
    row.eval_gflops = eval_flops / eval_s / 1e9;
    row.hv_gflops = hv_flops / hv_s / 1e9;
    row.ref_gflops = gemm_gflops(x, static_cast<Index>(batch) * a.classes);
    row.max_rel = max_rel;
    rows.push_back(row);
  }

  const double base_rate = rows[0].heads / rows[0].seconds;
  std::printf(
      "\n%-10s %5s %9s %9s %8s %8s %7s %9s %9s %10s %9s %9s %10s\n", "method", "B", "heads/s",
      "speedup", "outer/h", "Hv/h", "unconv", "evalGF/s", "HvGF/s", "gemmGF/s", "eval/gemm",
      "Hv/gemm", "max rel");
  for (const Row& r : rows) {
    const double rate = r.heads / r.seconds;
    auto num = [](double v, const char* fmt) {
      char buf[32];
      if (v < 0) return std::string("-");
      std::snprintf(buf, sizeof buf, fmt, v);
      return std::string(buf);
    };
    std::printf("%-10s %5d %9.2f %9.2f %8.2f %8.1f %7d %9s %9s %10.2f %9s %9s %10s\n",
                r.method.c_str(), r.batch, rate, rate / base_rate, r.outer, r.hv, r.not_converged,
                num(r.eval_gflops, "%.2f").c_str(), num(r.hv_gflops, "%.2f").c_str(), r.ref_gflops,
                num(r.eval_gflops >= 0 ? r.eval_gflops / r.ref_gflops : -1.0, "%.2f").c_str(),
                num(r.hv_gflops >= 0 ? r.hv_gflops / r.ref_gflops : -1.0, "%.2f").c_str(),
                num(r.max_rel, "%.1e").c_str());
  }
  std::printf(
      "\nheads/s: heads fitted per second (wall); speedup: over fit_probe one at a time;\n"
      "outer/h, Hv/h: mean outer iterations and Hessian-vector products (CG steps) per head;\n"
      "evalGF/s, HvGF/s: GEMM flops of the batched evaluation (logits and gradient:\n"
      "4 n d B*C) and Hessian-vector product (4 n d B*C) over their local wall time\n"
      "(softmax, packing and bookkeeping included); gemmGF/s: plain Eigen GEMM n x d times\n"
      "d x B*C in this run (for fit_probe: d x C); max rel: max over heads of |theta_batched -\n"
      "theta_single| / |theta_single|.\n");
  return 0;
}
