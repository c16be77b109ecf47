// test_kernels.cpp — every OpenCL kernel (kernels/*.cl through cl_ops.h) against its reference op (reference/ops.h),
// in the manner of ggml's test-backend-ops: odd and aligned shapes, fixed-seed random inputs, NMSE ≤
// kNmseOpenClVsRef, NaN/Inf a failure, the first mismatching elements printed, one MESSAGE row per op × shape.
// GEMMA4_TEST_OPS=matmul,rope runs only those ops. With no OpenCL device the tests say "skipped" and pass.
// The model-level lockstep run (the forward through ClBackend against RefBackend, first diverging probe) lives in
// tests/test_lockstep.cpp.
#include <doctest/doctest.h>

#ifdef GEMMA4_HAVE_OPENCL

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "cl_ops.h"
#include "kernel_check.h"
#include "cl_runtime.h"
#include "compare.h"
#include "dtype.h"
#include "error.h"
#include "mask.h"
#include "ops.h"
#include "test_util.h"
#include "tolerances.h"

using namespace gemma4;
using namespace gemma4::cl;
using namespace gemma4::cl::kcheck;

namespace {

// float32 → IEEE half bits, truncating the mantissa and flushing values below the half range to zero: the test only
// needs some valid f16 bits that both sides then read the same way.
uint16_t f32_to_f16_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
    const int exponent = static_cast<int>((u >> 23) & 0xff) - 127 + 15;
    if (exponent <= 0) return sign;
    if (exponent >= 31) return static_cast<uint16_t>(sign | 0x7bff);  // clamp to the largest finite half
    return static_cast<uint16_t>(sign | (exponent << 10) | ((u >> 13) & 0x3ff));
}

// A table [rows, cols] drawn as float and stored in `dtype` (both sides read the same bits).
std::vector<std::byte> table_bytes(const std::vector<float>& f, DType dtype) {
    std::vector<std::byte> bytes(f.size() * dtype_size(dtype));
    for (size_t i = 0; i < f.size(); ++i) {
        if (dtype == DType::F32) std::memcpy(bytes.data() + 4 * i, &f[i], 4);
        else {
            const uint16_t bits = dtype == DType::BF16 ? f32_to_bf16(f[i]) : f32_to_f16_bits(f[i]);
            std::memcpy(bytes.data() + 2 * i, &bits, 2);
        }
    }
    return bytes;
}

constexpr int kTokens[] = {1, 7, 32};
constexpr int kWidths[] = {16, 33, 64, 256, 512, 1536};

}  // namespace

TEST_CASE("cl runtime: embedded sources, build log on error, binary cache, allocation limit") {
    ClContext* cl = begin_op("runtime");
    if (!cl) return;
    for (const char* name : {"matmul", "rmsnorm", "rope", "softmax", "elementwise", "attention", "moe", "embed", "ple", "vision"})
        CHECK(kernel_source(name).find("Versions:") != std::string::npos);
    CHECK_THROWS_WITH_AS(kernel_source("nope"), doctest::Contains("no OpenCL kernel source named 'nope'"), Error);

    // A program that does not compile: the error carries the build log, which names the undeclared identifier.
    CHECK_THROWS_WITH_AS(cl->build_program("broken", "__kernel void k(__global float* x) { x[0] = undeclared_name; }"),
                         doctest::Contains("undeclared_name"), Error);

    // Binary cache in a fresh directory: first build from source, second from the cache, a corrupt cache file falls
    // back to source.
    test::TempDir dir("gemma4_clcache");
    const char* old = std::getenv("XDG_CACHE_HOME");
    const std::string saved = old ? old : "";
    ::setenv("XDG_CACHE_HOME", dir.path.c_str(), 1);
    const std::string source = "__kernel void twice(__global float* x) { x[get_global_id(0)] *= 2.0f; }";
    std::vector<ProgramBuild> builds;
    for (int round = 0; round < 3; ++round) {
        ClContext fresh(0);
        clReleaseProgram(fresh.build_program("cache_probe", source));
        builds.push_back(fresh.builds().back());
        if (round == 1)  // corrupt every cached binary before the third round
            for (const auto& entry : std::filesystem::recursive_directory_iterator(dir.path))
                if (entry.is_regular_file()) std::ofstream(entry.path(), std::ios::binary | std::ios::trunc) << "garbage";
    }
    if (old) ::setenv("XDG_CACHE_HOME", saved.c_str(), 1);
    else ::unsetenv("XDG_CACHE_HOME");
    CHECK_FALSE(builds[0].from_cache);
    CHECK(builds[1].from_cache);
    CHECK_FALSE(builds[2].from_cache);
    MESSAGE("tiny program: source build " << builds[0].seconds << " s, cached " << builds[1].seconds << " s");

    // Sizes over CL_DEVICE_MAX_MEM_ALLOC_SIZE are refused before anything is allocated, naming size and limit.
    CHECK_THROWS_WITH_AS(cl->alloc(static_cast<size_t>(cl->max_alloc_bytes()) + 1, "weight"),
                         doctest::Contains("CL_DEVICE_MAX_MEM_ALLOC_SIZE"), Error);
}

