# Evaluation (issue 6, docs/evaluation.md): unit tests unit.eval_metrics,
# unit.eval_conv, unit.eval_featnet (a short feature-net run: accuracy far
# above chance) and unit.eval_featnet_cache (the default cached route: train,
# save, reload without training, in a temp DIFFKIT_CACHE with the test-only
# DIFFKIT_FEATNET_TEST_STEPS) are globbed from tests/unit; here:
#  - eval.featnet_full (slow): the full feature-net recipe reaches >= 90 %
#    test accuracy on Fashion-MNIST 32x32;
#  - integration.eval_experiment: exp:evaluate and `diffkit eval` on a tiny DiT.
add_test(NAME eval.featnet_full COMMAND test_eval_featnet)
set_tests_properties(eval.featnet_full PROPERTIES LABELS slow SKIP_RETURN_CODE 77 TIMEOUT 900
  ENVIRONMENT "DK_FEATNET_FULL=1")

add_test(NAME integration.eval_experiment
         COMMAND $<TARGET_FILE:diffkit_cli> run ${CMAKE_CURRENT_SOURCE_DIR}/lua/eval_experiment.lua)
set_tests_properties(integration.eval_experiment PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 600
  ENVIRONMENT "DK_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR};DIFFKIT_BIN=$<TARGET_FILE:diffkit_cli>;DIFFKIT_CACHE=${CMAKE_CURRENT_BINARY_DIR}/diffkit-eval-experiment/cache")

# Standard FID (docs/interop.md): unit.eval_inception (globbed) is the
# torch parity golden; it also writes the deterministic-hash weights as a
# .safetensors for integration.eval_inception (`features = "inception:PATH"`
# through exp:feature_net / real_features and `diffkit eval --features
# inception:PATH`; one FID at d = 2048, about a minute).
set(DK_INCEPTION_WEIGHTS "${CMAKE_CURRENT_BINARY_DIR}/inception_random.safetensors")
set_tests_properties(unit.eval_inception PROPERTIES FIXTURES_SETUP inception_weights
  ENVIRONMENT "DK_INCEPTION_WEIGHTS_OUT=${DK_INCEPTION_WEIGHTS}")
add_test(NAME integration.eval_inception
         COMMAND $<TARGET_FILE:diffkit_cli> run ${CMAKE_CURRENT_SOURCE_DIR}/lua/eval_inception.lua)
set_tests_properties(integration.eval_inception PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 900
  FIXTURES_REQUIRED inception_weights
  ENVIRONMENT "DK_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR};DIFFKIT_BIN=$<TARGET_FILE:diffkit_cli>;DIFFKIT_CACHE=${CMAKE_CURRENT_BINARY_DIR}/diffkit-eval-inception/cache;DK_INCEPTION_WEIGHTS=${DK_INCEPTION_WEIGHTS}")

# The shipped feature network (data/featnet/, issue r2): the FID of a fixed tiny
# checkpoint (tests/data/featnet/tiny_dit.safetensors, made by
# tests/data/featnet/make_tiny_ckpt.lua) with it is the stored value to 1e-3, under
# the CPU's own OpenBLAS kernels and under two other kernel sets (AVX2, SSE3) (rounding as
# on other CPUs; tests/eval/fid_shipped.lua says why 1e-3 holds). A corrupt copy
# is refused naming both checksums.
foreach(core_type "default" "Haswell" "Prescott")
  add_test(NAME eval.fid_shipped_${core_type}
           COMMAND $<TARGET_FILE:diffkit_cli> run ${CMAKE_CURRENT_SOURCE_DIR}/eval/fid_shipped.lua
                   ${CMAKE_CURRENT_SOURCE_DIR}/data/featnet/tiny_dit.safetensors 200 54.557841 0.69498257)
  set(_env "DIFFKIT_CACHE=${CMAKE_CURRENT_BINARY_DIR}/fid_shipped_${core_type}/cache")
  if(NOT core_type STREQUAL "default")
    list(APPEND _env "OPENBLAS_CORETYPE=${core_type}")
  endif()
  set_tests_properties(eval.fid_shipped_${core_type} PROPERTIES LABELS eval TIMEOUT 300 SKIP_RETURN_CODE 77
    ENVIRONMENT "${_env}")
endforeach()
add_test(NAME eval.featnet_shipped_corrupt
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/eval/corrupt_featnet.sh $<TARGET_FILE:diffkit_cli> ${PROJECT_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/featnet_corrupt)
set_tests_properties(eval.featnet_shipped_corrupt PROPERTIES LABELS eval TIMEOUT 120)
