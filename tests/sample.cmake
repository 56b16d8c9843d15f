# Sampler and stop conditions (runtime/sample, smp_): transformers logits-processor parity on
# tests/data/sample/cases.jsonl (regenerate with tools/reference/make_sampler_cases.py), draw
# statistics, penalties, stop strings.
bale_add_test(NAME test_sample SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sample.c
  LIBS bale_sample PkgConfig::JANSSON LABELS unit)

# Speed on a 152K-id row (not a test): bale_bench_sample [iterations]
add_executable(bale_bench_sample ${CMAKE_CURRENT_LIST_DIR}/bench_sample.c)
target_link_libraries(bale_bench_sample PRIVATE bale_testutil bale_sample)
