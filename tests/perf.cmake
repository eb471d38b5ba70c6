# perf.cmake: the thread-invariance tests call omp_set_num_threads themselves.
# (Benchmarks live in bench/ and are never ctest tests: timings are not asserted.)
foreach(t test_perf_threads test_train_optim)
  if(TARGET ${t})
    target_link_libraries(${t} PRIVATE OpenMP::OpenMP_C)
  endif()
endforeach()

# The diffkit executable's default GOMP_SPINCOUNT (lua/cli/omp_env.c) must
# reach libgomp (which reads it at load time), and a user's own setting must
# win. OMP_DISPLAY_ENV makes libgomp print the values it initialised with.
if(TARGET diffkit_cli)
  add_test(NAME perf.omp_env_default COMMAND sh -c
    "env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose '$<TARGET_FILE:diffkit_cli>' --version 2>&1 | grep -q \"GOMP_SPINCOUNT = '1000'\"")
  add_test(NAME perf.omp_env_user COMMAND sh -c
    "env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=123 OMP_DISPLAY_ENV=verbose '$<TARGET_FILE:diffkit_cli>' --version 2>&1 | grep -q \"GOMP_SPINCOUNT = '123'\" && env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=passive OMP_DISPLAY_ENV=verbose '$<TARGET_FILE:diffkit_cli>' --version 2>&1 | grep -q \"GOMP_SPINCOUNT = '0'\"")
  set_tests_properties(perf.omp_env_default perf.omp_env_user PROPERTIES LABELS unit)
endif()