TEST_CASE("cl kernels: matmul f32 / bf16 / f16 weights against matmul_ref") {
    ClContext* cl = begin_op("matmul");
    if (!cl) return;
    const std::pair<int, int> in_out[] = {{16, 16}, {33, 33}, {64, 256}, {256, 64}, {512, 1536}, {1536, 512}};
    uint32_t seed = 100;
    for (DType dtype : {DType::F32, DType::BF16, DType::F16}) {
        for (const auto& [in, out_dim] : in_out) {
            // Weights drawn as float, then stored in the dtype under test (both sides read the same bits).
            const std::vector<std::byte> w_bytes = table_bytes(random_vector(size_t(in) * out_dim, seed++, 0.5f), dtype);
            const WeightView W{w_bytes.data(), dtype, out_dim, in};
            for (int T : kTokens) {
                const std::vector<float> x = random_vector(size_t(T) * in, seed++);
                std::vector<float> ref(size_t(T) * out_dim), got(ref.size());
                matmul_ref(ref.data(), x.data(), W, T);
                cl_matmul(*cl, got.data(), x.data(), W, T);
                check(std::string("matmul_") + dtype_name(dtype), shape_text({{"T", T}, {"in", in}, {"out", out_dim}}), got, ref);
            }
        }
    }
    // A weight over the allocation limit is multiplied in row blocks (limit lowered on a private context).
    ClContext small(0);
    small.limit_alloc(64 * 1024);  // 64 KiB: a 512×1536 f32 weight (3 MiB) goes in 51 blocks of 10 rows (plus one of 2)
    const std::vector<float> w = random_vector(size_t(1536) * 512, 7);
    const WeightView W{reinterpret_cast<const std::byte*>(w.data()), DType::F32, 512, 1536};
    const std::vector<float> x = random_vector(size_t(7) * 1536, 8);
    std::vector<float> ref(size_t(7) * 512), got(ref.size());
    matmul_ref(ref.data(), x.data(), W, 7);
    cl_matmul(small, got.data(), x.data(), W, 7);
    check("matmul_split", "T=7 in=1536 out=512 (64 KiB)", got, ref);
}

TEST_CASE("cl kernels: ClWeight resident f32 / bf16 / f16 weights, whole and split across blocks, against matmul_ref") {
    ClContext* cl = begin_op("weight");
    if (!cl) return;
    // A private context whose allocation limit (256 KiB) splits the 512×1536 weights: f32 rows of 6 KiB go 42 to a
    // block (13 blocks), bf16 / f16 rows of 3 KiB 85 to a block (7 blocks); x[32, 1536] and out[32, 512] still fit.
    ClContext small(0);
    small.limit_alloc(256 * 1024);
    const std::pair<int, int> in_out[] = {{33, 17}, {256, 64}, {1536, 512}};
    uint32_t seed = 150;
    for (DType dtype : {DType::F32, DType::BF16, DType::F16}) {
        for (const auto& [in, out_dim] : in_out) {
            const std::vector<std::byte> w_bytes = table_bytes(random_vector(size_t(in) * out_dim, seed++, 0.5f), dtype);
            const WeightView W{w_bytes.data(), dtype, out_dim, in};
            for (ClContext* ctx : {cl, &small}) {
                const bool split = ctx == &small;
                const ClWeight w(*ctx, W);
                CHECK(w.rows() == out_dim);
                CHECK(w.cols() == in);
                CHECK(w.dtype() == dtype);
                CHECK(w.bytes() == w_bytes.size());
                // Blocks tile the rows in order, each within the allocation limit.
                int64_t next = 0;
                for (const ClWeight::Block& b : w.blocks()) {
                    CHECK(b.row0 == next);
                    CHECK(b.buffer.bytes() <= ctx->max_alloc_bytes());
                    next += b.rows;
                }
                CHECK(next == out_dim);
                if (split && size_t(in) * out_dim * dtype_size(dtype) > ctx->max_alloc_bytes()) CHECK(w.blocks().size() > 1);
                for (int T : kTokens) {
                    const std::vector<float> x = random_vector(size_t(T) * in, seed++);
                    std::vector<float> ref(size_t(T) * out_dim), got(ref.size(), -1.0f);
                    matmul_ref(ref.data(), x.data(), W, T);
                    cl_matmul(*ctx, got.data(), x.data(), w, T);
                    check(std::string("weight_") + dtype_name(dtype),
                          shape_text({{"T", T}, {"in", in}, {"out", out_dim}, {"blocks", int64_t(w.blocks().size())}}), got, ref);
                }
            }
        }
    }
    // ClMatmulResident (the benchmark's path) on a split weight, run twice with different inputs.
    const std::vector<float> w = random_vector(size_t(1536) * 512, 170, 0.5f);
    const WeightView W{reinterpret_cast<const std::byte*>(w.data()), DType::F32, 512, 1536};
    ClMatmulResident resident(small, W, 7);
    for (uint32_t round = 0; round < 2; ++round) {
        const std::vector<float> x = random_vector(size_t(7) * 1536, 171 + round);
        std::vector<float> ref(size_t(7) * 512), got(ref.size(), -1.0f);
        matmul_ref(ref.data(), x.data(), W, 7);
        resident.set_input(x.data());
        resident.run(got.data());
        check("resident", "T=7 in=1536 out=512 round " + std::to_string(round), got, ref);
    }
    // Errors: an empty weight, an unsupported dtype.
    CHECK_THROWS_WITH_AS(ClWeight(*cl, WeightView{reinterpret_cast<const std::byte*>(w.data()), DType::F32, 0, 16}), doctest::Contains("empty weight"), Error);
    CHECK_THROWS_WITH_AS(ClWeight(*cl, WeightView{reinterpret_cast<const std::byte*>(w.data()), DType::I32, 4, 4}),
                         doctest::Contains("not supported"), Error);
}

TEST_CASE("cl kernels: matmul_nt a · bᵀ of two activations against matmul_ref") {
    ClContext* cl = begin_op("matmul_nt");
    if (!cl) return;
    uint32_t seed = 180;
    for (const auto& [M, N, K] : {std::tuple{1, 1, 1}, std::tuple{7, 33, 17}, std::tuple{32, 64, 256}, std::tuple{40, 40, 256},
                                  std::tuple{3, 1500, 64}, std::tuple{33, 7, 1536}}) {
        const std::vector<float> a = random_vector(size_t(M) * K, seed++), b = random_vector(size_t(N) * K, seed++);
        std::vector<float> ref(size_t(M) * N), got(ref.size(), -1.0f);
        matmul_ref(ref.data(), a.data(), WeightView{reinterpret_cast<const std::byte*>(b.data()), DType::F32, N, K}, M);
        cl_matmul_nt(*cl, got.data(), a.data(), b.data(), M, N, K);
        check("matmul_nt", shape_text({{"M", M}, {"N", N}, {"K", K}}), got, ref);
    }
}

