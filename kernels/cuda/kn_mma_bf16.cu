// MMA GEMM instantiations for BF16 weights (one file per weight kind so builds run in parallel).
#include "kn_mma.cuh"

KN_MMA_DEFINE_LAUNCH(kn_mma_launch_bf16, KN_WK_BF16)
