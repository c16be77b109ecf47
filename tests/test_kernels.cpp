// test_kernels.cpp — every OpenCL kernel (kernels/*.cl through cl_ops.h) against its reference op (reference/ops.h),
// in the manner of ggml's test-backend-ops: odd and aligned shapes, fixed-seed random inputs, NMSE ≤
// kNmseOpenClVsRef, NaN/Inf a failure, the first mismatching elements printed, one MESSAGE row per op × shape.
// GEMMA4_TEST_OPS=matmul,rope runs only those ops. With no OpenCL device the tests say "skipped" and pass.
// Not here: the model-level lockstep run (it needs the Backend interface).
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
#include "cl_runtime.h"
#include "compare.h"
#include "attention.h"
#include "dtype.h"
#include "error.h"
#include "moe.h"
#include "ops.h"
#include "test_util.h"
#include "tolerances.h"

using namespace gemma4;
using namespace gemma4::cl;

namespace {

// One context for the whole process, so each program is built (or loaded from the binary cache) once.
ClContext* shared_cl() {
    static bool tried = false;
    static std::unique_ptr<ClContext> ctx;
    if (!tried) {
        tried = true;
        if (!list_devices().empty()) ctx = std::make_unique<ClContext>(0);
    }
    return ctx.get();
}

// GEMMA4_TEST_OPS=matmul,rope → only those; unset or empty → all.
bool op_enabled(const std::string& op) {
    const char* filter = std::getenv("GEMMA4_TEST_OPS");
    if (!filter || !*filter) return true;
    std::stringstream list(filter);
    std::string item;
    while (std::getline(list, item, ','))
        if (item == op) return true;
    return false;
}

// The context when this op should run; nullptr (after saying why) when it should not.
ClContext* begin_op(const std::string& op) {
    if (!op_enabled(op)) {
        MESSAGE(op << ": skipped by GEMMA4_TEST_OPS");
        return nullptr;
    }
    ClContext* cl = shared_cl();
    if (!cl) MESSAGE(op << ": skipped: no OpenCL device");
    return cl;
}

std::vector<float> random_vector(size_t n, uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-scale, scale);
    std::vector<float> v(n);
    for (float& f : v) f = dist(rng);
    return v;
}

