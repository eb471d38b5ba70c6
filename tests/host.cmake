# host.cmake: tests of the plugin host, the Lua host and the `diffkit` CLI.
#  - builds the example plugin of docs/plugins.md into a test-only folder
#    (never the default search path) and loads it through DIFFKIT_PLUGIN_PATH;
#  - builds the deliberately broken plugins of tests/plugins/ into another;
#  - runs the Lua test scripts of tests/lua/ through `diffkit run`;
#  - checks each bad input of the foundation issue: one clear line and the
#    right exit status (tests/lua/expect.sh STATUS REGEX COMMAND...).

set(DK_EXAMPLE_PLUGIN_DIR "${CMAKE_BINARY_DIR}/tests/example_plugins")
set(DK_BROKEN_PLUGIN_DIR "${CMAKE_BINARY_DIR}/tests/broken_plugins")
set(DK_EXPECT "${CMAKE_CURRENT_SOURCE_DIR}/lua/expect.sh")
set(DK_LUA_TESTS "${CMAKE_CURRENT_SOURCE_DIR}/lua")

add_library(dk_example_cosine MODULE "${PROJECT_SOURCE_DIR}/docs/example_plugin/cosine-example/cosine_example.c")
target_link_libraries(dk_example_cosine PRIVATE diffkit m)
set_target_properties(dk_example_cosine PROPERTIES PREFIX "" OUTPUT_NAME "cosine-example"
  LIBRARY_OUTPUT_DIRECTORY "${DK_EXAMPLE_PLUGIN_DIR}/schedule" C_VISIBILITY_PRESET hidden)

set(DK_BROKEN_PLUGINS broken_noentry broken_abi broken_size broken_options broken_vtable)
foreach(b ${DK_BROKEN_PLUGINS})
  add_library(dk_${b} MODULE "${CMAKE_CURRENT_SOURCE_DIR}/plugins/${b}.c")
  target_link_libraries(dk_${b} PRIVATE diffkit m)
  set_target_properties(dk_${b} PROPERTIES PREFIX "" OUTPUT_NAME "${b}"
    LIBRARY_OUTPUT_DIRECTORY "${DK_BROKEN_PLUGIN_DIR}" C_VISIBILITY_PRESET hidden)
endforeach()

# A .so whose constructor writes a marker and that exports no diffkit_plugin:
# the host must skip it before dlopen (tests/unit/test_host_elf.c).
set(DK_EVIL_PLUGIN_DIR "${CMAKE_BINARY_DIR}/tests/evil_plugins")
add_library(dk_evil_constructor MODULE "${CMAKE_CURRENT_SOURCE_DIR}/plugins/evil_constructor.c")
set_target_properties(dk_evil_constructor PROPERTIES PREFIX "" OUTPUT_NAME "evil_constructor"
  LIBRARY_OUTPUT_DIRECTORY "${DK_EVIL_PLUGIN_DIR}" C_VISIBILITY_PRESET hidden)
if(TARGET test_host_elf)
  target_compile_definitions(test_host_elf PRIVATE
    DK_EXAMPLE_PLUGIN_DIR="${DK_EXAMPLE_PLUGIN_DIR}" DK_EVIL_PLUGIN_DIR="${DK_EVIL_PLUGIN_DIR}")
  add_dependencies(test_host_elf dk_evil_constructor dk_example_cosine)
endif()

# The C loader test reads both folders.
if(TARGET test_host_loader)
  target_compile_definitions(test_host_loader PRIVATE
    DK_EXAMPLE_PLUGIN_DIR="${DK_EXAMPLE_PLUGIN_DIR}" DK_BROKEN_PLUGIN_DIR="${DK_BROKEN_PLUGIN_DIR}")
  add_dependencies(test_host_loader dk_example_cosine)
  foreach(b ${DK_BROKEN_PLUGINS})
    add_dependencies(test_host_loader dk_${b})
  endforeach()
endif()

