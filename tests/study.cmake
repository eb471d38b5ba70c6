# study.cmake: the sampler study and the hardening tests of issue 3.
#  - lua.sampler_study_smoke: experiments/sampler_study.lua in its reduced mode
#    (euler and heun only), checking the CSV, the PNG and the fitted orders;
#  - lua.study_*: bad sampler input through Lua, one clear error each
#    (tests/lua/study_bad_input.lua);
#  - golden.verify_*: `diffkit verify` on altered and corrupt copies of the
#    public golden files (tests/lua/study_verify_make.lua writes them).
set(DK_STUDY_SCRATCH "${CMAKE_CURRENT_BINARY_DIR}/tmp/study")
file(MAKE_DIRECTORY "${DK_STUDY_SCRATCH}")

add_test(NAME lua.sampler_study_smoke
         COMMAND ${DK_CLI} run "${CMAKE_CURRENT_SOURCE_DIR}/lua/study_smoke.lua" ${DK_CLI}
                 "${PROJECT_SOURCE_DIR}/experiments/sampler_study.lua" "${DK_STUDY_SCRATCH}/smoke")
set_tests_properties(lua.sampler_study_smoke PROPERTIES LABELS lua TIMEOUT 60)

add_test(NAME lua.study_bad_input COMMAND ${DK_CLI} run "${CMAKE_CURRENT_SOURCE_DIR}/lua/study_bad_input.lua")
set_tests_properties(lua.study_bad_input PROPERTIES LABELS lua TIMEOUT 60)

# ---- `diffkit verify` on altered and corrupt golden files ---------------------
set(DK_VARIANTS "${DK_STUDY_SCRATCH}/verify")
add_test(NAME golden.verify_make_variants
         COMMAND ${DK_CLI} run "${CMAKE_CURRENT_SOURCE_DIR}/lua/study_verify_make.lua" "${DK_TEST_DATA}/golden" "${DK_VARIANTS}")
set_tests_properties(golden.verify_make_variants PROPERTIES LABELS golden TIMEOUT 60 FIXTURES_SETUP dk_verify_variants)

# dk_verify_variant(NAME STATUS REGEX): `diffkit verify` on ${DK_VARIANTS}/NAME.safetensors
function(dk_verify_variant name status regex)
  add_test(NAME golden.verify_${name}
           COMMAND "${CMAKE_CURRENT_SOURCE_DIR}/lua/expect.sh" ${status} "${regex}" ${DK_CLI} verify "${DK_VARIANTS}/${name}.safetensors")
  set_tests_properties(golden.verify_${name} PROPERTIES LABELS golden TIMEOUT 60 FIXTURES_REQUIRED dk_verify_variants)
endfunction()

# must pass: one sample of a batch (a new shape), extra tensors and keys
foreach(case heun_churn dpmpp_2m_sde_midpoint dpmpp_sde euler_ancestral lms)
  dk_verify_variant(b1_${case} 0 "section sampler: 9 checks, 0 failed: ok")
endforeach()
dk_verify_variant(extras 0 "section sampler: 9 checks, 0 failed: ok")

# must fail with a clear message, exit 1, no crash
dk_verify_variant(short_noise 1 "sampler heun: noise stream ran out after 5 slices: the sampler drew more noise than the file records")
dk_verify_variant(wrong_count 1 "noise slices.*FAIL")
dk_verify_variant(wrong_x_final 1 "x_final \\[4, 1, 4, 4\\].*FAIL")
dk_verify_variant(no_x_final 1 "tensor 'x_final' is missing")
dk_verify_variant(no_x0_rule 1 "metadata key 'x0_rule' is missing")
dk_verify_variant(bad_option 1 "metadata 'opt.s_churn': option 's_churn' of sampler 'heun' expects a float, got 'abc'")
dk_verify_variant(bad_sampler 1 "no sampler plugin named 'heunn' \\(did you mean 'heun'\\?")
dk_verify_variant(bad_shape 1 "model 'gmm': expected x \\[B, 1, 4, 4\\]")
dk_verify_variant(bad_std 1 "gmm: stds\\[1\\] = -0.5 must be finite and > 0")
dk_verify_variant(bad_header 1 "bad_header.safetensors: header JSON byte 0")
dk_verify_variant(empty 1 "empty.safetensors: 0 bytes: too short")
dk_verify_variant(huge_header 1 "header length 1099511627776 exceeds the limit")
foreach(sec schedules discrete precond densities gmm_check sampler_euler)
  dk_verify_variant(missing_${sec} 1 "missing_${sec}.safetensors.*: tensor '[^']+' is missing")
  dk_verify_variant(trunc_${sec} 1 "trunc_${sec}.safetensors: .*(truncated|past the end)")
endforeach()
