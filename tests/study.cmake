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
