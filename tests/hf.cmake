# End-to-end checks of `bale convert` against checkpoints written by transformers / safetensors
# (tests/data/hf, regenerated with tools/reference/make_hf_fixtures.py).
bale_add_test(NAME test_convert_fixtures SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_convert_fixtures.c
  LIBS bale_formats PkgConfig::JANSSON m LABELS e2e)
add_dependencies(test_convert_fixtures bale)

# The synthetic-checkpoint tool must write files the official safetensors package loads.
add_test(NAME synth_checkpoint_tiny
  COMMAND python3 ${CMAKE_SOURCE_DIR}/tools/synth-checkpoint --preset tiny --force --verify --quiet
          --out ${CMAKE_CURRENT_BINARY_DIR}/synth-tiny)
set_tests_properties(synth_checkpoint_tiny PROPERTIES LABELS e2e)

# The conversion benchmark end to end on the tiny preset (seconds).
add_test(NAME bench_convert_tiny
  COMMAND bash ${CMAKE_SOURCE_DIR}/tools/bench-convert.sh --preset tiny --threads 2
          --dir ${CMAKE_CURRENT_BINARY_DIR}/bench-tiny --bale $<TARGET_FILE:bale>)
set_tests_properties(bench_convert_tiny PROPERTIES LABELS e2e)