TEST_CASE("cl kernels: rms_norm with and without weight") {
    ClContext* cl = begin_op("rms_norm");
    if (!cl) return;
    uint32_t seed = 200;
    for (int n : kWidths) {
        for (int rows : kTokens) {
            const std::vector<float> x = random_vector(size_t(rows) * n, seed++, 3.0f);
            const std::vector<float> w = random_vector(size_t(n), seed++, 2.0f);
            for (const bool weighted : {true, false}) {
                std::vector<float> ref(x.size()), got(x.size());
                rms_norm(ref.data(), x.data(), weighted ? w.data() : nullptr, rows, n, 1e-6f);
                cl_rms_norm(*cl, got.data(), x.data(), weighted ? w.data() : nullptr, rows, n, 1e-6f);
                check(weighted ? "rms_norm" : "rms_norm_nw", shape_text({{"rows", rows}, {"n", n}}), got, ref);
            }
        }
    }
}

TEST_CASE("cl kernels: rope rotate-half (default and proportional inv_freq)") {
    ClContext* cl = begin_op("rope");
    if (!cl) return;
    uint32_t seed = 300;
    for (int Dh : {16, 64, 256, 512}) {
        for (int T : kTokens) {
            const int heads = T == 32 ? 2 : 4;
            // Positions from 0 up to beyond 100k (long-context angles test the device's sin/cos range reduction).
            std::vector<int64_t> positions(static_cast<size_t>(T));
            std::mt19937 rng(seed++);
            for (int t = 0; t < T; ++t) positions[size_t(t)] = t == 0 ? 0 : static_cast<int64_t>(rng() % 131072);
            const std::vector<float> x = random_vector(size_t(T) * heads * Dh, seed++);
            // Sliding layers: θ = 10k, all pairs rotated; global layers: θ = 1M, a quarter of the pairs (p-RoPE).
            for (const auto& [theta, rotated, kind] : {std::tuple{1e4, Dh / 2, "rope"}, std::tuple{1e6, Dh / 8, "rope_p"}}) {
                const std::vector<float> inv_freq = rope_inv_freq(Dh, theta, rotated, 1.0);
                std::vector<float> ref = x, got = x;
                rope_rotate_half(ref.data(), T, heads, Dh, positions.data(), inv_freq.data());
                cl_rope(*cl, got.data(), T, heads, Dh, positions.data(), inv_freq.data());
                check(kind, shape_text({{"T", T}, {"H", heads}, {"Dh", Dh}}), got, ref);
            }
        }
    }
}

TEST_CASE("cl kernels: softmax rows (masked entries, all-masked row)") {
    ClContext* cl = begin_op("softmax");
    if (!cl) return;
    const float kNegInf = -std::numeric_limits<float>::infinity();
    uint32_t seed = 400;
    for (int n : kWidths) {
        for (int rows : kTokens) {
            std::vector<float> x = random_vector(size_t(rows) * n, seed++, 8.0f);
            // A causal-looking mask (row r sees the first n − rows + r + 1 keys) and, when rows > 1, one fully masked row.
            for (int r = 0; r < rows; ++r)
                for (int i = 0; i < n; ++i)
                    if (i > n - rows + r || (rows > 1 && r == rows / 2)) x[size_t(r) * n + i] = kNegInf;
            std::vector<float> ref = x, got = x;
            for (int r = 0; r < rows; ++r) softmax(ref.data() + size_t(r) * n, n);
            cl_softmax_rows(*cl, got.data(), rows, n);
            check("softmax", shape_text({{"rows", rows}, {"n", n}}), got, ref);
        }
    }
}

TEST_CASE("cl kernels: soft_cap") {
    ClContext* cl = begin_op("soft_cap");
    if (!cl) return;
    uint32_t seed = 450;
    for (int n : {33, 1536, 262144}) {
        std::vector<float> ref = random_vector(size_t(n), seed++, 60.0f), got = ref;
        soft_cap(ref.data(), n, 30.0f);
        cl_soft_cap(*cl, got.data(), n, 30.0f);
        check("soft_cap", shape_text({{"n", n}}), got, ref);
    }
}

TEST_CASE("cl kernels: elementwise gelu_tanh, gelu_mul, add, scale") {
    ClContext* cl = begin_op("elementwise");
    if (!cl) return;
    uint32_t seed = 500;
    for (int width : {33, 512, 1536}) {
        for (int T : kTokens) {
            const int64_t n = int64_t(T) * width;
            const std::string shape = shape_text({{"T", T}, {"n", width}});
            const std::vector<float> a = random_vector(size_t(n), seed++, 6.0f), b = random_vector(size_t(n), seed++, 2.0f);
            {
                std::vector<float> ref = a, got = a;
                gelu_tanh(ref.data(), n);
                cl_gelu_tanh(*cl, got.data(), n);
                check("gelu_tanh", shape, got, ref);
            }
            {
                std::vector<float> ref(a.size()), got(a.size());
                gelu_mul(ref.data(), a.data(), b.data(), n);
                cl_gelu_mul(*cl, got.data(), a.data(), b.data(), n);
                check("gelu_mul", shape, got, ref);
            }
            {
                std::vector<float> ref(a.size()), got(a.size());
                add(ref.data(), a.data(), b.data(), n);
                cl_add(*cl, got.data(), a.data(), b.data(), n);
                check("add", shape, got, ref);
            }
            {
                std::vector<float> ref = a, got = a;
                scale(ref.data(), n, 0.0883883f);
                cl_scale(*cl, got.data(), n, 0.0883883f);
                check("scale", shape, got, ref);
            }
        }
    }
}

namespace {

// Row shapes of the row-wise ops: rows × n, odd and aligned.
constexpr std::pair<int, int> kRowShapes[] = {{1, 16}, {7, 33}, {32, 256}, {3, 1536}, {40, 704}};

}  // namespace

TEST_CASE("cl kernels: gelu_mul_halves on fused gate|up rows") {
    ClContext* cl = begin_op("gelu_mul_halves");
    if (!cl) return;
    uint32_t seed = 1200;
    for (const auto& [rows, I] : kRowShapes) {
        const std::vector<float> gate_up = random_vector(size_t(rows) * 2 * I, seed++, 5.0f);
        std::vector<float> ref(size_t(rows) * I), got(ref.size(), -1.0f);
        gelu_mul_halves(ref.data(), gate_up.data(), rows, I);
        cl_gelu_mul_halves(*cl, got.data(), gate_up.data(), rows, I);
        check("gelu_mul_halves", shape_text({{"rows", rows}, {"I", I}}), got, ref);
    }
}

