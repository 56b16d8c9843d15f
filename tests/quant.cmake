# Quantizer (convert/quant.c, SPEC §6.4). The test includes quant.c itself to reach the element
# encoders, so it does not link bale_convert (whose other files may not build yet).
bale_add_test(NAME test_quant SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/quant/test_quant.c LIBS m LABELS unit)
target_include_directories(test_quant PRIVATE ${CMAKE_SOURCE_DIR}/convert)

# Single-thread throughput of each kind; a tool, not a test: build target bale_bench_quant.
add_executable(bale_bench_quant ${CMAKE_SOURCE_DIR}/tools/bench-quant.c ${CMAKE_SOURCE_DIR}/convert/quant.c)
target_include_directories(bale_bench_quant PRIVATE ${CMAKE_SOURCE_DIR}/convert)
target_include_directories(bale_bench_quant PRIVATE ${CMAKE_SOURCE_DIR}/formats/include)
target_link_libraries(bale_bench_quant PRIVATE m)
