// test_main.cpp — doctest's main, nothing else. Each area has its own tests/test_<area>.cpp.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