// Compares cl against ref, prints a table row and, on failure, the first mismatching elements.
void check(const std::string& op, const std::string& shape, const std::vector<float>& cl_out, const std::vector<float>& ref) {
    const std::vector<int64_t> dims = {static_cast<int64_t>(ref.size())};
    const ProbeDiff d = compare_arrays(op, cl_out, {static_cast<int64_t>(cl_out.size())}, ref, dims, tolerance::kNmseOpenClVsRef);
    char row[200];
    std::snprintf(row, sizeof row, "%-12s %-28s nmse %.2e  max_abs %.2e  %s", op.c_str(), shape.c_str(), d.nmse, d.max_abs,
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

std::string shape_text(std::initializer_list<std::pair<const char*, int64_t>> dims) {
    std::ostringstream s;
    const char* separator = "";
    for (const auto& [name, v] : dims) {
        s << separator << name << "=" << v;
        separator = " ";
    }
    return s.str();
}

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

// The attention inner loop of reference/attention.cpp (attention_forward without the image blocks), on plain arrays:
// the same mask rule, softmax, order of summation and skip of zero weights. out[T, H·Dh], weights[H, T, S].
void attention_ref(const float* q, const float* k, const float* v, const int64_t* q_pos, const int64_t* k_pos, int T, int S,
                   int H, int Hkv, int Dh, int window, float* out, float* weights) {
    const int group = H / Hkv;
    std::vector<float> scores(static_cast<size_t>(S));
    for (int h = 0; h < H; ++h) {
        for (int t = 0; t < T; ++t) {
            const float* qr = q + (int64_t(t) * H + h) * Dh;
            const int kvh = h / group;
            for (int64_t s = 0; s < S; ++s) {
                if (!attention_allowed(q_pos[t], k_pos[s], window)) {
                    scores[size_t(s)] = -std::numeric_limits<float>::infinity();
                    continue;
                }
                const float* kr = k + (s * Hkv + kvh) * Dh;
                float dot = 0.0f;
                for (int d = 0; d < Dh; ++d) dot += qr[d] * kr[d];
                scores[size_t(s)] = dot;
            }
            softmax(scores.data(), S);
            float* o = out + (int64_t(t) * H + h) * Dh;
            std::fill(o, o + Dh, 0.0f);
            for (int64_t s = 0; s < S; ++s) {
                if (scores[size_t(s)] == 0.0f) continue;
                const float* vr = v + (s * Hkv + kvh) * Dh;
                for (int d = 0; d < Dh; ++d) o[d] += scores[size_t(s)] * vr[d];
            }
            std::copy(scores.begin(), scores.end(), weights + (int64_t(h) * T + t) * S);
        }
    }
}

// rope_2d of reference/vision.cpp (a private function there), copied loop for loop: x[N, H, Dh] in place.
void rope_2d_ref(float* x, int N, int H, int Dh, const int32_t* pos_x, const int32_t* pos_y, const std::vector<float>& inv_freq) {
    const int m = Dh / 2, pairs = m / 2;
    for (int n = 0; n < N; ++n)
        for (int axis = 0; axis < 2; ++axis) {
            const float pos = static_cast<float>(axis == 0 ? pos_x[n] : pos_y[n]);
            for (int i = 0; i < pairs; ++i) {
                const float angle = pos * inv_freq[size_t(i)];
                const float c = std::cos(angle), s = std::sin(angle);
                for (int h = 0; h < H; ++h) {
                    float* half = x + (int64_t(n) * H + h) * Dh + axis * m;
                    const float a = half[i], b = half[i + pairs];
                    half[i] = a * c - b * s;
                    half[i + pairs] = b * c + a * s;
                }
            }
        }
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
            const std::vector<float> w_f32 = random_vector(size_t(in) * out_dim, seed++, 0.5f);
            std::vector<std::byte> w_bytes(w_f32.size() * dtype_size(dtype));
            for (size_t i = 0; i < w_f32.size(); ++i) {
                if (dtype == DType::F32) std::memcpy(w_bytes.data() + 4 * i, &w_f32[i], 4);
                else {
                    const uint16_t bits = dtype == DType::BF16 ? f32_to_bf16(w_f32[i]) : f32_to_f16_bits(w_f32[i]);
                    std::memcpy(w_bytes.data() + 2 * i, &bits, 2);
                }
            }
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
    small.limit_alloc(64 * 1024);  // 64 KiB: a 1536×512 f32 weight (3 MiB) goes in 49 blocks of 21 rows (plus one)
    const std::vector<float> w = random_vector(size_t(1536) * 512, 7);
    const WeightView W{reinterpret_cast<const std::byte*>(w.data()), DType::F32, 512, 1536};
    const std::vector<float> x = random_vector(size_t(7) * 1536, 8);
    std::vector<float> ref(size_t(7) * 512), got(ref.size());
    matmul_ref(ref.data(), x.data(), W, 7);
    cl_matmul(small, got.data(), x.data(), W, 7);
    check("matmul_split", "T=7 in=1536 out=512 (64 KiB)", got, ref);
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

TEST_CASE("cl kernels: elementwise gelu_tanh, gelu(gate)·up, add, scale") {
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
                std::vector<float> ref = a, got(a.size());
                gelu_tanh(ref.data(), n);
                for (int64_t i = 0; i < n; ++i) ref[size_t(i)] *= b[size_t(i)];
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

TEST_CASE("cl kernels: attention (GQA, causal and sliding-window masks, prefill and decode) against the reference loop") {
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
                attention_ref(q.data(), k.data(), v.data(), q_pos.data(), k_pos.data(), T, S, H, Hkv, Dh, c.window, ref.data(), ref_w.data());
                cl_attention(*cl, q.data(), k.data(), v.data(), q_pos.data(), k_pos.data(), T, S, H, Hkv, Dh, c.window, got.data(),
                             got_w.data());
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
        attention_ref(q.data(), k.data(), v.data(), q_pos.data(), k_pos.data(), T, S, H, Hkv, Dh, window, ref.data(), ref_w.data());
        cl_attention(*cl, q.data(), k.data(), v.data(), q_pos.data(), k_pos.data(), T, S, H, Hkv, Dh, window, got.data(), nullptr);
        check("attention", "ring cache, masked row", got, ref);
        for (int i = 0; i < H * Dh; ++i) CHECK(got[size_t(i)] == 0.0f);  // query 0 sees no key
    }
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
            for (int t = 0; t < T; ++t)
                moe_route(probs.data() + size_t(t) * E, E, K, per_expert.data(), ref_ids.data() + size_t(t) * K, ref_w.data() + size_t(t) * K);
            cl_moe_route(*cl, probs.data(), T, E, K, per_expert.data(), got_ids.data(), got_w.data());
            const std::string shape = shape_text({{"T", T}, {"E", E}, {"K", K}});
            CHECK_MESSAGE(got_ids == ref_ids, "moe_route ids differ at " << shape);
            check("moe_route", shape, got_w, ref_w);
        }
    }
}

TEST_CASE("cl kernels: embed_rows f32 / bf16 / f16 tables (staged rows, repeated ids) against weight_row_f32 × scale") {
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
                for (int t = 0; t < T; ++t) {
                    weight_row_f32(table, ids[size_t(t)], ref.data() + size_t(t) * cols);
                    scale(ref.data() + size_t(t) * cols, cols, row_scale);
                }
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

TEST_CASE("cl kernels: ple_mix and ple_gate against the loops of reference/ple.cpp") {
    ClContext* cl = begin_op("ple");
    if (!cl) return;
    uint32_t seed = 1000;
    for (const auto& [L, P] : {std::pair{3, 33}, std::pair{35, 256}}) {
        for (int T : kTokens) {
            const int64_t n = int64_t(T) * L * P;
            const std::vector<float> context = random_vector(size_t(n), seed++, 3.0f), token = random_vector(size_t(n), seed++, 2.0f);
            const std::string shape = shape_text({{"T", T}, {"L", L}, {"P", P}});
            {
                const float mix = static_cast<float>(std::pow(2.0, -0.5));
                std::vector<float> ref(static_cast<size_t>(n)), got(static_cast<size_t>(n), -1.0f);
                for (int64_t i = 0; i < n; ++i) ref[size_t(i)] = (context[size_t(i)] + token[size_t(i)]) * mix;
                cl_ple_mix(*cl, got.data(), context.data(), token.data(), n);
                check("ple_mix", shape, got, ref);
            }
            const std::vector<float> gate = random_vector(size_t(T) * P, seed++, 4.0f);
            for (int l : {0, L - 1}) {
                std::vector<float> g = gate, ref(size_t(T) * P), got(ref.size(), -1.0f);
                gelu_tanh(g.data(), int64_t(T) * P);
                for (int t = 0; t < T; ++t)
                    for (int p = 0; p < P; ++p)
                        ref[size_t(t) * P + p] = g[size_t(t) * P + p] * context[(size_t(t) * L + l) * P + p];
                cl_ple_gate(*cl, got.data(), gate.data(), context.data(), T, L, P, l);
                check("ple_gate", shape + " l=" + std::to_string(l), got, ref);
            }
        }
    }
}

TEST_CASE("cl kernels: vision_pool (3x3 by position) and rope_2d against the loops of reference/vision.cpp") {
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
            std::vector<float> ref(size_t(G) * Dv, 0.0f), got(ref.size(), -1.0f);
            const float cell_weight = 1.0f / float(k * k);
            for (int n = 0; n < N; ++n) {
                float* cell = &ref[size_t(pos_x[size_t(n)] / k + (cols / k) * (pos_y[size_t(n)] / k)) * Dv];
                const float* row = &x[size_t(n) * Dv];
                for (int d = 0; d < Dv; ++d) cell[d] += cell_weight * row[d];
            }
            scale(ref.data(), int64_t(G) * Dv, static_cast<float>(std::sqrt(double(Dv))));
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
        rope_2d_ref(ref.data(), N, H, Dh, pos_x.data(), pos_y.data(), inv_freq);
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
