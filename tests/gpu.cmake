# GPU tests: label gpu; each exits 77 (ctest SKIP) with the reason when no CUDA device is usable.
bale_add_test(NAME test_gpu_device SOURCES ${CMAKE_CURRENT_LIST_DIR}/gpu/test_gpu_device.c LIBS bale_kn_cuda LABELS gpu)
