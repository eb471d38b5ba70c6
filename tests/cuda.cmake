# cuda.cmake: the CUDA backend's tests (docs/cuda.md). unit.cuda_device is
# globbed from tests/unit/test_cuda_device.c; it also carries the label cuda
# (ctest -L cuda). Without a GPU, a driver or a CUDA build it checks the
# fallbacks and exits 77, which CTest reports as skipped.
set_tests_properties(unit.cuda_device PROPERTIES LABELS "unit;cuda")

# unit.cuda_ops_core: the CUDA kernels of the core ops (linear, matmul,
# elementwise, reductions, norms, embeddings, layout) against the CPU kernels
# through both backend tables; it includes the private backend/backend.h.
# Without a GPU it exits 77 (skipped).
target_include_directories(test_cuda_ops_core PRIVATE ${CMAKE_SOURCE_DIR}/core/src)
set_tests_properties(unit.cuda_ops_core PROPERTIES LABELS "unit;cuda")
set_tests_properties(unit.cuda_models PROPERTIES LABELS "unit;cuda")

# bench/gpu/model_bench (not a test): diffkit's side of bench/gpu/run.
add_executable(model_bench ${CMAKE_SOURCE_DIR}/bench/gpu/model_bench.c)
target_link_libraries(model_bench PRIVATE diffkit m)

# integration.cuda_train_parity: 50 training steps on cuda against the CPU
# (F64 and F32), cross-device resume, sampling a GPU checkpoint on the CPU.
add_test(NAME integration.cuda_train_parity
         COMMAND $<TARGET_FILE:diffkit_cli> run ${CMAKE_CURRENT_SOURCE_DIR}/train/cuda_parity.lua)
set_tests_properties(integration.cuda_train_parity PROPERTIES LABELS "integration;cuda" SKIP_RETURN_CODE 77
  TIMEOUT 600 ENVIRONMENT "DK_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR}")

# unit.cuda_ops_attn: the CUDA attention / convolution kernels against the
# CPU's, through both backends' kernel tables (backend/backend.h, private to
# libdiffkit: hence core/src on its include path). Skips (77) without a GPU.
set_tests_properties(unit.cuda_ops_attn PROPERTIES LABELS "unit;cuda" SKIP_RETURN_CODE 77)
target_include_directories(test_cuda_ops_attn PRIVATE ${PROJECT_SOURCE_DIR}/core/src)

# unit.cuda_emu_core: unit.cuda_ops_core WITHOUT a GPU, the kernel files of the
# core ops and the training kernels compiled as plain C++ with launches as
# serial loops and a naive GEMM for cuBLAS (tools/cuda_emu/run.sh): their index
# arithmetic and the row-major-to-cuBLAS transcription, under ASan/UBSan, on
# every CI run. Not a substitute for the GPU run. Skips (77) without g++.
add_test(NAME unit.cuda_emu_core COMMAND sh -c "command -v g++ >/dev/null || { echo 'no g++: skipped'; exit 77; }; exec sh ${CMAKE_SOURCE_DIR}/tools/cuda_emu/run.sh ${CMAKE_BINARY_DIR}")
set_tests_properties(unit.cuda_emu_core PROPERTIES LABELS "unit;cuda" SKIP_RETURN_CODE 77 TIMEOUT 300)