TEST_CASE("cl kernels: silu") {
    ClContext* cl = begin_op("silu");
    if (!cl) return;
    uint32_t seed = 1300;
    for (int64_t n : {1, 33, 1536, 40 * 1536 + 7}) {
        std::vector<float> ref = random_vector(size_t(n), seed++, 12.0f), got = ref;  // |x| up to 12: both tails
        silu(ref.data(), n);
        cl_silu(*cl, got.data(), n);
        check("silu", shape_text({{"n", n}}), got, ref);
    }
}

TEST_CASE("cl kernels: clamp with finite and ±inf bounds") {
    ClContext* cl = begin_op("clamp");
    if (!cl) return;
    const float inf = std::numeric_limits<float>::infinity();
    uint32_t seed = 1400;
    const std::tuple<float, float, const char*> bounds[] = {
        {-inf, inf, "(-inf, inf)"}, {-inf, 2.5f, "(-inf, 2.5)"}, {-1.5f, inf, "(-1.5, inf)"}, {-1.0f, 1.0f, "(-1, 1)"}};
    for (int64_t n : {1, 33, 1536, 7 * 1536}) {
        const std::vector<float> x = random_vector(size_t(n), seed++, 4.0f);
        for (const auto& [lo, hi, name] : bounds) {
            std::vector<float> ref(x.size()), got(x.size(), -7.0f);
            clamp(ref.data(), x.data(), n, lo, hi);
            cl_clamp(*cl, got.data(), x.data(), n, lo, hi);
            check("clamp", shape_text({{"n", n}}) + " " + name, got, ref);
            CHECK(std::memcmp(got.data(), ref.data(), got.size() * sizeof(float)) == 0);  // comparisons only: exact
        }
    }
    // ±inf and NaN inputs behave as std::min(std::max(x, lo), hi): infinities clamp, NaN stays NaN; in place.
    std::vector<float> x = {-inf, inf, std::numeric_limits<float>::quiet_NaN(), 0.5f, -3.0f};
    std::vector<float> ref(x.size());
    clamp(ref.data(), x.data(), int64_t(x.size()), -1.0f, 1.0f);
    cl_clamp(*cl, x.data(), x.data(), int64_t(x.size()), -1.0f, 1.0f);
    for (size_t i = 0; i < x.size(); ++i) {
        if (std::isnan(ref[i])) CHECK(std::isnan(x[i]));
        else CHECK(x[i] == ref[i]);
    }
}

TEST_CASE("cl kernels: glu") {
    ClContext* cl = begin_op("glu");
    if (!cl) return;
    uint32_t seed = 1500;
    for (const auto& [rows, n] : kRowShapes) {
        const std::vector<float> in = random_vector(size_t(rows) * 2 * n, seed++, 6.0f);
        std::vector<float> ref(size_t(rows) * n), got(ref.size(), -1.0f);
        glu(ref.data(), in.data(), rows, n);
        cl_glu(*cl, got.data(), in.data(), rows, n);
        check("glu", shape_text({{"rows", rows}, {"n", n}}), got, ref);
    }
}

TEST_CASE("cl kernels: mul_cols") {
    ClContext* cl = begin_op("mul_cols");
    if (!cl) return;
    uint32_t seed = 1600;
    for (const auto& [rows, n] : kRowShapes) {
        const std::vector<float> x = random_vector(size_t(rows) * n, seed++, 3.0f), w = random_vector(size_t(n), seed++, 2.0f);
        const float s = 1.0f / std::sqrt(static_cast<float>(n));
        std::vector<float> ref = x, got = x;
        mul_cols(ref.data(), rows, n, w.data(), s);
        cl_mul_cols(*cl, got.data(), rows, n, w.data(), s);
        check("mul_cols", shape_text({{"rows", rows}, {"n", n}}), got, ref);
    }
}

TEST_CASE("cl kernels: add_scaled") {
    ClContext* cl = begin_op("add_scaled");
    if (!cl) return;
    uint32_t seed = 1700;
    for (int64_t n : {1, 33, 1536, 40 * 1536 + 7}) {
        const std::vector<float> a = random_vector(size_t(n), seed++, 3.0f), b = random_vector(size_t(n), seed++, 3.0f);
        std::vector<float> ref(a.size()), got(a.size(), -1.0f);
        add_scaled(ref.data(), a.data(), b.data(), 0.5f, n);
        cl_add_scaled(*cl, got.data(), a.data(), b.data(), 0.5f, n);
        check("add_scaled", shape_text({{"n", n}}), got, ref);
    }
}

TEST_CASE("cl kernels: add_rows") {
    ClContext* cl = begin_op("add_rows");
    if (!cl) return;
    uint32_t seed = 1800;
    for (const auto& [rows, n] : kRowShapes) {
        const std::vector<float> x = random_vector(size_t(rows) * n, seed++, 3.0f), bias = random_vector(size_t(n), seed++);
        std::vector<float> ref = x, got = x;
        add_rows(ref.data(), rows, n, bias.data());
        cl_add_rows(*cl, got.data(), rows, n, bias.data());
        check("add_rows", shape_text({{"rows", rows}, {"n", n}}), got, ref);
    }
}

TEST_CASE("cl kernels: standardize") {
    ClContext* cl = begin_op("standardize");
    if (!cl) return;
    uint32_t seed = 1900;
    for (const auto& [rows, n] : kRowShapes) {
        const std::vector<float> x = random_vector(size_t(rows) * n, seed++, 3.0f), bias = random_vector(size_t(n), seed++),
                                 scale_ = random_vector(size_t(n), seed++, 2.0f);
        std::vector<float> ref = x, got = x;
        standardize(ref.data(), rows, n, bias.data(), scale_.data());
        cl_standardize(*cl, got.data(), rows, n, bias.data(), scale_.data());
        check("standardize", shape_text({{"rows", rows}, {"n", n}}), got, ref);
    }
}

