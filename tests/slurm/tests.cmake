# Tests against a real SLURM cluster on this machine (cluster/).
# include()d from tests/CMakeLists.txt. Run them alone with: ctest -L slurm
# Labels: every test has `slurm`; those of the single-node cluster also
# `slurm_one_node`, those of the 2-node cluster (further down) `slurm_nodes`.
# The fixture starts the cluster (state in ${WSC_CLUSTER_DIR:-/tmp/wsc-cluster}) before
# the first test that needs it and stops it after the last one, also when a test fails.
# Needs root and the slurm-wlm and munge packages (tools/install-deps.sh).
# The direct runs the jobs are compared with use this build's mpiexec (WSC_MPIEXEC).
set(_wsc_mpiexec_env "WSC_MPIEXEC=${MPIEXEC_EXECUTABLE}")
add_test(NAME slurm_cluster_start
         COMMAND bash ${CMAKE_SOURCE_DIR}/cluster/start.sh)
set_tests_properties(slurm_cluster_start PROPERTIES
                     FIXTURES_SETUP slurm_cluster LABELS "slurm;slurm_one_node" RUN_SERIAL TRUE TIMEOUT 120)

add_test(NAME slurm_cluster_stop
         COMMAND bash ${CMAKE_SOURCE_DIR}/cluster/stop.sh)
set_tests_properties(slurm_cluster_stop PROPERTIES
                     FIXTURES_CLEANUP slurm_cluster LABELS "slurm;slurm_one_node" RUN_SERIAL TRUE TIMEOUT 180)

add_test(NAME slurm_local_cluster_smoke
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/slurm/test_local_cluster.sh)
set_tests_properties(slurm_local_cluster_smoke PROPERTIES
                     FIXTURES_REQUIRED slurm_cluster LABELS "slurm;slurm_one_node" RUN_SERIAL TRUE TIMEOUT 300)

add_test(NAME slurm_analyse_job
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/slurm/test_analyse_job.sh)
set_tests_properties(slurm_analyse_job PROPERTIES
                     FIXTURES_REQUIRED slurm_cluster LABELS "slurm;slurm_one_node" RUN_SERIAL TRUE TIMEOUT 400
                     ENVIRONMENT "WSC_EXE=$<TARGET_FILE:wsc>")

# The jobs/ scripts through jobs/submit.sh (helpers in tests/slurm/lib.sh; jobs are
# followed by polling squeue, not sbatch --wait): a split permutation run and its
# merge, a requeue of a running analysis (continued from its checkpoint), and a
# sweep array with a broken model and its summary. Each compares the job's outputs
# byte for byte with the same run done directly.
foreach(_wsc_slurm_test permutations_job requeue_job sweep_job)
  add_test(NAME slurm_${_wsc_slurm_test}
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/slurm/test_${_wsc_slurm_test}.sh)
  set_tests_properties(slurm_${_wsc_slurm_test} PROPERTIES
                       FIXTURES_REQUIRED slurm_cluster LABELS "slurm;slurm_one_node" RUN_SERIAL TRUE TIMEOUT 480
                       ENVIRONMENT "WSC_EXE=$<TARGET_FILE:wsc>;${_wsc_mpiexec_env}")
endforeach()

# cmake --install into a temporary prefix, the Lmod module, and one job from the
# installed scripts.
add_test(NAME slurm_installed_job
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/slurm/test_installed.sh)
set_tests_properties(slurm_installed_job PROPERTIES
                     FIXTURES_REQUIRED slurm_cluster LABELS "slurm;slurm_one_node" RUN_SERIAL TRUE TIMEOUT 400
                     ENVIRONMENT "WSC_EXE=$<TARGET_FILE:wsc>;WSC_BUILD_DIR=${CMAKE_BINARY_DIR}")

