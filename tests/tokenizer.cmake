# Runtime tokenizer (runtime/tokenizer, tok_): parity with HF tokenizers on a committed corpus
# (tests/data/tokenizer, regenerated with tools/reference/make_tokenizer_corpus.py), streaming
# decoder, edge cases. Real tokenizers go through convert/hf_tokenizer.c → fmt_tok section, compiled
# in directly so these tests do not depend on the rest of bale_convert.
set(BALE_TOKT_DIR ${CMAKE_CURRENT_LIST_DIR}/tokenizer)
set(BALE_TOKT_FIXTURE ${BALE_TOKT_DIR}/tok_fixture.c ${CMAKE_CURRENT_LIST_DIR}/../convert/hf_tokenizer.c)
set(BALE_TOKT_INC ${CMAKE_CURRENT_LIST_DIR}/../convert ${BALE_TOKT_DIR})

bale_add_test(NAME test_tok_parity SOURCES ${BALE_TOKT_DIR}/test_tok_parity.c ${BALE_TOKT_FIXTURE}
  LIBS bale_tokenizer PkgConfig::JANSSON LABELS unit)
target_include_directories(test_tok_parity PRIVATE ${BALE_TOKT_INC})

bale_add_test(NAME test_tok_stream SOURCES ${BALE_TOKT_DIR}/test_tok_stream.c ${BALE_TOKT_FIXTURE}
  LIBS bale_tokenizer PkgConfig::JANSSON LABELS unit)
target_include_directories(test_tok_stream PRIVATE ${BALE_TOKT_INC})

bale_add_test(NAME test_tok_unit SOURCES ${BALE_TOKT_DIR}/test_tok_unit.c LIBS bale_tokenizer LABELS unit)

# Encode speed (not a test): bale_bench_tok [MB of English text]
add_executable(bale_bench_tok ${BALE_TOKT_DIR}/bench_tok.c ${BALE_TOKT_FIXTURE})
target_link_libraries(bale_bench_tok PRIVATE bale_testutil bale_tokenizer PkgConfig::JANSSON)
target_include_directories(bale_bench_tok PRIVATE ${BALE_TOKT_INC})
target_compile_definitions(bale_bench_tok PRIVATE BALE_TEST_DATA="${BALE_TEST_DATA}")
