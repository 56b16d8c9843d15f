# GPU forward pass (runtime/cuda, rc_). test_rc_layout: the host-side layout, staging and checks
# (unit, no GPU); test_rc_nodevice: load/dummy/state report RC_E_DEVICE with the kn_cuda reason
# when no GPU is usable (unit; skips where one is); test_rc_gpu: GPU against the CPU runtime on small
# Qwen3-shaped files (gpu, skips without a device).
if(TARGET bale_rc)
  set(RC_T ${CMAKE_CURRENT_LIST_DIR}/rc)
  bale_add_test(NAME test_rc_layout SOURCES ${RC_T}/test_rc_layout.c ${RC_T}/rc_testmodel.c
    LIBS bale_rc bale_plan m LABELS unit)
  bale_add_test(NAME test_rc_nodevice SOURCES ${RC_T}/test_rc_nodevice.c ${RC_T}/rc_testmodel.c
    LIBS bale_rc m LABELS unit)
  bale_add_test(NAME test_rc_gpu SOURCES ${RC_T}/test_rc_gpu.c ${RC_T}/rc_testmodel.c
    LIBS bale_rc bale_model m LABELS gpu)
  foreach(t test_rc_layout test_rc_nodevice test_rc_gpu)
    target_include_directories(${t} PRIVATE ${RC_T})
  endforeach()
endif()
