# HDiT (issue 5): golden parity of the hdit plugin against k-diffusion's
# image_transformer_v2 (golden README §6.2; F32 at 1e-4 and F64 at 1e-10),
# and a short Fashion-MNIST training run of a two-level HDiT from Lua.
add_test(NAME golden.hdit
         COMMAND $<TARGET_FILE:diffkit_cli> verify ${DK_TEST_DATA}/golden/hdit_tiny.io.safetensors)
set_tests_properties(golden.hdit PROPERTIES LABELS golden TIMEOUT 300)
