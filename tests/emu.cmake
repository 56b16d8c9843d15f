# The CUDA emulator itself (kernels/cuda/emu, BALE_CUDA_EMU builds only): barriers, shuffles, deadlock
# detection, launch checks, graph capture and replay, memory checks, the cuBLAS GEMM. Label unit: it
# needs no GPU, it is what makes the gpu-labelled tests run on the CPU.
if(BALE_CUDA_EMU)
  bale_add_test(NAME test_kn_emu SOURCES ${CMAKE_CURRENT_LIST_DIR}/emu/test_kn_emu.cpp
    LIBS bale_kn_emu LABELS unit)
  target_compile_options(test_kn_emu PRIVATE -DKN_EMU)
endif()
