# screenshot_tests.cmake — one ctest per inspector panel (label "screenshot"): render the panel under xvfb-run (Mesa's
# software GL) to build/screenshots/NAME.png, then check the picture shows content (gemma4-inspector --check-png: not
# blank, not one colour, drawn over enough of the window). Without xvfb-run the tests report "skipped", not failed.
find_program(XVFB_RUN_EXECUTABLE xvfb-run)
set(GEMMA4_SCREENSHOT_DIR ${CMAKE_BINARY_DIR}/screenshots)
set(GEMMA4_SCREENSHOT_PANELS architecture attention rope moe ple vision audio divergence tour)
# enable_testing() runs after viz/ is added (top-level CMakeLists.txt); tests added here need it in this directory too.
enable_testing()
foreach(panel IN LISTS GEMMA4_SCREENSHOT_PANELS)
  set(png ${GEMMA4_SCREENSHOT_DIR}/${panel}.png)
  if(XVFB_RUN_EXECUTABLE)
    add_test(NAME screenshot_${panel}
             COMMAND sh -c "mkdir -p '${GEMMA4_SCREENSHOT_DIR}' && rm -f '${png}' && \
'${XVFB_RUN_EXECUTABLE}' -a -s '-screen 0 1600x1000x24' '$<TARGET_FILE:gemma4-inspector>' --screenshot '${png}' --panel ${panel} && \
'$<TARGET_FILE:gemma4-inspector>' --check-png '${png}'")
  else()
    add_test(NAME screenshot_${panel} COMMAND sh -c "echo 'xvfb-run not found: screenshot test skipped'; exit 77")
  endif()
  set_tests_properties(screenshot_${panel} PROPERTIES LABELS screenshot SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
