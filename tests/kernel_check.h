// kernel_check.h — what the kernel parity tests (test_kernels.cpp, test_kernels_audio.cpp) share: one OpenCL context
// for the process, the GEMMA4_TEST_OPS filter, fixed-seed inputs, and check(): NMSE against the reference op with a
// MESSAGE row per op × shape and the first mismatching elements on failure. Only with GEMMA4_HAVE_OPENCL.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cl_devices.h"
#include "cl_runtime.h"
#include "compare.h"
#include "tolerances.h"

namespace gemma4::cl::kcheck {

// One context for the whole process, so each program is built (or loaded from the binary cache) once.
inline ClContext* shared_cl() {
    static bool tried = false;
    static std::unique_ptr<ClContext> ctx;
    if (!tried) {
        tried = true;
        if (!list_devices().empty()) ctx = std::make_unique<ClContext>(0);
    }
    return ctx.get();
}

// GEMMA4_TEST_OPS=matmul,rope → only those; unset or empty → all.
inline bool op_enabled(const std::string& op) {
    const char* filter = std::getenv("GEMMA4_TEST_OPS");
    if (!filter || !*filter) return true;
    std::stringstream list(filter);
    std::string item;
    while (std::getline(list, item, ','))
        if (item == op) return true;
    return false;
}

// The context when this op should run; nullptr (after saying why) when it should not.
inline ClContext* begin_op(const std::string& op) {
    if (!op_enabled(op)) {
        MESSAGE(op << ": skipped by GEMMA4_TEST_OPS");
        return nullptr;
    }
    ClContext* cl = shared_cl();
    if (!cl) MESSAGE(op << ": skipped: no OpenCL device");
    return cl;
}

inline std::vector<float> random_vector(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-scale, scale);
    std::vector<float> v(n);
    for (float& f : v) f = dist(rng);
    return v;
}

// Compares cl against ref, prints a table row and, on failure, the first mismatching elements.
inline void check(const std::string& op, const std::string& shape, const std::vector<float>& cl_out, const std::vector<float>& ref) {
    const std::vector<int64_t> dims = {static_cast<int64_t>(ref.size())};
    const ProbeDiff d = compare_arrays(op, cl_out, {static_cast<int64_t>(cl_out.size())}, ref, dims, tolerance::kNmseOpenClVsRef);
    char row[240];
    std::snprintf(row, sizeof row, "%-16s %-44s nmse %.2e  max_abs %.2e  %s", op.c_str(), shape.c_str(), d.nmse, d.max_abs,
                  d.over ? "FAIL" : "ok");
    MESSAGE(row);
    if (d.over) {
        std::ostringstream msg;
        msg << op << " " << shape << ": " << (d.problem.empty() ? "NMSE over " + std::to_string(tolerance::kNmseOpenClVsRef) : d.problem)
            << "; first mismatches (index, ref, cl):";
        int shown = 0;
        for (size_t i = 0; i < ref.size() && shown < 8; ++i) {
            const float a = cl_out[i], b = ref[i];
            const bool bad = std::isnan(a) != std::isnan(b) || std::isinf(a) != std::isinf(b) ||
                             (std::isfinite(a) && std::isfinite(b) && std::fabs(a - b) > 1e-5f * (std::fabs(b) + 1e-3f));
            if (bad) {
                msg << "\n  [" << i << "] " << b << " " << a;
                ++shown;
            }
        }
        FAIL_CHECK(msg.str());
    }
}

inline std::string shape_text(std::initializer_list<std::pair<const char*, int64_t>> dims) {
    std::ostringstream s;
    const char* separator = "";
    for (const auto& [name, v] : dims) {
        s << separator << name << "=" << v;
        separator = " ";
    }
    return s.str();
}

}  // namespace gemma4::cl::kcheck
