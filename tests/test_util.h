// test_util.h — small helpers the test files share: a self-removing temporary directory, a substring check, the CLI
// run as a child process and the NMSE of two float vectors.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>
#include <vector>

// Tests that read probes off a forward pass have nothing to read when the hooks are compiled out
// (-DGEMMA4_PROBES=OFF): they end here with a "skipped" message, as the OpenCL tests do without a device.
#define G4_SKIP_WITHOUT_PROBES()                                                            \
    do {                                                                                    \
        if (!GEMMA4_PROBES) {                                                               \
            MESSAGE("skipped: probes compiled out (built with -DGEMMA4_PROBES=OFF)");       \
            return;                                                                         \
        }                                                                                   \
    } while (0)

namespace gemma4::test {

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
struct TempDir {
    std::filesystem::path path;
    explicit TempDir(const std::string& tag = "gemma4") {
        static int counter = 0;
        std::random_device rd;
        path = std::filesystem::temp_directory_path() /
               (tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + std::to_string(rd()));
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string file(const std::string& name) const { return (path / name).string(); }
};

// Σ(a − ref)² / Σref² (Σ(a − ref)² alone when ref is all zero), in double: compare.h's NMSE for two flat vectors.
inline double nmse(const std::vector<float>& a, const std::vector<float>& ref) {
    double num = 0, den = 0;
    for (size_t i = 0; i < a.size() && i < ref.size(); ++i) {
        const double d = double(a[i]) - double(ref[i]);
        num += d * d;
        den += double(ref[i]) * double(ref[i]);
    }
    return den > 0 ? num / den : num;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// Runs the gemma4 CLI built beside the tests with the given arguments; returns its exit code and everything it printed
// (stdout and stderr together).
struct CliResult {
    int exit_code = -1;
    std::string out;
};

inline CliResult run_cli(const std::string& args) {
    const std::string cmd = std::string(GEMMA4_CLI_PATH) + " " + args + " 2>&1";
    CliResult r;
    FILE* pipe = popen(cmd.c_str(), "r");
    if (!pipe) return r;
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
    const int status = pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

}  // namespace gemma4::test
