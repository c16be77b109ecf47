// fuzz_util.h — what the fuzz targets share: a private scratch directory for parsers that only take a path, and the
// rule for what counts as a finding. A gemma4::Error is the expected answer to bad input and is swallowed; any other
// exception escapes LLVMFuzzerTestOneInput, reaches std::terminate and so aborts, which libFuzzer records as a crash.
// Crashes, sanitizer reports, timeouts and allocations over -malloc_limit_mb are findings too (tools/fuzz.sh).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "error.h"

namespace gemma4::fuzz {

// /dev/shm/gemma4-fuzz-<pid> (or $TMPDIR when /dev/shm is missing): one per process, so parallel fuzzers never share
// files; removed when the process exits normally.
inline const std::filesystem::path& scratch_dir() {
    static const std::filesystem::path dir = [] {
        namespace fs = std::filesystem;
        std::error_code ec;
        const fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
        fs::path d = base / ("gemma4-fuzz-" + std::to_string(::getpid()));
        fs::create_directories(d);
        std::atexit([] {
            std::error_code ignored;
            std::filesystem::remove_all(scratch_dir(), ignored);
        });
        return d;
    }();
    return dir;
}

// Writes the fuzz input to scratch_dir()/name (replacing what was there) and returns the path.
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
    const std::string path = (scratch_dir() / name).string();
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    if (!out) {
        std::fprintf(stderr, "fuzz: cannot write the input to %s\n", path.c_str());
        std::abort();
    }
    return path;
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

// A property the code under test promises was broken: print it and abort, so libFuzzer saves the input.
[[noreturn]] inline void violated(const std::string& what) {
    std::fprintf(stderr, "fuzz: property violated: %s\n", what.c_str());
    std::abort();
}

// A gemma4::Error must say something; an empty message would leave the user with nothing to act on.
inline void check_message(const Error& e) {
    if (std::string_view(e.what()).empty()) violated("gemma4::Error with an empty message");
}

}  // namespace gemma4::fuzz
