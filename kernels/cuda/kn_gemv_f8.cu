// GEMV instantiations for F8 weights (one file per weight kind so builds run in parallel).
#include "kn_gemv.cuh"

KN_GEMV_DEFINE_LAUNCH(kn_gemv_launch_f8, KN_WK_F8)