namespace {

// Row indices into a table of R rows for the MoE moves: out of order, with repeats, and (offset > 0) not starting at
// row 0, so the wrappers' uploaded row range is exercised.
std::vector<int32_t> routed_rows(int n, int R, int offset, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<int32_t> rows(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) rows[size_t(i)] = offset + static_cast<int32_t>(rng() % uint32_t(R - offset));
    if (n > 3) rows[3] = rows[1];  // a repeat
    if (n > 6) rows[6] = rows[1];  // and a third occurrence
    return rows;
}

}  // namespace

TEST_CASE("cl kernels: gather_rows (repeats, offset ranges)") {
    ClContext* cl = begin_op("gather_rows");
    if (!cl) return;
    uint32_t seed = 2000;
    const int R = 50;
    for (int D : {16, 33, 1536}) {
        const std::vector<float> x = random_vector(size_t(R) * D, seed++, 2.0f);
        for (const auto& [n, offset] : {std::pair{1, 0}, std::pair{7, 10}, std::pair{40, 0}, std::pair{40, 30}}) {
            const std::vector<int32_t> rows = routed_rows(n, R, offset, seed++);
            std::vector<float> ref(size_t(n) * D), got(ref.size(), -1.0f);
            gather_rows(ref.data(), x.data(), rows.data(), n, D);
            cl_gather_rows(*cl, got.data(), x.data(), rows.data(), n, D);
            check("gather_rows", shape_text({{"n", n}, {"D", D}, {"min_row", offset}}), got, ref);
        }
    }
    const int32_t bad[] = {2, -1};
    std::vector<float> x(64), out(32);
    CHECK_THROWS_WITH_AS(cl_gather_rows(*cl, out.data(), x.data(), bad, 2, 16), doctest::Contains("negative"), Error);
}

TEST_CASE("cl kernels: scatter_add_rows (repeated rows summed in order, offset ranges)") {
    ClContext* cl = begin_op("scatter_add");
    if (!cl) return;
    uint32_t seed = 2100;
    const int R = 50;
    for (int D : {16, 33, 1536}) {
        const std::vector<float> base = random_vector(size_t(R) * D, seed++, 2.0f);
        for (const auto& [n, offset] : {std::pair{1, 0}, std::pair{7, 10}, std::pair{40, 0}, std::pair{40, 30}, std::pair{200, 45}}) {
            const std::vector<int32_t> rows = routed_rows(n, R, offset, seed++);  // n = 200 over 5 rows: ~40 repeats each
            const std::vector<float> y = random_vector(size_t(n) * D, seed++, 3.0f), weights = random_vector(size_t(n), seed++);
            std::vector<float> ref = base, got = base;
            scatter_add_rows(ref.data(), y.data(), rows.data(), weights.data(), n, D);
            cl_scatter_add_rows(*cl, got.data(), y.data(), rows.data(), weights.data(), n, D);
            check("scatter_add", shape_text({{"n", n}, {"D", D}, {"min_row", offset}}), got, ref);
        }
    }
    const int32_t bad[] = {-3};
    std::vector<float> y(16), w(1), out(64);
    CHECK_THROWS_WITH_AS(cl_scatter_add_rows(*cl, out.data(), y.data(), bad, w.data(), 1, 16), doctest::Contains("negative"), Error);
}

TEST_CASE("cl kernels: attention (GQA, causal and sliding-window masks, prefill and decode) against attention") {
    ClContext* cl = begin_op("attention");
    if (!cl) return;
    struct Case {
        int T, cached, window;
    };
    // A prefill after `cached` earlier positions for each T × window, the window ± 1 edges (T = 7, 9 with window 8,
    // S = 511 / 513 with window 512), and decode steps over a long cache (T = 1, S = 4096).
    std::vector<Case> cases;
    for (int T : {1, 9, 40})
        for (int window : {0, 8, 512}) cases.push_back({T, 24, window});
    cases.push_back({7, 0, 8});
    cases.push_back({9, 0, 8});
    uint32_t seed = 600;
    const std::pair<int, int> heads[] = {{8, 1}, {8, 2}, {16, 8}};
    for (int Dh : {16, 256, 512}) {
        for (const auto& [H, Hkv] : heads) {
            std::vector<Case> shape_cases = cases;
            if (Dh == 256 && H == 8 && Hkv == 2) {  // the window-512 edges and the long decode, once per op (they are slow on CPU)
                shape_cases.push_back({1, 510, 512});
                shape_cases.push_back({1, 512, 512});
                shape_cases.push_back({1, 4095, 0});
                shape_cases.push_back({1, 4095, 512});
            }
            for (const Case& c : shape_cases) {
                const int T = c.T, S = c.cached + T;
                // Scores with a standard deviation near 1.3 whatever Dh: a peaked but not one-hot softmax.
                const std::vector<float> q = random_vector(size_t(T) * H * Dh, seed++);
                const std::vector<float> k = random_vector(size_t(S) * Hkv * Dh, seed++, 4.0f / std::sqrt(static_cast<float>(Dh)));
                const std::vector<float> v = random_vector(size_t(S) * Hkv * Dh, seed++);
                std::vector<int64_t> q_pos(static_cast<size_t>(T)), k_pos(static_cast<size_t>(S));
                for (int s = 0; s < S; ++s) k_pos[size_t(s)] = s;
                for (int t = 0; t < T; ++t) q_pos[size_t(t)] = c.cached + t;
                std::vector<float> ref(size_t(T) * H * Dh), got(ref.size(), -1.0f);
                std::vector<float> ref_w(size_t(H) * T * S), got_w(ref_w.size(), -1.0f);
                const AttentionShape sh{T, S, H, Hkv, Dh, c.window};
                attention(ref.data(), ref_w.data(), q.data(), k.data(), v.data(), q_pos.data(), k_pos.data(), nullptr, nullptr,
                          ImageMask::transformers, sh);
                cl_attention(*cl, got.data(), got_w.data(), q.data(), k.data(), v.data(), q_pos.data(), k_pos.data(), nullptr, nullptr,
                             ImageMask::transformers, sh);
                const std::string shape =
                    shape_text({{"T", T}, {"S", S}, {"H", H}, {"Hkv", Hkv}, {"Dh", Dh}, {"w", c.window}});
                check("attention", shape, got, ref);
                check("attn_weights", shape, got_w, ref_w);
            }
        }
    }
    // A ring-buffer sliding cache: keys stored out of position order, with a fully masked query (its keys are all in
    // the future) — zeros, as the reference defines; and the nullptr weights form.
    {
        const int T = 3, S = 12, H = 4, Hkv = 2, Dh = 16, window = 8;
        const std::vector<float> q = random_vector(size_t(T) * H * Dh, 700), k = random_vector(size_t(S) * Hkv * Dh, 701),
                                 v = random_vector(size_t(S) * Hkv * Dh, 702);
        std::vector<int64_t> k_pos(static_cast<size_t>(S));
        for (int s = 0; s < S; ++s) k_pos[size_t(s)] = 10 + (s + 5) % S;  // positions 10..21, rotated
        const std::vector<int64_t> q_pos = {5, 17, 21};
        std::vector<float> ref(size_t(T) * H * Dh), got(ref.size(), -1.0f), ref_w(size_t(H) * T * S);
        const AttentionShape sh{T, S, H, Hkv, Dh, window};
        attention(ref.data(), ref_w.data(), q.data(), k.data(), v.data(), q_pos.data(), k_pos.data(), nullptr, nullptr,
                  ImageMask::transformers, sh);
        cl_attention(*cl, got.data(), nullptr, q.data(), k.data(), v.data(), q_pos.data(), k_pos.data(), nullptr, nullptr,
                     ImageMask::transformers, sh);
        check("attention", "ring cache, masked row", got, ref);
        for (int i = 0; i < H * Dh; ++i) CHECK(got[size_t(i)] == 0.0f);  // query 0 sees no key
    }
}

