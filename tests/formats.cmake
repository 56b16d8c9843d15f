# Tests of the .bale format library (formats/).
set(BALE_FMT_TEST_COMMON ${CMAKE_CURRENT_LIST_DIR}/test_fmt_common.c)

bale_add_test(NAME test_fmt_numeric SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fmt_numeric.c LIBS m LABELS unit)
bale_add_test(NAME test_fmt_roundtrip
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fmt_roundtrip.c ${BALE_FMT_TEST_COMMON} LIBS PkgConfig::XXHASH m LABELS unit)
bale_add_test(NAME test_fmt_malformed
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fmt_malformed.c ${BALE_FMT_TEST_COMMON} LIBS PkgConfig::XXHASH LABELS unit)

# Golden file: regenerate with `build/tests/bale_make_golden tests/data/golden/small.bale`.
add_executable(bale_make_golden ${CMAKE_CURRENT_LIST_DIR}/make_golden.c
  ${CMAKE_CURRENT_LIST_DIR}/test_fmt_golden_gen.c ${BALE_FMT_TEST_COMMON})
target_link_libraries(bale_make_golden PRIVATE bale_testutil PkgConfig::XXHASH m)
bale_add_test(NAME test_fmt_golden
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fmt_golden.c ${CMAKE_CURRENT_LIST_DIR}/test_fmt_golden_gen.c
  LIBS m LABELS unit)

# Fuzz corpus replay (no libFuzzer needed), and the libFuzzer target with BALE_FUZZ=ON + clang.
add_executable(fuzz_reader_replay ${CMAKE_CURRENT_LIST_DIR}/fuzz/replay.c ${CMAKE_CURRENT_LIST_DIR}/fuzz/fuzz_reader.c)
target_link_libraries(fuzz_reader_replay PRIVATE bale_formats)
add_test(NAME fuzz_reader_replay COMMAND fuzz_reader_replay ${CMAKE_CURRENT_LIST_DIR}/fuzz/corpus)
set_tests_properties(fuzz_reader_replay PROPERTIES LABELS unit)

if(BALE_FUZZ)
  if(CMAKE_C_COMPILER_ID MATCHES "Clang")
    file(GLOB BALE_FMT_FUZZ_SRC CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/../formats/src/*.c)
    set(BALE_FUZZ_SAN address,undefined)
    add_library(bale_formats_fuzz STATIC ${BALE_FMT_FUZZ_SRC})
    target_include_directories(bale_formats_fuzz PUBLIC ${CMAKE_CURRENT_LIST_DIR}/../formats/include
      PRIVATE ${CMAKE_CURRENT_LIST_DIR}/../formats/src)
    target_compile_options(bale_formats_fuzz PRIVATE -fsanitize=fuzzer-no-link,${BALE_FUZZ_SAN} -g)
    target_compile_definitions(bale_formats_fuzz PRIVATE FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION)
    target_link_libraries(bale_formats_fuzz PUBLIC PkgConfig::ZSTD PkgConfig::XXHASH Threads::Threads m)
    add_executable(fuzz_reader ${CMAKE_CURRENT_LIST_DIR}/fuzz/fuzz_reader.c)
    target_compile_options(fuzz_reader PRIVATE -fsanitize=fuzzer,${BALE_FUZZ_SAN} -g)
    target_link_options(fuzz_reader PRIVATE -fsanitize=fuzzer,${BALE_FUZZ_SAN})
    target_link_libraries(fuzz_reader PRIVATE bale_formats_fuzz)
  else()
    message(WARNING "BALE_FUZZ=ON needs clang (CMAKE_C_COMPILER_ID is ${CMAKE_C_COMPILER_ID}); fuzz_reader not built")
  endif()
endif()