# A test that runs `diffkit` with the example plugin on the path.
function(dk_host_test name)
  cmake_parse_arguments(T "" "" "COMMAND;ENV;LABELS;DEPENDS" ${ARGN})
  add_test(NAME host.${name} COMMAND ${T_COMMAND} WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}")
  if(NOT T_LABELS)
    set(T_LABELS lua)
  endif()
  if(NOT T_ENV)
    set(T_ENV "DIFFKIT_PLUGIN_PATH=${DK_EXAMPLE_PLUGIN_DIR}")
  endif()
  set_tests_properties(host.${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT 120 ENVIRONMENT "${T_ENV}")
endfunction()

# ---- Lua scripts that assert values ------------------------------------------
set(DK_LUA_SCRATCH "${CMAKE_CURRENT_BINARY_DIR}/tmp/lua")
file(MAKE_DIRECTORY "${DK_LUA_SCRATCH}")
dk_host_test(lua_tensor COMMAND ${DK_CLI} run "${DK_LUA_TESTS}/test_tensor.lua")
dk_host_test(lua_io COMMAND ${DK_CLI} run "${DK_LUA_TESTS}/test_io.lua" "${DK_LUA_SCRATCH}" "${DK_TEST_DATA}")
dk_host_test(lua_plugins COMMAND ${DK_CLI} run "${DK_LUA_TESTS}/test_plugins.lua")
dk_host_test(lua_script_env COMMAND ${DK_CLI} "${DK_LUA_TESTS}/test_script_env.lua" alpha "beta two")

# ---- bad input: one clear line and the right exit status ---------------------
set(BAD "${DK_LUA_TESTS}/bad")
dk_host_test(bad_syntax COMMAND ${DK_EXPECT} 1 "syntax\\.lua:2: .*unexpected symbol" ${DK_CLI} run "${BAD}/syntax.lua")
dk_host_test(bad_runtime COMMAND ${DK_EXPECT} 1 "runtime\\.lua:2: boom" ${DK_CLI} run "${BAD}/runtime.lua")
dk_host_test(bad_runtime_traceback COMMAND ${DK_EXPECT} 1 "runtime\\.lua:4: in main chunk" ${DK_CLI} run "${BAD}/runtime.lua")
dk_host_test(bad_global COMMAND ${DK_EXPECT} 1 "global\\.lua:4: undefined global 'modle'" ${DK_CLI} run "${BAD}/global.lua")
dk_host_test(bad_missing_script COMMAND ${DK_EXPECT} 1 "cannot open .*no_such_script\\.lua" ${DK_CLI} run no_such_script.lua)
dk_host_test(bad_unknown_plugin COMMAND ${DK_EXPECT} 1
  "unknown_plugin\\.lua:3: no schedule plugin named 'cosine-exampel' \\(did you mean 'cosine-example'\\?"
  ${DK_CLI} run "${BAD}/unknown_plugin.lua")
dk_host_test(bad_unknown_option COMMAND ${DK_EXPECT} 1
  "unknown option 'sigmamin' for schedule 'cosine-example' \\(did you mean 'sigma_min'\\? options: sigma_min, sigma_max\\)"
  ${DK_CLI} run "${BAD}/unknown_option.lua")
dk_host_test(bad_wrong_type COMMAND ${DK_EXPECT} 1
  "option 'sigma_max' of schedule 'cosine-example' expects a float, got 'abc'" ${DK_CLI} run "${BAD}/wrong_type.lua")
dk_host_test(bad_out_of_range COMMAND ${DK_EXPECT} 1
  "option 'sigma_min' = -1 is out of range: must be > 0 \\(sigma_min: smallest non-zero sigma\\)" ${DK_CLI} run "${BAD}/out_of_range.lua")
dk_host_test(bad_missing_file COMMAND ${DK_EXPECT} 1 "no/such/file\\.safetensors: cannot open: No such file"
  ${DK_CLI} run "${BAD}/load_missing.lua")

# usage errors exit 2
dk_host_test(usage_no_command COMMAND ${DK_EXPECT} 2 "usage: diffkit COMMAND" ${DK_CLI})
dk_host_test(usage_unknown_command COMMAND ${DK_EXPECT} 2 "unknown command 'frobnicate'" ${DK_CLI} frobnicate)
dk_host_test(usage_run_no_script COMMAND ${DK_EXPECT} 2 "no script given \\(run 'diffkit run --help'" ${DK_CLI} run)
dk_host_test(usage_plugins_kind COMMAND ${DK_EXPECT} 2 "unknown plugin kind 'schedules'" ${DK_CLI} plugins schedules)
dk_host_test(usage_verify_no_file COMMAND ${DK_EXPECT} 2 "no FILE given" ${DK_CLI} verify)

# help documents every command
dk_host_test(help COMMAND ${DK_EXPECT} 0 "^  verify " ${DK_CLI} --help)
foreach(cmd run plugins verify)
  dk_host_test(help_${cmd} COMMAND ${DK_EXPECT} 0 "^usage: diffkit ${cmd}" ${DK_CLI} ${cmd} --help)
endforeach()

# `diffkit plugins`
dk_host_test(plugins_list COMMAND ${DK_EXPECT} 0 "^schedule cosine-example 1\\.0: example" ${DK_CLI} plugins schedule)
dk_host_test(plugins_options COMMAND ${DK_EXPECT} 0 "sigma_min +float +default 0\\.01 +> 0" ${DK_CLI} plugins schedule cosine-example)
dk_host_test(plugins_unknown COMMAND ${DK_EXPECT} 1 "did you mean 'cosine-example'" ${DK_CLI} plugins schedule cosine-exampel)

# broken plugins are rejected with their reason
dk_host_test(broken_noentry COMMAND ${DK_EXPECT} 1 "broken_noentry\\.so has no entry point 'diffkit_plugin'"
  ${DK_CLI} plugins schedule broken_noentry ENV "DIFFKIT_PLUGIN_PATH=${DK_BROKEN_PLUGIN_DIR}")
dk_host_test(broken_abi COMMAND ${DK_EXPECT} 1
  "broken_abi\\.so was built for diffkit plugin ABI 2 \\(descriptor size [0-9]+\\), this host has ABI 1 \\(size [0-9]+\\): rebuild it against this diffkit"
  ${DK_CLI} plugins schedule broken_abi ENV "DIFFKIT_PLUGIN_PATH=${DK_BROKEN_PLUGIN_DIR}")
dk_host_test(broken_size COMMAND ${DK_EXPECT} 1
  "broken_size\\.so was built for diffkit plugin ABI 1 \\(descriptor size [0-9]+\\), this host has ABI 1 \\(size [0-9]+\\)"
  ${DK_CLI} plugins schedule broken_size ENV "DIFFKIT_PLUGIN_PATH=${DK_BROKEN_PLUGIN_DIR}")
dk_host_test(broken_options COMMAND ${DK_EXPECT} 1 "the default '-7' of option 'rho' is invalid"
  ${DK_CLI} plugins schedule broken_options ENV "DIFFKIT_PLUGIN_PATH=${DK_BROKEN_PLUGIN_DIR}")
dk_host_test(broken_vtable COMMAND ${DK_EXPECT} 1 "dk_schedule_vtable has struct_size 8"
  ${DK_CLI} plugins schedule broken_vtable ENV "DIFFKIT_PLUGIN_PATH=${DK_BROKEN_PLUGIN_DIR}")

# `diffkit verify` framework: unknown section, missing file
dk_host_test(verify_make_unknown COMMAND ${DK_CLI} run "${BAD}/make_unknown_section.lua" "${DK_LUA_SCRATCH}/unknown_section.safetensors")
set_tests_properties(host.verify_make_unknown PROPERTIES FIXTURES_SETUP dk_unknown_section)
dk_host_test(verify_unknown_section COMMAND ${DK_EXPECT} 1 "unknown section 'nonsense' \\(known sections: "
  ${DK_CLI} verify "${DK_LUA_SCRATCH}/unknown_section.safetensors")
set_tests_properties(host.verify_unknown_section PROPERTIES FIXTURES_REQUIRED dk_unknown_section)
dk_host_test(verify_missing_file COMMAND ${DK_EXPECT} 1 "no_such\\.safetensors: cannot open" ${DK_CLI} verify no_such.safetensors)
