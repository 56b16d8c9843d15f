# The emulations of the PTX wrappers (kernels/cuda/kn_ptx.cuh under KN_EMU: ldmatrix, mma.m16n8k16,
# cp.async) against plain loops, BALE_CUDA_EMU builds only. The test is compiled like the kernels
# (C++ over kn_emu.h) and runs its own small kernels on the emulator runtime alone (not the kernel
# library); label unit.
if(BALE_CUDA_EMU)
  bale_add_test(NAME test_kn_ptx_emu SOURCES ${CMAKE_CURRENT_LIST_DIR}/emu/test_kn_ptx_emu.cpp
    LIBS bale_kn_emu m LABELS unit)
  target_compile_options(test_kn_ptx_emu PRIVATE -ffp-contract=off -Wno-unknown-pragmas -DKN_EMU
    -include ${CMAKE_SOURCE_DIR}/kernels/cuda/emu/kn_emu.h)
  target_include_directories(test_kn_ptx_emu PRIVATE ${CMAKE_SOURCE_DIR}/kernels/cuda)
endif()
