# perf.cmake: the thread-invariance test calls omp_set_num_threads itself.
# (Benchmarks live in bench/ and are never ctest tests: timings are not asserted.)
if(TARGET test_perf_threads)
  target_link_libraries(test_perf_threads PRIVATE OpenMP::OpenMP_C)
endif()
