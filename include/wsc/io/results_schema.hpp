#pragma once
// The layout of results.h5 (one model's results) and of sweep_summary.h5 (a
// sweep's), each path named once here. results.h5 is written by
// app::write_results_h5 (outputs.cpp) and read back by the sweep summary
// (sweep.cpp, through ResultsReader), which writes sweep_summary.h5.
//
// results.h5
//   /                       attributes model, version, git_commit, build, config, summary
//   /pca/                   mean [d], eigenvalues [d], components [k, d]; attributes k, explained
//   /heads/primary/<task>/  weight [C, d], bias [C], projected [C, k], class_names [C];
//                           attribute kind
//   /heads/metadata/<task>/ the same, for each metadata task
//   /wsc/<task>/            cos, p_perm, p_fwer, q_fdr, cos_fold_mean, cos_fold_sd
//                           [C_primary, C_task], cos_fold/<fold>, boot_lo, boot_hi (bootstrap),
//                           p_fwer_tail, tail_approximate, p_perm_tail, perm_tail_approximate
//   /bootstrap/             cos [resamples, cells]; attributes resamples, cell_order
//   /encodability/<task>/   null_auroc_macro; attributes auroc_macro, p_encoded, verdict
//   /null/                  max_abs_cos [permutations], abs_cos [permutations, cells] (if
//                           kept); attributes permutations, cell_order
//   /quality/<task>/        accuracy, f1_macro, auroc_macro [folds], fold [N]; attribute method
//   /sensitivity/           ([pca] sensitivity) k [K] (0: no projection), explained [K],
//                           null_max_abs_cos [permutations, K]; attribute permutations
//   /sensitivity/<task>/    cos, p_perm, p_fwer, q_fdr, cos_fold_mean, cos_fold_sd
//                           [K, C_primary, C_task]
//
// sweep_summary.h5
//   /                       attribute manifest
//   models [M], cells [cells], cos [M, cells], reference/intra_task, reference/inter_task,
//   sensitivity/k [K], sensitivity/cos [M, K, cells] ([pca] sensitivity)
#include <cstddef>
#include <string>

namespace wsc::io {

namespace results_h5 {

inline constexpr char kFileName[] = "results.h5";

/// `group`/`name`.
inline std::string member(const std::string& group, const char* name) {
  return group + "/" + name;
}

// Attributes of the root group "/" (strings; build, config and summary are
// JSON).
inline constexpr char kModelAttribute[] = "model";
inline constexpr char kVersionAttribute[] = "version";
inline constexpr char kGitCommitAttribute[] = "git_commit";
inline constexpr char kBuildAttribute[] = "build";
inline constexpr char kConfigAttribute[] = "config";
inline constexpr char kSummaryAttribute[] = "summary";

// The PCA.
inline constexpr char kPca[] = "/pca";
inline constexpr char kMean[] = "mean";
inline constexpr char kEigenvalues[] = "eigenvalues";
inline constexpr char kComponents[] = "components";
inline constexpr char kKAttribute[] = "k";
inline constexpr char kExplainedAttribute[] = "explained";

// Heads: one group per task.
inline constexpr char kPrimaryHeads[] = "/heads/primary";
inline constexpr char kMetadataHeads[] = "/heads/metadata";
inline std::string heads_primary(const std::string& task) { return member(kPrimaryHeads, task.c_str()); }
inline std::string heads_metadata(const std::string& task) { return member(kMetadataHeads, task.c_str()); }
inline constexpr char kWeight[] = "weight";
inline constexpr char kBias[] = "bias";
inline constexpr char kProjected[] = "projected";
inline constexpr char kClassNames[] = "class_names";
inline constexpr char kKindAttribute[] = "kind";

// The WSC at each k of [pca] sensitivity.
inline constexpr char kSensitivity[] = "/sensitivity";
inline constexpr char kK[] = "k";
inline constexpr char kExplained[] = "explained";
inline constexpr char kNullMaxAbsCos[] = "null_max_abs_cos";
inline std::string sensitivity_group(const std::string& task) { return member(kSensitivity, task.c_str()); }

// The WSC matrices of a metadata task against the primary task.
inline std::string wsc_group(const std::string& task) { return "/wsc/" + task; }
inline constexpr char kCos[] = "cos";
inline constexpr char kPPerm[] = "p_perm";
inline constexpr char kPFwer[] = "p_fwer";
inline constexpr char kQFdr[] = "q_fdr";
inline constexpr char kCosFoldMean[] = "cos_fold_mean";
inline constexpr char kCosFoldSd[] = "cos_fold_sd";
inline constexpr char kBootLo[] = "boot_lo";
inline constexpr char kBootHi[] = "boot_hi";
// The generalised Pareto tail approximation of p_fwer and p_perm; the flags
// are 1 where the fitted tail gave the p-value, else 0.
inline constexpr char kPFwerTail[] = "p_fwer_tail";
inline constexpr char kTailApproximate[] = "tail_approximate";
inline constexpr char kPPermTail[] = "p_perm_tail";
inline constexpr char kPermTailApproximate[] = "perm_tail_approximate";
/// The cosines fitted on fold `fold`'s training rows.
inline std::string cos_fold(const std::string& group, std::size_t fold) {
  return group + "/cos_fold/" + std::to_string(fold);
}

/// How the cells of /bootstrap/cos and /null/abs_cos are ordered.
inline constexpr char kCellOrderAttribute[] = "cell_order";
inline constexpr char kCellOrder[] = "metadata task, primary class, metadata class (as wsc.csv)";

// Bootstrap: cosines of every cell in every resample ("cos", as above).
inline constexpr char kBootstrap[] = "/bootstrap";
inline constexpr char kResamplesAttribute[] = "resamples";

// Encodability of a metadata task.
inline std::string encodability_group(const std::string& task) { return "/encodability/" + task; }
inline constexpr char kNullAurocMacro[] = "null_auroc_macro";
inline constexpr char kAurocMacroAttribute[] = "auroc_macro";
inline constexpr char kPEncodedAttribute[] = "p_encoded";
inline constexpr char kVerdictAttribute[] = "verdict";

// The permutation null.
inline constexpr char kNull[] = "/null";
inline constexpr char kMaxAbsCos[] = "max_abs_cos";  ///< per permutation
inline constexpr char kAbsCos[] = "abs_cos";          ///< per permutation and cell
inline constexpr char kPermutationsAttribute[] = "permutations";

// Cross-validated probe quality of a task.
inline std::string quality_group(const std::string& task) { return "/quality/" + task; }
inline constexpr char kAccuracy[] = "accuracy";
inline constexpr char kF1Macro[] = "f1_macro";
inline constexpr char kAurocMacro[] = "auroc_macro";
inline constexpr char kFold[] = "fold";
inline constexpr char kMethodAttribute[] = "method";

}  // namespace results_h5

namespace sweep_summary_h5 {

inline constexpr char kFileName[] = "sweep_summary.h5";
inline constexpr char kManifestAttribute[] = "manifest";  ///< of the root group
inline constexpr char kModels[] = "/models";
inline constexpr char kCells[] = "/cells";
inline constexpr char kCos[] = "/cos";
inline constexpr char kIntraTask[] = "/reference/intra_task";
inline constexpr char kInterTask[] = "/reference/inter_task";
/// [pca] sensitivity: k [K] (0: no projection) and cos [models, K, cells].
inline constexpr char kSensitivityK[] = "/sensitivity/k";
inline constexpr char kSensitivityCos[] = "/sensitivity/cos";

}  // namespace sweep_summary_h5

}  // namespace wsc::io
