// GEMV instantiations for I8 weights (one file per weight kind so builds run in parallel).
#include "kn_gemv.cuh"

KN_GEMV_DEFINE_LAUNCH(kn_gemv_launch_i8, KN_WK_I8)
