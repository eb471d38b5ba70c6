# samplers.cmake: golden parity of the samplers and the Gaussian-mixture model
# (golden README section 4): `diffkit verify` on tests/data/golden/gmm_check
# and on every sampler_<case>.safetensors found there (one test per file, so a
# new case file is picked up by re-running cmake).
file(GLOB DK_SAMPLER_GOLDEN CONFIGURE_DEPENDS "${DK_TEST_DATA}/golden/sampler_*.safetensors")
foreach(f ${DK_SAMPLER_GOLDEN})
  get_filename_component(base ${f} NAME_WE)
  add_test(NAME golden.${base} COMMAND ${DK_CLI} verify ${f})
  set_tests_properties(golden.${base} PROPERTIES LABELS golden TIMEOUT 120)
endforeach()

add_test(NAME golden.gmm_check COMMAND ${DK_CLI} verify "${DK_TEST_DATA}/golden/gmm_check.safetensors")
set_tests_properties(golden.gmm_check PROPERTIES LABELS golden TIMEOUT 60)
# ddpm_ancestral's fixed variances (large / small: DiT's FIXED_LARGE / FIXED_SMALL)
# are its learned-variance step at v = +1 / -1 exactly.
add_test(NAME lua.ddpm_fixed_variance COMMAND $<TARGET_FILE:diffkit_cli> run ${CMAKE_CURRENT_SOURCE_DIR}/lua/ddpm_fixed_variance.lua)
set_tests_properties(lua.ddpm_fixed_variance PROPERTIES LABELS lua TIMEOUT 60)
