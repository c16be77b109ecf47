// sanitizer_canary — three deliberate bugs for the -DGEMMA4_SANITIZE=ON tree, one per argument: a heap read past the
// end ("heap-overflow"), a signed overflow ("signed-overflow") and a lost allocation ("leak"). The sanitizer_canary_*
// ctest tests (tests/CMakeLists.txt) run each and pass only when the sanitizer reports it and the process fails, so a
// change that drops a flag or a runtime option (halt_on_error, -fno-sanitize-recover, leak checking) is seen at once
// instead of leaving the whole sanitizer stage green and blind. Not part of any other build.
#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: sanitizer_canary heap-overflow|signed-overflow|leak\n");
        return 2;
    }
    const char* mode = argv[1];
    volatile int n = argc + 6;  // 8, unknown to the compiler
    if (std::strcmp(mode, "heap-overflow") == 0) {
        int* values = new int[n];
        for (int i = 0; i < n; ++i) values[i] = i;
        const int past_end = values[n];  // ASan: heap-buffer-overflow
        delete[] values;
        std::printf("continued after the overflow: %d\n", past_end);
    } else if (std::strcmp(mode, "signed-overflow") == 0) {
        const int big = 2147483647 - 8 + n;  // INT_MAX, computed at run time
        const int wrapped = big + n;         // UBSan: signed integer overflow
        std::printf("continued after the overflow: %d\n", wrapped);
    } else if (std::strcmp(mode, "leak") == 0) {
        char* lost = static_cast<char*>(std::malloc(static_cast<size_t>(n) * 100));
        std::memset(lost, 1, static_cast<size_t>(n) * 100);
        std::printf("allocated %p\n", static_cast<void*>(lost));
        lost = nullptr;  // LSan at exit: 800 bytes in 1 object
    } else {
        std::fprintf(stderr, "unknown mode '%s'\n", mode);
        return 2;
    }
    return 0;
}
