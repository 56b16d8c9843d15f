# CUDA kernels (kernels/cuda). test_kn_conv checks the shared host/device conversions on the CPU
# (label unit); the gpu-labelled tests compare every kernel with kernels/cpu and exit 77 (SKIP)
# without a usable device. bale_bench_kn_cuda is a tool (tools/gpu-check.sh runs it).
bale_add_test(NAME test_kn_conv SOURCES ${CMAKE_CURRENT_LIST_DIR}/cuda/test_kn_conv.c
  LIBS bale_kn_cuda bale_kn_cpu m LABELS unit)

bale_add_test(NAME test_kn_cuda_gemv SOURCES ${CMAKE_CURRENT_LIST_DIR}/cuda/test_kn_cuda_gemv.c
  ${CMAKE_CURRENT_LIST_DIR}/cuda/kn_cuda_testutil.c LIBS bale_kn_cuda bale_kn_cpu m LABELS gpu)
bale_add_test(NAME test_kn_cuda_ops SOURCES ${CMAKE_CURRENT_LIST_DIR}/cuda/test_kn_cuda_ops.c
  ${CMAKE_CURRENT_LIST_DIR}/cuda/kn_cuda_testutil.c LIBS bale_kn_cuda bale_kn_cpu m LABELS gpu)
bale_add_test(NAME test_kn_cuda_gemm SOURCES ${CMAKE_CURRENT_LIST_DIR}/cuda/test_kn_cuda_gemm.c
  ${CMAKE_CURRENT_LIST_DIR}/cuda/kn_cuda_testutil.c LIBS bale_kn_cuda bale_kn_cpu m LABELS gpu)
# The GEMM paths' host arithmetic (AUTO's choice, chunking, MMA fragment indexing) on the CPU.
bale_add_test(NAME test_kn_gemm_plan SOURCES ${CMAKE_CURRENT_LIST_DIR}/cuda/test_kn_gemm_plan.c
  LIBS bale_kn_cuda m LABELS unit)
foreach(t test_kn_cuda_gemv test_kn_cuda_ops test_kn_cuda_gemm)
  target_include_directories(${t} PRIVATE ${CMAKE_CURRENT_LIST_DIR}/cuda)
endforeach()

if(BALE_CUDA_EMU)
  # the emulator (linked through bale_kn_cuda) provides the CUDA runtime and cuBLAS calls and headers
  add_executable(bale_bench_kn_cuda ${CMAKE_CURRENT_LIST_DIR}/bench_kn_cuda.c)
  target_link_libraries(bale_bench_kn_cuda PRIVATE bale_kn_cuda bale_kn_cpu m)
elseif(BALE_HAVE_CUDA AND TARGET CUDA::cublas)
  add_executable(bale_bench_kn_cuda ${CMAKE_CURRENT_LIST_DIR}/bench_kn_cuda.c)
  target_link_libraries(bale_bench_kn_cuda PRIVATE bale_kn_cuda bale_kn_cpu CUDA::cublas m)
endif()

# Paged KV cache and attention (kernels/cuda/kn_attn*): address math on the CPU (unit), kernels
# against kn_attention (gpu), and the decode/prefill benchmark.
bale_add_test(NAME test_kn_attn_index SOURCES ${CMAKE_CURRENT_LIST_DIR}/cuda/test_kn_attn_index.c
  LIBS bale_kn_cuda LABELS unit)
bale_add_test(NAME test_kn_cuda_attn SOURCES ${CMAKE_CURRENT_LIST_DIR}/cuda/test_kn_cuda_attn.c
  ${CMAKE_CURRENT_LIST_DIR}/cuda/kn_cuda_testutil.c LIBS bale_kn_cuda bale_kn_cpu m LABELS gpu)
target_include_directories(test_kn_cuda_attn PRIVATE ${CMAKE_CURRENT_LIST_DIR}/cuda)
if(BALE_HAVE_CUDA)
  add_executable(bale_bench_kn_attn ${CMAKE_CURRENT_LIST_DIR}/bench_kn_attn.c)
  target_link_libraries(bale_bench_kn_attn PRIVATE bale_kn_cuda bale_kn_cpu m)
endif()