namespace {

struct ImageMaskCase {
    ImageMask rule;
    const char* name;
};
constexpr ImageMaskCase kImageMasks[] = {{ImageMask::transformers, "transformers"},
                                         {ImageMask::transformers_0246b4f, "0246b4f"},
                                         {ImageMask::transformers_c308a309, "c308a309"},
                                         {ImageMask::jax, "jax"},
                                         {ImageMask::causal, "causal"}};

// Image-run index per position for a 40-token prompt with two images: tokens 5 … 16 (image 0) and 22 … 33 (image 1),
// each longer than the sliding window of 8, so the window edges fall inside an image; text elsewhere (−1).
int32_t image_block_of(int64_t pos) {
    if (pos >= 5 && pos <= 16) return 0;
    if (pos >= 22 && pos <= 33) return 1;
    return -1;
}

}  // namespace

TEST_CASE("cl kernels: attention with image blocks, every ImageMask rule, sliding and full layers, against attention") {
    ClContext* cl = begin_op("attention");
    if (!cl) return;
    struct Case {
        const char* what;
        int T, cached;          // queries at positions cached … cached + T − 1
        int S;                  // keys at positions 0 … S − 1 (S ≥ cached + T: a whole prompt's keys are there)
        bool with_weights;
    };
    const Case cases[] = {
        {"prefill", 40, 0, 40, true},
        {"prefill", 40, 0, 40, false},               // weights == nullptr
        {"chunk", 12, 20, 40, true},                  // a later chunk whose queries start inside image 1
        {"decode in image", 1, 27, 40, true},         // T = 1, query in image 1 sees the image's later keys too
        {"decode text", 1, 40, 41, true},             // T = 1 text query after the prompt
        {"decode text", 1, 40, 41, false},
    };
    uint32_t seed = 2200;
    for (const auto& [H, Hkv, Dh] : {std::tuple{4, 2, 16}, std::tuple{8, 1, 256}}) {
        for (const Case& c : cases) {
            const int T = c.T, S = c.S;
            const std::vector<float> q = random_vector(size_t(T) * H * Dh, seed++);
            const std::vector<float> k = random_vector(size_t(S) * Hkv * Dh, seed++, 4.0f / std::sqrt(static_cast<float>(Dh)));
            const std::vector<float> v = random_vector(size_t(S) * Hkv * Dh, seed++);
            std::vector<int64_t> q_pos(static_cast<size_t>(T)), k_pos(static_cast<size_t>(S));
            std::vector<int32_t> q_block(static_cast<size_t>(T)), k_block(static_cast<size_t>(S));
            for (int s = 0; s < S; ++s) k_block[size_t(s)] = image_block_of(k_pos[size_t(s)] = s);
            for (int t = 0; t < T; ++t) q_block[size_t(t)] = image_block_of(q_pos[size_t(t)] = c.cached + t);
            for (int window : {8, 0}) {
                for (const ImageMaskCase& m : kImageMasks) {
                    const AttentionShape sh{T, S, H, Hkv, Dh, window};
                    std::vector<float> ref(size_t(T) * H * Dh), got(ref.size(), -1.0f);
                    std::vector<float> ref_w(size_t(H) * T * S), got_w(ref_w.size(), -1.0f);
                    attention(ref.data(), ref_w.data(), q.data(), k.data(), v.data(), q_pos.data(), k_pos.data(), q_block.data(),
                              k_block.data(), m.rule, sh);
                    cl_attention(*cl, got.data(), c.with_weights ? got_w.data() : nullptr, q.data(), k.data(), v.data(), q_pos.data(),
                                 k_pos.data(), q_block.data(), k_block.data(), m.rule, sh);
                    const std::string shape = std::string(c.what) + " " + m.name + " " +
                                              shape_text({{"T", T}, {"S", S}, {"H", H}, {"Hkv", Hkv}, {"Dh", Dh}, {"w", window}});
                    check("attn_image", shape, got, ref);
                    if (c.with_weights) check("attn_image_w", shape, got_w, ref_w);
                }
            }
        }
    }
    // The rules really differ on this prompt (guards against a kernel that ignores the blocks and still matches a
    // reference that does the same): the attention weights under each rule, on a sliding and a full layer.
    {
        const int T = 40, S = 40, H = 1, Hkv = 1, Dh = 16;
        const std::vector<float> q = random_vector(size_t(T) * Dh, 2300), k = random_vector(size_t(S) * Dh, 2301),
                                 v = random_vector(size_t(S) * Dh, 2302);
        std::vector<int64_t> pos(static_cast<size_t>(T));
        std::vector<int32_t> block(static_cast<size_t>(T));
        for (int t = 0; t < T; ++t) block[size_t(t)] = image_block_of(pos[size_t(t)] = t);
        auto weights_of = [&](ImageMask rule, int window) {
            std::vector<float> out(size_t(T) * Dh), w(size_t(T) * S);
            cl_attention(*cl, out.data(), w.data(), q.data(), k.data(), v.data(), pos.data(), pos.data(), block.data(), block.data(), rule,
                         AttentionShape{T, S, H, Hkv, Dh, window});
            return w;
        };
        CHECK(weights_of(ImageMask::transformers, 8) != weights_of(ImageMask::causal, 8));
        CHECK(weights_of(ImageMask::transformers, 8) != weights_of(ImageMask::jax, 8));
        CHECK(weights_of(ImageMask::transformers, 8) != weights_of(ImageMask::transformers_c308a309, 8));
        CHECK(weights_of(ImageMask::transformers_0246b4f, 0) != weights_of(ImageMask::transformers_c308a309, 0));
    }
    // Queries in chunks: a private context whose allocation limit (12 KiB) holds q[40, 4, 16] but only 19 queries'
    // scores [4, 19, 40], so the 40 queries run as 19 + 19 + 2; weights assembled across the chunks.
    {
        ClContext small(0);
        small.limit_alloc(12 * 1024);
        const int T = 40, S = 40, H = 4, Hkv = 2, Dh = 16;
        const std::vector<float> q = random_vector(size_t(T) * H * Dh, 2310), k = random_vector(size_t(S) * Hkv * Dh, 2311, 1.0f),
                                 v = random_vector(size_t(S) * Hkv * Dh, 2312);
        std::vector<int64_t> pos(static_cast<size_t>(T));
        std::vector<int32_t> block(static_cast<size_t>(T));
        for (int t = 0; t < T; ++t) block[size_t(t)] = image_block_of(pos[size_t(t)] = t);
        for (int window : {8, 0}) {
            const AttentionShape sh{T, S, H, Hkv, Dh, window};
            std::vector<float> ref(size_t(T) * H * Dh), got(ref.size(), -1.0f), ref_w(size_t(H) * T * S), got_w(ref_w.size(), -1.0f);
            attention(ref.data(), ref_w.data(), q.data(), k.data(), v.data(), pos.data(), pos.data(), block.data(), block.data(),
                      ImageMask::transformers_0246b4f, sh);
            cl_attention(small, got.data(), got_w.data(), q.data(), k.data(), v.data(), pos.data(), pos.data(), block.data(), block.data(),
                         ImageMask::transformers_0246b4f, sh);
            const std::string shape = "3 chunks " + shape_text({{"T", T}, {"S", S}, {"w", window}});
            check("attn_chunked", shape, got, ref);
            check("attn_chunked_w", shape, got_w, ref_w);
        }
    }
    // Only one of q_block / k_block is a caller error.
    std::vector<float> x(16), out(16);
    const int64_t p0 = 0;
    const int32_t b0 = 0;
    CHECK_THROWS_WITH_AS(cl_attention(*cl, out.data(), nullptr, x.data(), x.data(), x.data(), &p0, &p0, &b0, nullptr, ImageMask::jax,
                                      AttentionShape{1, 1, 1, 1, 16, 0}),
                         doctest::Contains("q_block and k_block"), Error);
}

