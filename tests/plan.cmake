# GPU memory planner (runtime/plan, pl_) and the CLI around it: --dry-run, --device, --vram.
if(TARGET bale_plan)
  bale_add_test(NAME test_plan SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/plan/test_plan.c LIBS bale_plan LABELS unit)
  bale_add_script_test(NAME test_plan_cli SCRIPT ${CMAKE_CURRENT_LIST_DIR}/cli/test_plan_cli.sh LABELS e2e)
endif()
