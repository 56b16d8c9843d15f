# Chat template engine (runtime/chat): differential tests against transformers' jinja rendering,
# feature snippets, syntax/runtime errors and hostile templates.
if(TARGET bale_chat)
  bale_add_test(NAME test_chat_diff SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/chat/test_chat_diff.c
    LIBS bale_chat PkgConfig::JANSSON LABELS unit)
  bale_add_test(NAME test_chat_unit SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/chat/test_chat_unit.c
    LIBS bale_chat PkgConfig::JANSSON LABELS unit)
  target_include_directories(test_chat_diff PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/chat)
  target_include_directories(test_chat_unit PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/chat)
endif()
