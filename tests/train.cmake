# train.cmake: training integration tests (Fashion-MNIST; skip with 77 when
# the dataset package is missing): loss goes down over 200 steps, resume is
# bit-exact, the NaN guard stops a diverging run; and docs/reliability.md:
# a larger step target resumes (train_longer), two processes and kill -9 on
# one run folder (run_lock), a full disk on a small tmpfs (disk_full: needs
# mount, skips with 77 without it). DK_CLI is the binary, for the tests that
# start a second process.
foreach(t loss_drops resume nan_guard experiment_tables train_longer run_lock disk_full)
  add_test(NAME integration.train_${t}
           COMMAND $<TARGET_FILE:diffkit_cli> run ${CMAKE_CURRENT_SOURCE_DIR}/train/${t}.lua)
  set_tests_properties(integration.train_${t} PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 600
    ENVIRONMENT "DK_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR};DK_CLI=$<TARGET_FILE:diffkit_cli>")
endforeach()
