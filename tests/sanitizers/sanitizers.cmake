# tests/sanitizers/sanitizers.cmake — the ASan + UBSan build (-DGEMMA4_SANITIZE=ON, in its own build-asan/), included
# by the top-level CMakeLists.txt. Compile and link flags for every target, and the runtime options every ctest test
# gets through its ENVIRONMENT (gemma4_sanitizer_environment(), called by each CMakeLists.txt that adds tests). The
# libFuzzer tree (-DGEMMA4_FUZZ=ON, build-fuzz/, clang) is separate and sets its own flags.

# The runtime options, once: ctest passes them to every test (and so to the gemma4 / gemma4-inspector processes a test
# starts, under xvfb-run or jupyter too), and default_options.cpp compiles the same strings into every executable, so
# a sanitized binary run by hand behaves as under ctest.
#   ASan: leaks checked at exit (LSan) with the suppressions in lsan.supp (third-party libraries only, each explained);
#         static-initialisation order checked.
#   UBSan: stop at the first report with a stack (-fno-sanitize-recover=undefined makes it abort regardless).
set(GEMMA4_SANITIZERS_DIR ${CMAKE_CURRENT_LIST_DIR})
set(GEMMA4_ASAN_OPTIONS "detect_leaks=1:check_initialization_order=1:strict_init_order=1")
set(GEMMA4_UBSAN_OPTIONS "print_stacktrace=1:halt_on_error=1")
set(GEMMA4_LSAN_OPTIONS "suppressions=${GEMMA4_SANITIZERS_DIR}/lsan.supp:print_suppressions=0")
set(GEMMA4_SANITIZER_ENV
    "ASAN_OPTIONS=${GEMMA4_ASAN_OPTIONS}"
    "UBSAN_OPTIONS=${GEMMA4_UBSAN_OPTIONS}"
    "LSAN_OPTIONS=${GEMMA4_LSAN_OPTIONS}")

if(GEMMA4_SANITIZE)
  if(GEMMA4_FUZZ)
    message(FATAL_ERROR "GEMMA4_SANITIZE and GEMMA4_FUZZ are separate trees (build-asan/ and build-fuzz/): pick one")
  endif()
  set(GEMMA4_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_compile_options(${GEMMA4_SANITIZER_FLAGS} -O1 -g)
  add_compile_definitions(_GLIBCXX_ASSERTIONS)
  add_link_options(${GEMMA4_SANITIZER_FLAGS})
  add_library(gemma4_sanitizer_options OBJECT ${GEMMA4_SANITIZERS_DIR}/default_options.cpp)
  target_compile_definitions(gemma4_sanitizer_options PRIVATE
    GEMMA4_ASAN_OPTIONS="${GEMMA4_ASAN_OPTIONS}"
    GEMMA4_UBSAN_OPTIONS="${GEMMA4_UBSAN_OPTIONS}"
    GEMMA4_LSAN_OPTIONS="${GEMMA4_LSAN_OPTIONS}")
  link_libraries(gemma4_sanitizer_options)  # every executable and shared library defined after this point
endif()

# Gives every test of the current directory the runtime options above; call it at the end of a CMakeLists.txt that
# adds tests. Tests that doctest_discover_tests adds at ctest time are not known yet: pass the names of their TEST_LIST
# variables (default <target>_TESTS) and an include file sets the environment on them once they exist.
function(gemma4_sanitizer_environment)
  if(NOT GEMMA4_SANITIZE)
    return()
  endif()
  get_property(tests DIRECTORY PROPERTY TESTS)
  if(tests)
    set_property(TEST ${tests} APPEND PROPERTY ENVIRONMENT ${GEMMA4_SANITIZER_ENV})
  endif()
  foreach(test_list IN LISTS ARGN)
    set(include_file ${CMAKE_CURRENT_BINARY_DIR}/${test_list}_sanitizer_env.cmake)
    file(WRITE ${include_file}
         "# Written by tests/sanitizers/sanitizers.cmake: the sanitizer runtime options for the tests listed in ${test_list}.\n"
         "if(${test_list})\n"
         "  set_tests_properties(\${${test_list}} PROPERTIES ENVIRONMENT [==[${GEMMA4_SANITIZER_ENV}]==])\n"
         "endif()\n")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${include_file})
  endforeach()
endfunction()
