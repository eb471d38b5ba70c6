# dit.cmake: the DiT model against facebookresearch/DiT (golden README
# section 6.1) through `diffkit verify`, which builds the dit plugin through
# the host and loads dit_tiny.weights.safetensors beside the io file. The unit
# tests of the DiT plugins (tests/unit/test_dit_*.c) are picked up by the glob.
add_test(NAME golden.dit
         COMMAND $<TARGET_FILE:diffkit_cli> verify ${DK_TEST_DATA}/golden/dit_tiny.io.safetensors)
set_tests_properties(golden.dit PROPERTIES LABELS golden TIMEOUT 300)
