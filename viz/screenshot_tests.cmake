# screenshot_tests.cmake — one ctest per inspector panel (label "screenshot"): render the panel under xvfb-run (Mesa's
# software GL) to build/screenshots/NAME.png, then check the picture shows content (gemma4-inspector --check-png: not
# blank, not one colour, drawn over enough of the window). Without xvfb-run the tests report "skipped", not failed.
find_program(XVFB_RUN_EXECUTABLE xvfb-run)
set(GEMMA4_SCREENSHOT_DIR ${CMAKE_BINARY_DIR}/screenshots)
set(GEMMA4_SCREENSHOT_PANELS architecture attention rope moe ple vision audio divergence tour)
# enable_testing() runs after viz/ is added (top-level CMakeLists.txt); tests added here need it in this directory too.
enable_testing()
# These panels show probed tensors of the inspector's live run: with -DGEMMA4_PROBES=OFF there are none to show.
set(GEMMA4_SCREENSHOT_PANELS_WITH_PROBES attention moe ple vision audio divergence)
# -DGEMMA4_SANITIZE=ON: the inspector runs with ASan + UBSan but without leak checking while it holds an OpenGL
# context. Mesa's llvmpipe driver (dri/swrast_dri.so) leaks 240 bytes in 3 allocations, and glfwTerminate dlclose()s it
# before LeakSanitizer runs at exit, so its frames read "<unknown module>" and no lsan.supp entry can name them (and
# fast_unwind_on_malloc=0, which would see past the driver into named frames, hangs the inspector at start-up).
# The --check-png and --make-long-trace runs (no GL) keep leak checking. ($ASAN_OPTIONS is the test's ENVIRONMENT,
# tests/sanitizers/sanitizers.cmake; the later detect_leaks=0 wins.)
set(GL_ENV "")
if(GEMMA4_SANITIZE)
  set(GL_ENV "ASAN_OPTIONS=\"$ASAN_OPTIONS:detect_leaks=0\" ")
endif()
# One screenshot test: NAME runs SCRIPT with sh -c under the label "screenshot", or reports "skipped" (exit 77) when it
# needs probes (NEEDS_PROBES true) and they are compiled out, or when there is no xvfb-run.
function(gemma4_screenshot_test name needs_probes script)
  if(needs_probes AND NOT GEMMA4_PROBES)
    add_test(NAME ${name} COMMAND sh -c "echo 'built with -DGEMMA4_PROBES=OFF: screenshot test skipped'; exit 77")
  elseif(XVFB_RUN_EXECUTABLE)
    add_test(NAME ${name} COMMAND sh -c "${script}")
  else()
    add_test(NAME ${name} COMMAND sh -c "echo 'xvfb-run not found: screenshot test skipped'; exit 77")
  endif()
  set_tests_properties(${name} PROPERTIES LABELS screenshot SKIP_RETURN_CODE 77 TIMEOUT 300)
endfunction()

foreach(panel IN LISTS GEMMA4_SCREENSHOT_PANELS)
  set(png ${GEMMA4_SCREENSHOT_DIR}/${panel}.png)
  set(needs_probes OFF)
  if(panel IN_LIST GEMMA4_SCREENSHOT_PANELS_WITH_PROBES)
    set(needs_probes ON)
  endif()
  gemma4_screenshot_test(screenshot_${panel} ${needs_probes} "mkdir -p '${GEMMA4_SCREENSHOT_DIR}' && rm -f '${png}' && \
${GL_ENV}'${XVFB_RUN_EXECUTABLE}' -a -s '-screen 0 1600x1000x24' '$<TARGET_FILE:gemma4-inspector>' --screenshot '${png}' --panel ${panel} && \
'$<TARGET_FILE:gemma4-inspector>' --check-png '${png}'")
endforeach()

# Long context (issue 7): a synthetic 32 k-token tiny-e2b trace (queries and keys only, no T×T weights) opened in the
# attention panel on global layer 4, whose weights are computed for what is visible; the inspector must stay under
# 1 GiB of resident memory (--max-rss-mb exits 3 past it) and the picture must show content.
set(long_npz ${GEMMA4_SCREENSHOT_DIR}/long-32k.npz)
set(long_png ${GEMMA4_SCREENSHOT_DIR}/attention-32k.png)
gemma4_screenshot_test(screenshot_attention_32k OFF "mkdir -p '${GEMMA4_SCREENSHOT_DIR}' && rm -f '${long_png}' && \
'$<TARGET_FILE:gemma4-inspector>' --make-long-trace '${long_npz}' --tokens 32768 && \
${GL_ENV}'${XVFB_RUN_EXECUTABLE}' -a -s '-screen 0 1600x1000x24' '$<TARGET_FILE:gemma4-inspector>' --trace '${long_npz}' \
--screenshot '${long_png}' --panel attention --layer 4 --max-rss-mb 1024 && \
'$<TARGET_FILE:gemma4-inspector>' --check-png '${long_png}'")

# The PLE ablation (issue 7): rerun the default model (demo-e2b-mini, trained) with every layer's PLE off; the inspector
# must succeed, the next-token distribution must move (a total variation that is not 0) and the panel, showing
# before / after, must have content. (Its output goes to a log, not a pipe: sh has no pipefail, so a pipe would hide
# the inspector's exit status.)
set(abl_png ${GEMMA4_SCREENSHOT_DIR}/ple-ablation.png)
set(abl_log ${GEMMA4_SCREENSHOT_DIR}/ple-ablation.log)
gemma4_screenshot_test(screenshot_ple_ablation ON "mkdir -p '${GEMMA4_SCREENSHOT_DIR}' && rm -f '${abl_png}' && \
{ ${GL_ENV}'${XVFB_RUN_EXECUTABLE}' -a -s '-screen 0 1600x1000x24' '$<TARGET_FILE:gemma4-inspector>' --screenshot '${abl_png}' \
--panel ple --ablate-ple 0,1,2,3,4,5,6,7,8,9 > '${abl_log}' 2>&1; rc=$?; cat '${abl_log}'; [ $rc -eq 0 ]; } && \
grep -Eq 'total variation (0\\.[0-9]*[1-9]|1)' '${abl_log}' && \
'$<TARGET_FILE:gemma4-inspector>' --check-png '${abl_png}'")

# The live run on the bf16 backend (matmul inputs rounded to bf16): the MoE panel of demo-moe-mini (bf16 weights) must
# render with content; a backend the live run does not know exits 2 before drawing.
set(bf16_png ${GEMMA4_SCREENSHOT_DIR}/moe-bf16.png)
gemma4_screenshot_test(screenshot_moe_bf16 ON "mkdir -p '${GEMMA4_SCREENSHOT_DIR}' && rm -f '${bf16_png}' && \
${GL_ENV}'${XVFB_RUN_EXECUTABLE}' -a -s '-screen 0 1600x1000x24' '$<TARGET_FILE:gemma4-inspector>' -m demo-moe-mini --backend bf16 \
--screenshot '${bf16_png}' --panel moe && '$<TARGET_FILE:gemma4-inspector>' --check-png '${bf16_png}'")
