# dist.cmake: data-parallel training and evaluation over MPI
# (docs/distributed.md). Each test starts mpirun itself (-np 2..4,
# --oversubscribe, one OpenMP thread per rank) and exits 77 with the reason
# when MPI is not built in or mpirun is missing (tools/install-deps.sh
# installs libopenmpi-dev and openmpi-bin). Tiny DiT, 20 steps: seconds each.
foreach(t parity resume kill eval sample)
  add_test(NAME integration.dist_${t}
           COMMAND $<TARGET_FILE:diffkit_cli> run ${CMAKE_CURRENT_SOURCE_DIR}/dist/${t}.lua)
  set_tests_properties(integration.dist_${t} PROPERTIES LABELS "integration;dist" SKIP_RETURN_CODE 77 TIMEOUT 300
    RUN_SERIAL ON ENVIRONMENT "DK_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR};DK_CLI=$<TARGET_FILE:diffkit_cli>")
endforeach()
# The NCCL path on one GPU (label cuda: tests/gpu/run.sh runs it; exit 77
# without a GPU or a loadable NCCL; runs without MPI too).
add_test(NAME integration.dist_nccl COMMAND $<TARGET_FILE:diffkit_cli> run ${CMAKE_CURRENT_SOURCE_DIR}/dist/nccl.lua)
set_tests_properties(integration.dist_nccl PROPERTIES LABELS "cuda;dist" SKIP_RETURN_CODE 77 TIMEOUT 300 RUN_SERIAL ON
  ENVIRONMENT "DK_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR};DK_CLI=$<TARGET_FILE:diffkit_cli>")
