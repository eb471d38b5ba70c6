# Schedules, DDPM tables, preconditioners and sigma densities against the
# public golden files (golden/README.md sections 1, 2, 3, 5), through
# `diffkit verify`, which builds the real plugins through the host.
foreach(dk_golden_part schedules discrete precond densities)
  add_test(NAME golden.${dk_golden_part}
           COMMAND $<TARGET_FILE:diffkit_cli> verify ${DK_TEST_DATA}/golden/${dk_golden_part}.safetensors)
  set_tests_properties(golden.${dk_golden_part} PROPERTIES LABELS golden TIMEOUT 300)
endforeach()