TEST_CASE("cl kernels: moe_route top-k, renormalise, per-expert scale (exact ties) against moe_route") {
    ClContext* cl = begin_op("moe_route");
    if (!cl) return;
    uint32_t seed = 800;
    for (const auto& [E, K] : {std::pair{16, 4}, std::pair{16, 8}, std::pair{128, 4}, std::pair{128, 8}}) {
        for (int T : kTokens) {
            // Softmax probabilities; every third token gets exact ties (values quantised to a few levels, including a
            // tie straddling the K-th place), one token is uniform (all E tied).
            std::vector<float> probs = random_vector(size_t(T) * E, seed++, 4.0f);
            for (int t = 0; t < T; ++t) {
                float* row = probs.data() + size_t(t) * E;
                if (t % 3 == 1)
                    for (int e = 0; e < E; ++e) row[e] = std::round(row[e]);
                if (t == T - 1 && T > 1) std::fill(row, row + E, 0.0f);
                softmax(row, E);
            }
            const std::vector<float> per_expert = random_vector(size_t(E), seed++, 2.0f);
            std::vector<int32_t> ref_ids(size_t(T) * K), got_ids(ref_ids.size(), -1);
            std::vector<float> ref_w(size_t(T) * K), got_w(ref_w.size(), -1.0f);
            moe_route(probs.data(), T, E, K, per_expert.data(), ref_ids.data(), ref_w.data());
            cl_moe_route(*cl, probs.data(), T, E, K, per_expert.data(), got_ids.data(), got_w.data());
            const std::string shape = shape_text({{"T", T}, {"E", E}, {"K", K}});
            CHECK_MESSAGE(got_ids == ref_ids, "moe_route ids differ at " << shape);
            check("moe_route", shape, got_w, ref_w);
        }
    }
}

