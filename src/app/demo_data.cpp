#include "wsc/app/demo_data.hpp"

#include "wsc/core/permutation.hpp"
#include "wsc/core/trust_region_newton.hpp"
#include "wsc/io/results_file.hpp"

#include <cmath>
#include <stdexcept>

namespace wsc::app {

void write_demo_model(const std::string& path, const DemoSpec& spec) {
  const core::Index n = spec.rows;
  const core::Index d = spec.dim;
  if (d < 12) throw std::invalid_argument("demo: dim must be at least 12");
  const int planes = 3;
  const int scanners = 3;
  const std::uint64_t seed = spec.seed;
  std::uint64_t counter = 0;
  auto uniform = [&](std::uint64_t stream, std::uint64_t bound) {
    return core::keyed_uniform(seed, stream, counter++, bound);
  };
  auto normal = [&](std::uint64_t stream) { return core::keyed_normal(seed, stream, counter++); };

  // A random orthonormal basis: plane directions use its first 3 columns,
  // scanner directions the next 3, so the two are orthogonal.
  core::Matrix g(d, d);
  for (core::Index i = 0; i < d; ++i)
    for (core::Index j = 0; j < d; ++j) g(i, j) = normal(1);
  const core::Matrix basis = Eigen::HouseholderQR<core::Matrix>(g).householderQ();
  // Noise with a decaying spectrum, as real embeddings have.
  core::Vector noise_sd(d);
  for (core::Index j = 0; j < d; ++j) noise_sd(j) = 1.0 / std::sqrt(1.0 + 0.15 * static_cast<double>(j));

  std::vector<std::int64_t> plane(static_cast<std::size_t>(n)), scanner(plane.size()), sex(plane.size()),
      patient(plane.size());
  std::vector<double> spacing(plane.size());
  core::RowMatrix x(n, d);
  const double plane_signal = 1.1;
  const double scanner_signal = 1.6;
  for (core::Index r = 0; r < n; ++r) {
    const auto i = static_cast<std::size_t>(r);
    plane[i] = static_cast<std::int64_t>(uniform(2, planes));
    if (spec.biased) {
      const double u = static_cast<double>(uniform(3, 1000000)) / 1e6;
      scanner[i] = u < spec.agreement ? plane[i] : static_cast<std::int64_t>(uniform(4, scanners));
    } else {
      scanner[i] = static_cast<std::int64_t>(uniform(4, scanners));
    }
    sex[i] = static_cast<std::int64_t>(uniform(5, 2));
    patient[i] = r / 4;  // four images per patient
    spacing[i] = 0.1 + 0.05 * static_cast<double>(scanner[i]) + 0.01 * normal(6);
    core::Vector z(d);
    for (core::Index j = 0; j < d; ++j) z(j) = noise_sd(j) * normal(7);
    z(plane[i]) += plane_signal;
    z(3 + scanner[i]) += scanner_signal;
    x.row(r) = (basis * z).transpose();
  }
  // Every tenth spacing is missing.
  for (core::Index r = 0; r < n; r += 10) spacing[static_cast<std::size_t>(r)] = std::nan("");

  // The "trained model's" head: a softmax head fitted on these embeddings.
  core::Labels y(plane.begin(), plane.end());
  core::SolverOptions options;
  options.tol = 1e-10;
  const core::ProbeHead head =
      core::fit_probe(x, y, planes, 1e-3, options, core::identity_reduce(), nullptr);

  io::ResultsFile file(path);
  file.write_attribute("/", "model", spec.name);
  file.write_matrix("/embeddings", x);
  file.write_matrix("/heads/plane/weight", head.weight);
  file.write_vector("/heads/plane/bias", head.bias);
  file.write_ints("/labels/plane", plane);
  file.write_ints("/labels/scanner", scanner);
  file.write_doubles("/labels/spacing", spacing);
  file.write_ints("/labels/sex", sex);
  file.write_ints("/groups/patient", patient);
  const std::vector<std::string> plane_names{"abdomen", "brain", "femur"};
  const std::vector<std::string> scanner_names{"GE", "Philips", "Siemens"};
  file.write_attribute_strings("/heads/plane/weight", "class_names", plane_names);
  file.write_attribute_strings("/labels/plane", "class_names", plane_names);
  file.write_attribute_strings("/labels/scanner", "class_names", scanner_names);
  file.write_attribute_strings("/labels/sex", "class_names", {"female", "male"});
  file.close();
}

}  // namespace wsc::app
