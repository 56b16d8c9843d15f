# CPU kernels (kernels/cpu, kn_) and the model runtime (runtime/model, rt_).
if(TARGET bale_kn_cpu)
  bale_add_test(NAME test_kn_cpu SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_kn_cpu.c
    LIBS bale_kn_cpu m LABELS unit)
  # The KV cache (F32, BF16, per-head FP8) and attention over it: the CPU reference of the GPU cache.
  bale_add_test(NAME test_kn_kv SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_kn_kv.c
    LIBS bale_kn_cpu m LABELS unit)

  # Matmul bandwidth benchmark (not a test): build with --target bale_bench_kn.
  add_executable(bale_bench_kn EXCLUDE_FROM_ALL ${CMAKE_CURRENT_SOURCE_DIR}/bench_kn.c)
  target_link_libraries(bale_bench_kn PRIVATE bale_kn_cpu m)
endif()

if(TARGET bale_model)
  bale_add_test(NAME test_model_bind SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_model_bind.c
    LIBS bale_model m LABELS unit)
  # Logits of tiny transformers models (tests/data/logits, tools/reference/make_logits_fixtures.py)
  # against the runtime after `bale convert` with every weight recipe.
  bale_add_test(NAME test_model_logits SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_model_logits.c
    LIBS bale_model PkgConfig::JANSSON m LABELS e2e)
  add_dependencies(test_model_logits bale)
endif()
