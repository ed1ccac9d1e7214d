# End-to-end tests (Python drivers); each function is its own ctest test.
wsc_add_python_test(e2e_sklearn_serial test_sklearn_agreement.py 1 serial)
wsc_add_python_test(e2e_sklearn_ranks3_float32 test_sklearn_agreement.py 2 ranks3_float32)
wsc_add_python_test(e2e_ranks_1_to_4 test_rank_invariance.py 2 ranks_1_to_4)
wsc_add_python_test(e2e_ranks_small_blocks test_rank_invariance.py 2 small_blocks)
wsc_add_python_test(e2e_demo test_demo_and_outputs.py 2 demo)
wsc_add_python_test(e2e_outputs_contract test_demo_and_outputs.py 1 outputs)
wsc_add_python_test(e2e_second_labels_file test_demo_and_outputs.py 1 labels_file)
# One ctest test per malformed-input case.
execute_process(COMMAND ${WSC_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/python/test_errors.py --list
                OUTPUT_VARIABLE WSC_ERROR_CASES OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE WSC_ERROR_LIST_RC)
if(NOT WSC_ERROR_LIST_RC EQUAL 0)
  message(FATAL_ERROR "cannot list the error cases (python3-h5py installed?)")
endif()
# The second MPI's build (tools/test.sh) runs a few of them, one per way a
# refusal reaches the ranks (file, config, agreed row check, decoded state);
# the rest (label error_cases) exercise the same paths with other inputs.
set(WSC_ERROR_CASES_EVERY_MPI missing_file truncated toml_syntax null_too_large deep_toml embeddings_nan
    labels_declare_1e12 tree_two_roots label_length head_width)
foreach(case ${WSC_ERROR_CASES})
  wsc_add_python_test(error_${case} test_errors.py 2 ${case})
  if(NOT case IN_LIST WSC_ERROR_CASES_EVERY_MPI)
    set_property(TEST error_${case} APPEND PROPERTY LABELS error_cases)
  endif()
endforeach()
wsc_add_python_test(e2e_probe_primary_grouped_folds test_demo_and_outputs.py 2 probe_primary)
wsc_add_python_test(e2e_unconverged_is_loud test_demo_and_outputs.py 1 unconverged)
wsc_add_python_test(e2e_model_head_unused_class test_demo_and_outputs.py 1 unused_class)
wsc_add_python_test(e2e_exchangeability_schemes test_demo_and_outputs.py 2 schemes)
wsc_add_python_test(e2e_bootstrap_intervals test_demo_and_outputs.py 2 bootstrap)
wsc_add_python_test(e2e_progress_lines test_demo_and_outputs.py 2 progress)
wsc_add_python_test(e2e_sweep_and_summary test_sweep.py 2 sweep)
wsc_add_python_test(e2e_sweep_bad_manifests test_sweep.py 1 bad_manifests)
# The Python package (python/wsc) and the PyTorch example.
wsc_add_python_test(e2e_python_write_model_round_trip test_python_package.py 1 round_trip)
wsc_add_python_test(e2e_python_write_model_rejects test_python_package.py 1 rejects)
wsc_add_python_test(e2e_python_validate_like_inspect test_python_package.py 1 validate_like_inspect)
wsc_add_python_test(e2e_python_package_install test_python_package.py 1 install)
wsc_add_python_test(e2e_pytorch_example test_python_package.py 1 pytorch_example)
# Resumable runs (stop signals, SIGKILL, bad checkpoints) and split runs merged.
wsc_add_python_test(e2e_chunks_merge test_resume_and_merge.py 2 chunks_merge)
wsc_add_python_test(e2e_sigterm_resume test_resume_and_merge.py 2 sigterm_resume)
wsc_add_python_test(e2e_sigkill_resume test_resume_and_merge.py 2 sigkill_resume)
wsc_add_python_test(e2e_bad_checkpoints test_resume_and_merge.py 2 bad_checkpoints)
# The same numbers as another build of wsc (tools/test.sh: the MPICH build
# against the Open MPI one): configure with -DWSC_REFERENCE_EXE=<other wsc>
# -DWSC_REFERENCE_MPIEXEC=<its mpiexec>.
if(WSC_REFERENCE_EXE)
  wsc_add_python_test(e2e_same_numbers_as_reference test_same_numbers.py 2 numbers)
  wsc_add_python_test(e2e_launcher_of_another_mpi test_same_numbers.py 2 launcher_mismatch)
  set_property(TEST e2e_same_numbers_as_reference e2e_launcher_of_another_mpi APPEND PROPERTY ENVIRONMENT
               "WSC_REFERENCE_EXE=${WSC_REFERENCE_EXE}" "WSC_REFERENCE_MPIEXEC=${WSC_REFERENCE_MPIEXEC}")
endif()
# k-sensitivity against scikit-learn's PCA, and pooled over a sweep.
wsc_add_python_test(e2e_k_sensitivity test_sensitivity.py 2 numbers)
wsc_add_python_test(e2e_k_sensitivity_sweep test_sensitivity.py 2 sweep)
# Sequential permutation tests: same stop everywhere, fits saved on a null model.
wsc_add_python_test(e2e_sequential_same_everywhere test_sequential.py 4 everywhere)
wsc_add_python_test(e2e_sequential_null_model test_sequential.py 2 null_model)
# wsc report and the Python package python/wsc: reports loaded in headless
# chromium, numbers read back from the DOM; figures checked from Python.
wsc_add_python_test(e2e_report_run test_report.py 1 run)
wsc_add_python_test(e2e_report_no_permutations test_report.py 1 no_permutations)
wsc_add_python_test(e2e_report_sweep test_report.py 1 sweep)
wsc_add_python_test(e2e_report_demo_folder test_report.py 2 demo)
wsc_add_python_test(e2e_report_errors test_report.py 1 errors)
wsc_add_python_test(e2e_report_figures test_report.py 1 figures)
wsc_add_python_test(e2e_report_sweep_figures test_report.py 1 sweep_figures)
wsc_add_python_test(e2e_tail_reference test_tail.py 2 reference)
wsc_add_python_test(e2e_tail_more_permutations test_tail.py 2 more_permutations)
# Exchangeability: a PALM block tree gives uniform null p-values where the free
# scheme does not; whole blocks of several sizes.
wsc_add_python_test(e2e_tree_null_uniform test_exchangeability_tree.py 2 tree_null)
wsc_add_python_test(e2e_blocks_unequal_sizes test_exchangeability_tree.py 2 blocks_unequal)
# The Python side (package, example, reports) does not depend on the MPI
# wsc was built with: the MPICH build of tools/test.sh leaves these out.
set_property(TEST e2e_report_run e2e_report_no_permutations e2e_report_sweep e2e_report_demo_folder
             e2e_report_errors e2e_report_figures e2e_report_sweep_figures e2e_python_write_model_round_trip
             e2e_python_write_model_rejects e2e_python_validate_like_inspect e2e_python_package_install
             e2e_pytorch_example APPEND PROPERTY LABELS python_side)
# Hostile inputs: the fuzz harness's classification catches planted faults,
# then a fixed-seed subset of its campaign (tests/python/fuzz.py; the full
# campaign and its table are in the README).
wsc_add_python_test(e2e_fuzz_self_check fuzz.py 1 --self-check --work fuzz-self-check)
wsc_add_python_test(e2e_fuzz_fixed_seed fuzz.py 2 --configs 120 --models 60 --states 60 --ranks 1,2
                    --several-ranks-every 4 --timeout 30 --jobs 2 --seed 7 --work fuzz-fixed-seed)
set_property(TEST e2e_fuzz_self_check e2e_fuzz_fixed_seed APPEND PROPERTY LABELS fuzz)
