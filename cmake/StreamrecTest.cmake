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

# streamrec_micro_bench(NAME SOURCES... LIBS ...): a Google Benchmark executable
# beside the kernel it measures. Built with everything (so it cannot rot), run
# by hand or by scripts/micro-bench.sh; never a test: it prints figures only.
find_package(benchmark REQUIRED)
function(streamrec_micro_bench name)
  cmake_parse_arguments(B "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${B_SOURCES})
  target_link_libraries(${name} PRIVATE benchmark::benchmark_main ${B_LIBS})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/micro)
endfunction()