TEST_CASE("cl kernels: embed_rows f32 / bf16 / f16 tables (staged rows, repeated ids) against embed_rows") {
    ClContext* cl = begin_op("embed");
    if (!cl) return;
    uint32_t seed = 900;
    const int rows = 50;
    for (DType dtype : {DType::F32, DType::BF16, DType::F16}) {
        for (int cols : {64, 1536}) {
            const std::vector<std::byte> bytes = table_bytes(random_vector(size_t(rows) * cols, seed++, 0.5f), dtype);
            const WeightView table{bytes.data(), dtype, rows, cols};
            const float row_scale = std::sqrt(static_cast<float>(cols));
            for (int T : {1, 7}) {
                // Ids include the first and last rows and a repeat.
                std::vector<int32_t> ids(static_cast<size_t>(T));
                for (int t = 0; t < T; ++t) ids[size_t(t)] = t == 0 ? rows - 1 : (t * 17) % rows;
                if (T > 2) ids[2] = ids[1];
                std::vector<float> ref(size_t(T) * cols), got(ref.size(), -1.0f);
                embed_rows(ref.data(), table, ids.data(), T, row_scale);
                cl_embed_rows(*cl, table, ids.data(), T, row_scale, got.data());
                check(std::string("embed_") + dtype_name(dtype), shape_text({{"T", T}, {"cols", cols}, {"rows", rows}}), got, ref);
            }
        }
    }
    const std::vector<float> small = random_vector(64, 1);
    const WeightView table{reinterpret_cast<const std::byte*>(small.data()), DType::F32, 4, 16};
    const int32_t bad[] = {4};
    std::vector<float> out(16);
    CHECK_THROWS_WITH_AS(cl_embed_rows(*cl, table, bad, 1, 1.0f, out.data()), doctest::Contains("outside the table"), Error);
}

TEST_CASE("cl kernels: ple_mix and ple_gate against ple_mix / ple_gate") {
    ClContext* cl = begin_op("ple");
    if (!cl) return;
    uint32_t seed = 1000;
    for (const auto& [L, P] : {std::pair{3, 33}, std::pair{35, 256}}) {
        for (int T : kTokens) {
            const int64_t n = int64_t(T) * L * P;
            const std::vector<float> context = random_vector(size_t(n), seed++, 3.0f), token = random_vector(size_t(n), seed++, 2.0f);
            const std::string shape = shape_text({{"T", T}, {"L", L}, {"P", P}});
            {
                std::vector<float> ref(static_cast<size_t>(n)), got(static_cast<size_t>(n), -1.0f);
                ple_mix(ref.data(), context.data(), token.data(), n);
                cl_ple_mix(*cl, got.data(), context.data(), token.data(), n);
                check("ple_mix", shape, got, ref);
            }
            // The gate as the layer feeds it: already through gelu_tanh.
            std::vector<float> gate = random_vector(size_t(T) * P, seed++, 4.0f);
            gelu_tanh(gate.data(), int64_t(T) * P);
            for (int l : {0, L - 1}) {
                std::vector<float> ref(size_t(T) * P), got(ref.size(), -1.0f);
                ple_gate(ref.data(), gate.data(), context.data(), T, L, P, l);
                cl_ple_gate(*cl, got.data(), gate.data(), context.data(), T, L, P, l);
                check("ple_gate", shape + " l=" + std::to_string(l), got, ref);
            }
        }
    }
}

TEST_CASE("cl kernels: vision_pool (3x3 by position) and rope_2d against vision_pool / rope_2d") {
    ClContext* cl = begin_op("vision");
    if (!cl) return;
    uint32_t seed = 1100;
    const int k = 3;
    for (const auto& [cols, rows_] : {std::pair{3, 3}, std::pair{6, 9}, std::pair{48, 30}}) {
        for (int Dv : {64, 768}) {
            const int N = cols * rows_, G = (cols / k) * (rows_ / k);
            // Patches in a shuffled order, so each cell's patches are not contiguous.
            std::vector<int32_t> pos_x(static_cast<size_t>(N)), pos_y(static_cast<size_t>(N));
            std::vector<int> order(static_cast<size_t>(N));
            for (int i = 0; i < N; ++i) order[size_t(i)] = i;
            std::shuffle(order.begin(), order.end(), std::mt19937(seed++));
            for (int n = 0; n < N; ++n) {
                pos_x[size_t(n)] = order[size_t(n)] % cols;
                pos_y[size_t(n)] = order[size_t(n)] / cols;
            }
            const std::vector<float> x = random_vector(size_t(N) * Dv, seed++, 3.0f);
            std::vector<float> ref(size_t(G) * Dv), got(ref.size(), -1.0f);
            vision_pool(ref.data(), x.data(), N, Dv, pos_x.data(), pos_y.data(), cols, k, G);
            cl_vision_pool(*cl, got.data(), x.data(), N, Dv, pos_x.data(), pos_y.data(), cols, k, G);
            check("vision_pool", shape_text({{"cols", cols}, {"rows", rows_}, {"G", G}, {"Dv", Dv}}), got, ref);
        }
    }
    for (const auto& [N, H, Dh] : {std::tuple{9, 2, 16}, std::tuple{37, 4, 64}, std::tuple{1440, 12, 64}}) {
        std::vector<int32_t> pos_x(static_cast<size_t>(N)), pos_y(static_cast<size_t>(N));
        for (int n = 0; n < N; ++n) {
            pos_x[size_t(n)] = n % 48;
            pos_y[size_t(n)] = n / 48;
        }
        const std::vector<float> inv_freq = rope_inv_freq(Dh / 2, 100.0, Dh / 4, 1.0);
        const std::vector<float> x = random_vector(size_t(N) * H * Dh, seed++);
        std::vector<float> ref = x, got = x;
        rope_2d(ref.data(), N, H, Dh, pos_x.data(), pos_y.data(), inv_freq.data());
        cl_rope_2d(*cl, got.data(), N, H, Dh, pos_x.data(), pos_y.data(), inv_freq.data());
        check("rope_2d", shape_text({{"N", N}, {"H", H}, {"Dh", Dh}}), got, ref);
    }
}

TEST_CASE("cl kernels: every program builds, with its build time (from source or the binary cache)") {
    ClContext* cl = begin_op("runtime");
    if (!cl) return;
    for (const std::string& name : embedded_kernel_names()) cl->program(name);
    for (const ProgramBuild& b : cl->builds())
        MESSAGE("program " << b.name << ": " << b.seconds << " s " << std::string(b.from_cache ? "(binary cache)" : "(from source)"));
}

#else

TEST_CASE("cl kernels: skipped (built without GEMMA4_OPENCL)") { MESSAGE("skipped: no OpenCL device (built without OpenCL)"); }

#endif
