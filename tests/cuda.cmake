# cuda.cmake: the CUDA backend's tests (docs/cuda.md). unit.cuda_device is
# globbed from tests/unit/test_cuda_device.c; it also carries the label cuda
# (ctest -L cuda). Without a GPU, a driver or a CUDA build it checks the
# fallbacks and exits 77, which CTest reports as skipped.
set_tests_properties(unit.cuda_device PROPERTIES LABELS "unit;cuda")
# unit.cuda_ops_attn: the CUDA attention / convolution kernels against the
# CPU's, through both backends' kernel tables (backend/backend.h, private to
# libdiffkit: hence core/src on its include path). Skips (77) without a GPU.
set_tests_properties(unit.cuda_ops_attn PROPERTIES LABELS "unit;cuda" SKIP_RETURN_CODE 77)
target_include_directories(test_cuda_ops_attn PRIVATE ${PROJECT_SOURCE_DIR}/core/src)
