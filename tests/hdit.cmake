# HDiT (issue 5): golden parity of the hdit plugin against k-diffusion's
# image_transformer_v2 (golden README §6.2; F32 at 1e-4 and F64 at 1e-10),
# and a short Fashion-MNIST training run of a two-level HDiT from Lua.
add_test(NAME golden.hdit
         COMMAND $<TARGET_FILE:diffkit_cli> verify ${DK_TEST_DATA}/golden/hdit_tiny.io.safetensors)
set_tests_properties(golden.hdit PROPERTIES LABELS golden TIMEOUT 300)

# 200 steps of a two-level HDiT (neighborhood + global) on Fashion-MNIST:
# the loss falls (last 20 steps < 0.8 x first 20) and a grid PNG is written.
add_test(NAME integration.hdit_train
         COMMAND $<TARGET_FILE:diffkit_cli> run ${CMAKE_CURRENT_SOURCE_DIR}/lua/hdit_train.lua)
set_tests_properties(integration.hdit_train PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 300
  ENVIRONMENT "DK_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR}")

# `diffkit info`: an experiment script in info mode (nothing trained; the
# preset reaches the script) and a bare plugin at the paper's row E.
add_test(NAME lua.hdit_info_script
         COMMAND $<TARGET_FILE:diffkit_cli> info ${CMAKE_CURRENT_SOURCE_DIR}/lua/hdit_info_exp.lua --preset wide)
set_tests_properties(lua.hdit_info_script PROPERTIES LABELS lua
  PASS_REGULAR_EXPRESSION "hdit_wide: params 470289 \\(0.5M\\), trainable 465873 \\(0.5M\\), forward 0.0120 GMACs \\(11956224\\) at 32x32")
add_test(NAME lua.hdit_info_model
         COMMAND $<TARGET_FILE:diffkit_cli> info --model hdit preset=E --size 128)
set_tests_properties(lua.hdit_info_model PROPERTIES LABELS lua
  PASS_REGULAR_EXPRESSION "trainable 117003805 \\(117.0M\\), forward 31.3690 GMACs \\(31369003008\\)")
