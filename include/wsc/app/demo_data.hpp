#pragma once
// Synthetic model files for the demo and tests: embeddings with a primary
// task ("plane") and a confounder ("scanner"), in orthogonal subspaces, plus
// a continuous "spacing" that follows the scanner and a "sex" label the
// embedding does not encode. In the biased variant each plane is dominated
// by one scanner, so the head trained on it leans on scanner features (the
// paper's biased subset); in the balanced variant it does not.
#include <cstdint>
#include <string>

namespace wsc::app {

struct DemoSpec {
  std::string name = "biased";
  bool biased = true;
  std::int64_t rows = 3000;
  std::int64_t dim = 64;
  double agreement = 0.85;  ///< biased: share of rows whose scanner equals their plane
  std::uint64_t seed = 7;
};

/// Writes the model file (embeddings, /heads/plane fitted on the data,
/// /labels/{plane,scanner,spacing,sex}, /groups/patient). Single process.
void write_demo_model(const std::string& path, const DemoSpec& spec);

}  // namespace wsc::app
