# torch.cmake: the torch.save reader from Lua and `diffkit convert`
# (docs/interop.md). The C reader itself is unit.core_torchfile and
# fuzz.torchfile. The files are tests/data/torch/ (gen_torch_files.py); no
# torch is needed at test time.
set(DK_TORCH_SCRATCH "${CMAKE_CURRENT_BINARY_DIR}/tmp/torch")
set(DK_TORCH_DATA "${DK_TEST_DATA}/torch")
file(MAKE_DIRECTORY "${DK_TORCH_SCRATCH}")
set(DK_EXPECT "${CMAKE_CURRENT_SOURCE_DIR}/lua/expect.sh")

function(dk_torch_test name)
  add_test(NAME torch.${name} COMMAND ${ARGN} WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}")
  set_tests_properties(torch.${name} PROPERTIES LABELS "lua;torch" TIMEOUT 120)
endfunction()

dk_torch_test(lua COMMAND ${DK_CLI} run "${CMAKE_CURRENT_SOURCE_DIR}/lua/test_torch.lua" "${DK_TEST_DATA}")

# conversions, then a Lua script that checks the outputs bit for bit
dk_torch_test(convert_kdiff ${DK_EXPECT} 0 "using the state dict 'model_ema'.*|wrote 4 tensors"
  ${DK_CLI} convert "${DK_TORCH_DATA}/kdiff_ckpt.pth" "${DK_TORCH_SCRATCH}/kdiff.safetensors")
dk_torch_test(convert_dit ${DK_EXPECT} 0 "using the state dict 'ema'"
  ${DK_CLI} convert "${DK_TORCH_DATA}/dit_ckpt.pt" "${DK_TORCH_SCRATCH}/dit.safetensors")
dk_torch_test(convert_legacy ${DK_EXPECT} 0 "wrote 31 tensors"
  ${DK_CLI} convert "${DK_TORCH_DATA}/legacy.pth" "${DK_TORCH_SCRATCH}/legacy.safetensors" --key= --dtype f32)
dk_torch_test(convert_path ${DK_EXPECT} 0 "wrote 4 tensors"
  ${DK_CLI} convert "${DK_TORCH_DATA}/kdiff_ckpt.pth" "${DK_TORCH_SCRATCH}/model.safetensors" --key model)
dk_torch_test(convert_one_tensor ${DK_EXPECT} 0 "wrote 1 tensors"
  ${DK_CLI} convert "${DK_TORCH_DATA}/views.pt" "${DK_TORCH_SCRATCH}/one.safetensors" --key transpose)
set_tests_properties(torch.convert_kdiff torch.convert_dit torch.convert_legacy torch.convert_path torch.convert_one_tensor
  PROPERTIES FIXTURES_SETUP torch_converted)
dk_torch_test(convert_check ${DK_CLI} run "${CMAKE_CURRENT_SOURCE_DIR}/lua/torch_convert_check.lua"
  "${DK_TORCH_SCRATCH}" "${DK_TEST_DATA}")
set_tests_properties(torch.convert_check PROPERTIES FIXTURES_REQUIRED torch_converted)

# refusals: one line, exit 1; usage errors exit 2; no output file left behind
dk_torch_test(convert_hostile ${DK_EXPECT} 1
  "^diffkit convert: .*hostile_os_system\\.pt: data\\.pkl byte 2: pickle global 'os\\.system' is not allowed"
  ${DK_CLI} convert "${DK_TORCH_DATA}/hostile_os_system.pt" "${DK_TORCH_SCRATCH}/hostile.safetensors")
dk_torch_test(convert_hostile_legacy ${DK_EXPECT} 1 "pickle global 'os\\.system' is not allowed"
  ${DK_CLI} convert "${DK_TORCH_DATA}/hostile_legacy.pth" "${DK_TORCH_SCRATCH}/hostile.safetensors")
dk_torch_test(convert_deflated ${DK_EXPECT} 1 "is compressed \\(method 8, deflate\\)"
  ${DK_CLI} convert "${DK_TORCH_DATA}/deflated_dtypes.pt" "${DK_TORCH_SCRATCH}/deflated.safetensors")
dk_torch_test(convert_truncated ${DK_EXPECT} 1 "truncated file"
  ${DK_CLI} convert "${DK_TORCH_DATA}/truncated_dtypes.pt" "${DK_TORCH_SCRATCH}/truncated.safetensors")
dk_torch_test(convert_bad_key ${DK_EXPECT} 1 "no entry 'nope' \\(the top level has keys 'config', 'model'"
  ${DK_CLI} convert "${DK_TORCH_DATA}/kdiff_ckpt.pth" "${DK_TORCH_SCRATCH}/nope.safetensors" --key nope)
dk_torch_test(convert_usage ${DK_EXPECT} 2 "needs IN\\.pt and OUT\\.safetensors" ${DK_CLI} convert x.pt)
dk_torch_test(convert_bad_dtype ${DK_EXPECT} 2 "--dtype is keep or f32" ${DK_CLI} convert a.pt b.safetensors --dtype f8)
dk_torch_test(convert_help ${DK_EXPECT} 0 "usage: diffkit convert IN\\.pt" ${DK_CLI} convert --help)
dk_torch_test(convert_no_output ${DK_EXPECT} 0 "^none$" sh -c
  "ls '${DK_TORCH_SCRATCH}' | grep -E '^(hostile|deflated|truncated|nope)' || echo none")
set_tests_properties(torch.convert_no_output PROPERTIES DEPENDS
  "torch.convert_hostile;torch.convert_hostile_legacy;torch.convert_deflated;torch.convert_truncated;torch.convert_bad_key")
