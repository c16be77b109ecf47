// Runtime options of the ASan + UBSan build (-DGEMMA4_SANITIZE=ON, tests/sanitizers/sanitizers.cmake), compiled into
// every executable of that tree so that a sanitized gemma4 or gemma4-inspector run by hand behaves as under ctest.
// The strings come from sanitizers.cmake, which also gives them to every ctest test as its ENVIRONMENT; options set in
// the environment (ASAN_OPTIONS, UBSAN_OPTIONS, LSAN_OPTIONS) override these.
#if !defined(GEMMA4_ASAN_OPTIONS) || !defined(GEMMA4_UBSAN_OPTIONS) || !defined(GEMMA4_LSAN_OPTIONS)
#error "built by tests/sanitizers/sanitizers.cmake, which defines the option strings"
#endif

extern "C" {

const char* __asan_default_options() { return GEMMA4_ASAN_OPTIONS; }
const char* __ubsan_default_options() { return GEMMA4_UBSAN_OPTIONS; }
const char* __lsan_default_options() { return GEMMA4_LSAN_OPTIONS; }

}  // extern "C"
