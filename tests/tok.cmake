# TOKENIZER section codec (formats/src/tok.c, SPEC §9) and the Hugging Face tokenizer importer
# (convert/hf_tokenizer.c). The importer test compiles hf_tokenizer.c itself so it does not depend
# on the rest of bale_convert.
bale_add_test(NAME test_fmt_tok SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/tok/test_fmt_tok.c LABELS unit)
bale_add_test(NAME test_hf_tokenizer
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/tok/test_hf_tokenizer.c ${CMAKE_SOURCE_DIR}/convert/hf_tokenizer.c
  LIBS bale_formats PkgConfig::JANSSON LABELS unit)
target_include_directories(test_hf_tokenizer PRIVATE ${CMAKE_SOURCE_DIR}/convert)
