# streamrec_unit_test(NAME SOURCES... LIBS ...): one Catch2 executable per module,
# registered with ctest under the label "unit".
add_library(streamrec_catch_main STATIC ${CMAKE_SOURCE_DIR}/tests/catch_main.cpp)
target_link_libraries(streamrec_catch_main PUBLIC Catch2::Catch2)

# Under TSan every executable carries the C11-threads shim (tests/sanitize), so
# TSan sees librdkafka's threads and locks.
if(STREAMREC_SANITIZE STREQUAL "thread")
  add_library(streamrec_tsan_c11_threads OBJECT ${CMAKE_SOURCE_DIR}/tests/sanitize/c11_threads_shim.cpp)
  set(STREAMREC_TSAN_SHIM $<TARGET_OBJECTS:streamrec_tsan_c11_threads>)
else()
  set(STREAMREC_TSAN_SHIM "")
endif()

function(streamrec_unit_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES} ${STREAMREC_TSAN_SHIM})
  target_link_libraries(${name} PRIVATE streamrec_catch_main ${T_LIBS})
  if(STREAMREC_SANITIZE STREQUAL "thread")
    # Cases TSan cannot host, each tagged with the reason beside it:
    # [hnswlib-locks] (emitter/ann_index_test.cpp), [fork] (store/store_test.cpp),
    # [flood] (learner/item_churn_test.cpp: 10M events, minutes under TSan).
    add_test(NAME ${name} COMMAND ${name} --order rand --warn NoAssertions "~[hnswlib-locks]~[fork]~[flood]")
  else()
    add_test(NAME ${name} COMMAND ${name} --order rand --warn NoAssertions)
  endif()
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
