# Generation runtime (runtime/gen, gen_) and the commands built on it (run, chat, logits, bench).
if(TARGET bale_gen)
  bale_add_test(NAME test_gen SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/gen/test_gen.c
    LIBS bale_gen PkgConfig::JANSSON m LABELS e2e)
  add_dependencies(test_gen bale)
  # the same through GEN_DEVICE_CUDA against the CPU (skips without a GPU)
  bale_add_test(NAME test_gen_cuda SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/gen/test_gen_cuda.c
    LIBS bale_gen PkgConfig::JANSSON m LABELS gpu)
  add_dependencies(test_gen_cuda bale)
  bale_add_script_test(NAME test_run_cli SCRIPT ${CMAKE_CURRENT_LIST_DIR}/cli/test_run_cli.sh LABELS e2e)
endif()
