# streamrec_unit_test(NAME SOURCES... LIBS ...): one Catch2 executable per module,
# registered with ctest under the label "unit".
add_library(streamrec_catch_main STATIC ${CMAKE_SOURCE_DIR}/tests/catch_main.cpp)
target_link_libraries(streamrec_catch_main PUBLIC Catch2::Catch2)

function(streamrec_unit_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE streamrec_catch_main ${T_LIBS})
  add_test(NAME ${name} COMMAND ${name} --order rand --warn NoAssertions)
  set_tests_properties(${name} PROPERTIES LABELS "unit" TIMEOUT 300)
endfunction()
