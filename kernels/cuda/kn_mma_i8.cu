// MMA GEMM instantiations for I8 weights (one file per weight kind so builds run in parallel).
#include "kn_mma.cuh"

KN_MMA_DEFINE_LAUNCH(kn_mma_launch_i8, KN_WK_I8)
