# reliability.cmake: hostile inputs (docs/reliability.md).
#  - reliability.config_data: stored configs are parsed as data, never run
#    (tests/lua/reliability_config.lua; `diffkit eval` on a checkpoint whose
#    config holds code fails fast naming the key);
#  - unit.core_literal (tests/unit): the parser itself.
add_test(NAME reliability.config_data
         COMMAND $<TARGET_FILE:diffkit_cli> run ${CMAKE_CURRENT_SOURCE_DIR}/lua/reliability_config.lua)
set_tests_properties(reliability.config_data PROPERTIES LABELS "lua;reliability" TIMEOUT 120
  ENVIRONMENT "DK_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR};DIFFKIT_BIN=$<TARGET_FILE:diffkit_cli>")

# reliability.checkpoint_integrity: a flipped bit in a tensor is refused by
# resume and `diffkit eval` naming the tensor; metadata validation
# (tests/lua/reliability_checkpoint.lua; trains a tiny DiT for 2 steps).
add_test(NAME reliability.checkpoint_integrity
         COMMAND $<TARGET_FILE:diffkit_cli> run ${CMAKE_CURRENT_SOURCE_DIR}/lua/reliability_checkpoint.lua)
set_tests_properties(reliability.checkpoint_integrity PROPERTIES LABELS "lua;reliability" TIMEOUT 300 SKIP_RETURN_CODE 77
  ENVIRONMENT "DK_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR};DIFFKIT_BIN=$<TARGET_FILE:diffkit_cli>")
