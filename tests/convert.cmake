# Converter tests (bale convert): strict safetensors/index/config parsing, recipes end to end,
# determinism, CLI usage errors and interruption.
if(TARGET bale_convert)
  bale_add_test(NAME test_safetensors
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_safetensors.c ${CMAKE_CURRENT_SOURCE_DIR}/test_convert_util.c
    LIBS bale_convert LABELS unit)
  bale_add_test(NAME test_convert_e2e
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_convert_e2e.c ${CMAKE_CURRENT_SOURCE_DIR}/test_convert_util.c
    LIBS bale_convert LABELS e2e)
  bale_add_test(NAME test_convert_cli
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_convert_cli.c ${CMAKE_CURRENT_SOURCE_DIR}/test_convert_util.c
    LIBS bale_convert LABELS e2e)
  foreach(t test_safetensors test_convert_e2e test_convert_cli)
    add_dependencies(${t} bale)
  endforeach()
endif()
