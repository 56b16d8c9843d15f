# The bale CLI as users run it (shell scripts driving build/bale).
bale_add_script_test(NAME test_inspect_cli SCRIPT ${CMAKE_CURRENT_LIST_DIR}/cli/test_inspect_cli.sh LABELS e2e)
bale_add_script_test(NAME test_tokenize_cli SCRIPT ${CMAKE_CURRENT_LIST_DIR}/cli/test_tokenize_cli.sh LABELS e2e)
bale_add_script_test(NAME test_convert_enospc SCRIPT ${CMAKE_CURRENT_LIST_DIR}/cli/test_convert_enospc.sh LABELS e2e)
bale_add_script_test(NAME test_demo_model SCRIPT ${CMAKE_CURRENT_LIST_DIR}/cli/test_demo_model.sh LABELS e2e)
# Ctrl-C during a `bale chat` answer cancels it and the chat goes on (python drives the pipes).
bale_add_script_test(NAME test_chat_sigint SCRIPT ${CMAKE_CURRENT_LIST_DIR}/cli/test_chat_sigint.sh LABELS e2e)
# The demo model on the GPU vs the CPU and transformers (skips without a GPU).
bale_add_script_test(NAME test_demo_gpu SCRIPT ${CMAKE_CURRENT_LIST_DIR}/cli/test_demo_gpu.sh LABELS gpu)
