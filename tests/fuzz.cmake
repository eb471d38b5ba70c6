# fuzz.cmake: the fuzz harnesses of tests/fuzz/ (docs/reliability.md, "Fuzzing").
#  - every tests/fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput only;
#  - the default build links each with tests/fuzz/replay_main.c into
#    fuzz_replay_<name> and registers the ctest fuzz.<name>, which runs the
#    harness on every file of tests/fuzz/corpus/<name>/ (a missing or empty
#    folder fails the test) and on a few edge inputs;
#  - with DIFFKIT_FUZZ=ON (clang; tools/fuzz.sh sets it up in build-fuzz/)
#    each is also linked with libFuzzer into fuzz_<name>.
# A harness that needs sources outside libdiffkit lists them in
# DK_FUZZ_EXTRA_<name> below (sources) and DK_FUZZ_INCLUDE_<name> (folders).
set(DK_FUZZ_DIR "${CMAKE_CURRENT_SOURCE_DIR}/fuzz")
file(GLOB DK_FUZZ_EXTRA_options CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/plugins/model/hdit/*.c")
set(DK_FUZZ_INCLUDE_options "${PROJECT_SOURCE_DIR}/plugins/model/hdit")

file(GLOB DK_FUZZ_HARNESSES CONFIGURE_DEPENDS "${DK_FUZZ_DIR}/fuzz_*.c")
foreach(src ${DK_FUZZ_HARNESSES})
  get_filename_component(base ${src} NAME_WE)
  string(REGEX REPLACE "^fuzz_" "" name ${base})
  add_executable(fuzz_replay_${name} ${src} ${DK_FUZZ_DIR}/replay_main.c ${DK_FUZZ_EXTRA_${name}})
  target_include_directories(fuzz_replay_${name} PRIVATE ${DK_FUZZ_DIR} ${DK_FUZZ_INCLUDE_${name}})
  target_link_libraries(fuzz_replay_${name} PRIVATE diffkit m)
  add_test(NAME fuzz.${name} COMMAND fuzz_replay_${name} "${DK_FUZZ_DIR}/corpus/${name}")
  set_tests_properties(fuzz.${name} PROPERTIES LABELS "unit;fuzz" TIMEOUT 120)
  if(DIFFKIT_FUZZ)
    add_executable(fuzz_${name} ${src} ${DK_FUZZ_EXTRA_${name}})
    target_include_directories(fuzz_${name} PRIVATE ${DK_FUZZ_DIR} ${DK_FUZZ_INCLUDE_${name}})
    target_link_libraries(fuzz_${name} PRIVATE diffkit m)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  endif()
endforeach()
