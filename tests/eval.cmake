# `bale eval` (tools/cli/cmd_eval.c, eval_*.c): answer extraction (unit), the CLI on the tiny
# fixtures (e2e), and the quantization-quality regression on the demo model (e2e; skips when
# models/demo is absent).
bale_add_test(NAME test_eval_answer SOURCES ${CMAKE_CURRENT_LIST_DIR}/eval/test_eval_answer.c
  ${CMAKE_SOURCE_DIR}/tools/cli/eval_answer.c LABELS unit)
target_include_directories(test_eval_answer PRIVATE ${CMAKE_SOURCE_DIR}/tools/cli)
if(TARGET bale_gen)
  bale_add_script_test(NAME test_eval_cli SCRIPT ${CMAKE_CURRENT_LIST_DIR}/eval/test_eval_cli.sh LABELS e2e)
endif()
if(TARGET bale_gen)
  bale_add_script_test(NAME test_eval_demo SCRIPT ${CMAKE_CURRENT_LIST_DIR}/eval/test_eval_demo.sh LABELS e2e)
endif()
