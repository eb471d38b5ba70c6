# paper.cmake: the paper-table experiments: each row differs from its parent
# only in what the paper says; `diffkit info` gives the paper's GMACs for the
# paper preset; the tiny table runs end to end (integration).
add_test(NAME lua.paper_rows COMMAND $<TARGET_FILE:diffkit_cli> run ${CMAKE_CURRENT_SOURCE_DIR}/paper/rows.lua)
set_tests_properties(lua.paper_rows PROPERTIES LABELS lua TIMEOUT 120)
foreach(row_gmacs "R1;106.4581" "A;32.17" "B1;29.15" "B2;29.10" "E;31.369" "R3;106.39")
  list(GET row_gmacs 0 row)
  list(GET row_gmacs 1 gm)
  add_test(NAME lua.paper_info_${row}
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/lua/expect.sh 0 "${row}: .*forward ${gm}[0-9]* GMACs"
                   $<TARGET_FILE:diffkit_cli> info ${PROJECT_SOURCE_DIR}/experiments/${row}.lua --preset paper)
  set_tests_properties(lua.paper_info_${row} PROPERTIES LABELS lua TIMEOUT 300)
endforeach()
# dk.chart_loglog with 16..300 series (the table's chart has one per row): the
# binding once overflowed the Lua stack with many series and corrupted the heap.
add_test(NAME lua.paper_chart_many_series
         COMMAND $<TARGET_FILE:diffkit_cli> run ${CMAKE_CURRENT_SOURCE_DIR}/lua/chart_many_series.lua
                 ${CMAKE_CURRENT_BINARY_DIR}/tmp/chart_many_series)
set_tests_properties(lua.paper_chart_many_series PROPERTIES LABELS lua TIMEOUT 60)
# The whole table with the tiny preset: every row trained, sampled and
# evaluated with the shipped feature network (data/featnet/; nothing to train).
add_test(NAME integration.paper_tiny_table
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/paper/tiny_table.sh $<TARGET_FILE:diffkit_cli> ${CMAKE_CURRENT_BINARY_DIR}/paper_tiny)
set_tests_properties(integration.paper_tiny_table PROPERTIES LABELS integration TIMEOUT 1500 SKIP_RETURN_CODE 77
  ENVIRONMENT "DIFFKIT_CACHE=${CMAKE_CURRENT_BINARY_DIR}/cache")
# --seeds: two rows, two seeds each, mean ± sd and the FID's sampling noise.
add_test(NAME integration.paper_tiny_seeds
         COMMAND sh -c "rm -rf \"$2\" && \"$1\" run \"$3/experiments/paper_table.lua\" --preset tiny --rows R2,R4 --seeds 1,2 --noise 2 --out \"$2/runs\" --results \"$2/results\" && \"$1\" run \"$3/tests/paper/check_seeds.lua\" \"$2/results\" \"$2/runs\""
                 sh $<TARGET_FILE:diffkit_cli> ${CMAKE_CURRENT_BINARY_DIR}/paper_seeds ${PROJECT_SOURCE_DIR})
set_tests_properties(integration.paper_tiny_seeds PROPERTIES LABELS integration TIMEOUT 600
  ENVIRONMENT "DIFFKIT_CACHE=${CMAKE_CURRENT_BINARY_DIR}/cache-seeds")
# exp:train eval_every: metrics.csv rows, training unchanged, resumable, the learning-curve chart.
add_test(NAME lua.eval_every
         COMMAND $<TARGET_FILE:diffkit_cli> run ${CMAKE_CURRENT_SOURCE_DIR}/paper/eval_every.lua
                 ${CMAKE_CURRENT_BINARY_DIR}/tmp/eval_every)
set_tests_properties(lua.eval_every PROPERTIES LABELS lua TIMEOUT 300
  ENVIRONMENT "DIFFKIT_CACHE=${CMAKE_CURRENT_BINARY_DIR}/cache-eval-every")
# The R2 study (experiments/r2_study.lua, docs/r2.md): every rung one factor,
# the last rung R2 exactly, `diffkit diff` on every parent/child pair; the
# R1 vs R2 diff at the paper preset; the whole study with the tiny preset.
add_test(NAME lua.r2_rungs COMMAND $<TARGET_FILE:diffkit_cli> run ${CMAKE_CURRENT_SOURCE_DIR}/paper/r2_rungs.lua)
set_tests_properties(lua.r2_rungs PROPERTIES LABELS lua TIMEOUT 120)
add_test(NAME lua.diff_r1_r2
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/paper/diff_r1_r2.sh $<TARGET_FILE:diffkit_cli> ${PROJECT_SOURCE_DIR})
set_tests_properties(lua.diff_r1_r2 PROPERTIES LABELS lua TIMEOUT 120)
add_test(NAME integration.r2_study_tiny
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/paper/r2_study_tiny.sh $<TARGET_FILE:diffkit_cli> ${PROJECT_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/r2_study_tiny)
set_tests_properties(integration.r2_study_tiny PROPERTIES LABELS integration TIMEOUT 900
  ENVIRONMENT "DIFFKIT_CACHE=${CMAKE_CURRENT_BINARY_DIR}/cache-r2")
# paper_table --eval-every: each row's metrics.csv and the learning-curve chart;
# experiments/curves.lua charts run folders.
add_test(NAME integration.paper_tiny_curves
         COMMAND sh -c "rm -rf \"$2\" && \"$1\" run \"$3/experiments/paper_table.lua\" --preset tiny --rows R2,R4 --eval-every 6 --out \"$2/runs\" --results \"$2/results\" && grep -q 'Learning curves' \"$2/results/paper_table_tiny.md\" && test -s \"$2/results/paper_table_tiny_curves.png\" && \"$1\" run \"$3/experiments/curves.lua\" --out \"$2/c.png\" \"$2/runs/tiny/R2\" R4=\"$2/runs/tiny/R4\" && test -s \"$2/c.png\" && ! \"$1\" run \"$3/experiments/curves.lua\" --out \"$2/d.png\" \"$2/nothing\""
                 sh $<TARGET_FILE:diffkit_cli> ${CMAKE_CURRENT_BINARY_DIR}/paper_curves ${PROJECT_SOURCE_DIR})
set_tests_properties(integration.paper_tiny_curves PROPERTIES LABELS integration TIMEOUT 300
  ENVIRONMENT "DIFFKIT_CACHE=${CMAKE_CURRENT_BINARY_DIR}/cache-curves")