# Several nodes: a 2-node cluster (cluster/start.sh --nodes 2: slurmd n1 and n2 on
# this machine) in its own state folder and on its own ports, so it never meets
# the single-node cluster above; its own fixture starts and stops it.
# Two builds' suites can run side by side with different folders and ports.
set(WSC_TEST_NODES_DIR "/tmp/wsc-nodes-ctest" CACHE STRING "state folder of the 2-node test cluster")
set(WSC_TEST_NODES_PORT "6927" CACHE STRING "slurmctld port of the 2-node test cluster (nodes: +1, +2)")
set(_wsc_nodes_env "WSC_CLUSTER_DIR=${WSC_TEST_NODES_DIR};WSC_CLUSTER_PORT=${WSC_TEST_NODES_PORT};WSC_CLUSTER_NODES=2")
add_test(NAME slurm_nodes_cluster_start
         COMMAND bash ${CMAKE_SOURCE_DIR}/cluster/start.sh --nodes 2)
set_tests_properties(slurm_nodes_cluster_start PROPERTIES
                     FIXTURES_SETUP slurm_nodes_cluster LABELS "slurm;slurm_nodes" RUN_SERIAL TRUE TIMEOUT 120
                     ENVIRONMENT "${_wsc_nodes_env}")
add_test(NAME slurm_nodes_cluster_stop
         COMMAND bash ${CMAKE_SOURCE_DIR}/cluster/stop.sh)
set_tests_properties(slurm_nodes_cluster_stop PROPERTIES
                     FIXTURES_CLEANUP slurm_nodes_cluster LABELS "slurm;slurm_nodes" RUN_SERIAL TRUE TIMEOUT 180
                     ENVIRONMENT "${_wsc_nodes_env}")
# On it: jobs/analyse.sbatch over both nodes (test_nodes_analyse_job.sh), and the
# split permutation run with its merge and the sweep with its summary, the same
# scripts as on the single node (test_permutations_job.sh, test_sweep_job.sh),
# which on 2 nodes run every job over both (2 ranks, one per node) and check it.
# These also run under the MPICH build (srun --mpi=pmi2; tools/test.sh).
set(_wsc_nodes_test_env "${_wsc_nodes_env};WSC_EXE=$<TARGET_FILE:wsc>;${_wsc_mpiexec_env}")
add_test(NAME slurm_nodes_analyse_job
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/slurm/test_nodes_analyse_job.sh)
set_tests_properties(slurm_nodes_analyse_job PROPERTIES
                     FIXTURES_REQUIRED slurm_nodes_cluster LABELS "slurm;slurm_nodes" RUN_SERIAL TRUE TIMEOUT 600
                     ENVIRONMENT "${_wsc_nodes_test_env}")
foreach(_wsc_slurm_test permutations_job sweep_job)
  add_test(NAME slurm_nodes_${_wsc_slurm_test}
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/slurm/test_${_wsc_slurm_test}.sh)
  set_tests_properties(slurm_nodes_${_wsc_slurm_test} PROPERTIES
                       FIXTURES_REQUIRED slurm_nodes_cluster LABELS "slurm;slurm_nodes" RUN_SERIAL TRUE TIMEOUT 480
                       ENVIRONMENT "${_wsc_nodes_test_env}")
endforeach()
# Losing a node mid-job: the ranks on n2 killed, then n2 itself crashed
# (cluster/node.sh); the job is requeued each time and finishes from its
# checkpoint with results byte-identical to an uninterrupted run. Label
# slurm_node_loss: the MPICH step of tools/test.sh leaves it out (what it tests
# is srun's and slurmctld's handling, the same under either MPI; ~4 min).
add_test(NAME slurm_nodes_lose_node
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/slurm/test_nodes_lose_node.sh)
set_tests_properties(slurm_nodes_lose_node PROPERTIES
                     FIXTURES_REQUIRED slurm_nodes_cluster LABELS "slurm;slurm_nodes;slurm_node_loss" RUN_SERIAL TRUE
                     TIMEOUT 900 ENVIRONMENT "${_wsc_nodes_test_env}")
