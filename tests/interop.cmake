# Interop and export (issue 16, docs/interop.md): unit.core_export (the .npz
# writer, byte by byte) is globbed from tests/unit; here:
#  - integration.sample_cli: `diffkit sample` on a diffkit checkpoint into an
#    .npz, a folder of PNGs and a grid; reproducibility and refusals;
#  - golden.interop_kdiffusion / golden.interop_dit: k-diffusion (HDiT) and
#    facebookresearch/DiT checkpoints read by the torch reader sample as the
#    real k-diffusion / DiT code does (tests/data/interop, its README).
add_test(NAME integration.sample_cli
         COMMAND $<TARGET_FILE:diffkit_cli> run ${CMAKE_CURRENT_SOURCE_DIR}/lua/sample_cli.lua)
set_tests_properties(integration.sample_cli PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 300
  ENVIRONMENT "DK_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR};DIFFKIT_BIN=$<TARGET_FILE:diffkit_cli>")
target_link_libraries(test_core_export PRIVATE ZLIB::ZLIB) # the test recomputes CRC-32s

foreach(which kdiffusion dit)
  add_test(NAME golden.interop_${which}
           COMMAND $<TARGET_FILE:diffkit_cli> run ${CMAKE_CURRENT_SOURCE_DIR}/lua/interop_${which}.lua ${DK_TEST_DATA}/interop)
  set_tests_properties(golden.interop_${which} PROPERTIES LABELS "golden;interop" TIMEOUT 300
    ENVIRONMENT "DK_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR};DIFFKIT_BIN=$<TARGET_FILE:diffkit_cli>")
endforeach()
