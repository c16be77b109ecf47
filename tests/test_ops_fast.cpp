// test_ops_fast.cpp — the CPU fast path (matmul_blas: matmul_small_t for decode, sgemm for prefill) against the
// reference loop matmul_ref, on odd shapes (tails of every chunk and lane width, fewer rows than threads) and all
// three weight dtypes; the branchless f16 conversion of the fast path against dtype.h's definition; and the
// vectorised gelu ops against gelu_tanh.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "backend.h"
#include "dtype.h"
#include "error.h"
#include "ops.h"
#include "safetensors.h"
#include "test_util.h"
#include "tolerances.h"

using namespace gemma4;
using gemma4::test::nmse;

namespace {

// A weight of the given dtype with random values of magnitude ~0.05; f16 includes subnormals and both signs.
std::vector<std::byte> random_weight(DType dtype, int64_t rows, int64_t cols, std::mt19937& rng) {
    std::normal_distribution<float> dist(0.0f, 0.05f);
    const int64_t n = rows * cols;
    std::vector<std::byte> bytes(static_cast<size_t>(n * dtype_size(dtype)) + 1);  // +1: room for a misaligned view
    for (int64_t i = 0; i < n; ++i) {
        const float v = dist(rng);
        if (dtype == DType::F32) {
            std::memcpy(bytes.data() + 4 * i, &v, 4);
        } else if (dtype == DType::BF16) {
            const uint16_t b = f32_to_bf16(v);
            std::memcpy(bytes.data() + 2 * i, &b, 2);
        } else {  // f16: random finite bit patterns with small exponents (values ~1e-7 .. 0.1, subnormals included)
            uint16_t h = static_cast<uint16_t>((rng() & 0x83ffu) | ((rng() % 12u) << 10));
            std::memcpy(bytes.data() + 2 * i, &h, 2);
        }
    }
    return bytes;
}

// Random weights of the given dtypes and row counts, all `cols` wide (bytes holds them; views point into it).
struct RandomWeights {
    std::vector<std::vector<std::byte>> bytes;
    std::vector<WeightView> views;
    RandomWeights(const std::vector<std::pair<DType, int64_t>>& shapes, int64_t cols, std::mt19937& rng) {
        for (auto [dtype, rows] : shapes) bytes.push_back(random_weight(dtype, rows, cols, rng));
        for (size_t i = 0; i < shapes.size(); ++i) views.push_back(WeightView{bytes[i].data(), shapes[i].first, shapes[i].second, cols});
    }
};

void check_against_ref(DType dtype, int T, int64_t rows, int64_t cols, bool misaligned = false) {
    CAPTURE(dtype_name(dtype));
    CAPTURE(T);
    CAPTURE(rows);
    CAPTURE(cols);
    CAPTURE(misaligned);
    std::mt19937 rng(static_cast<uint32_t>(T * 131 + rows * 7 + cols));
    std::vector<std::byte> w = random_weight(dtype, rows, cols, rng);
    if (misaligned) w.insert(w.begin(), std::byte{0});
    const WeightView W{w.data() + (misaligned ? 1 : 0), dtype, rows, cols};
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(T * cols));
    for (float& v : x) v = dist(rng);
    std::vector<float> ref(static_cast<size_t>(T * rows)), fast(ref.size(), std::nanf("")), blas(ref.size(), std::nanf(""));
    matmul_ref(ref.data(), x.data(), W, T);
    matmul_blas(blas.data(), x.data(), W, T);
    matmul(fast.data(), x.data(), W, T, MatmulBackend::Blas);
    CHECK(nmse(blas, ref) < tolerance::kNmseBlasVsRef);
    CHECK(nmse(fast, ref) < tolerance::kNmseBlasVsRef);
    if (T <= kBlasMinTokens) {
        std::vector<float> small(ref.size(), std::nanf(""));
        matmul_small_t(small.data(), x.data(), W, T);
        CHECK(nmse(small, ref) < tolerance::kNmseBlasVsRef);
    }
}

}  // namespace

TEST_CASE("fast path: the branchless f16 conversion equals f16_to_f32 on all 65536 inputs") {
    // matmul_small_t converts f16 through it; compare through a matmul with a one-hot x to reach it: 1024 rows of 64
    // (the 8-lane kernel), and 16 rows of 4096 (the 16-lane kernel where the CPU has AVX-512).
    std::vector<uint16_t> all(65536);
    for (uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
    for (const int64_t cols : {int64_t(64), int64_t(4096)}) {
        CAPTURE(cols);
        const int64_t rows = 65536 / cols;
        const WeightView W{reinterpret_cast<const std::byte*>(all.data()), DType::F16, rows, cols};
        // 1·w + 0·(others) is w for finite w; inf/NaN elsewhere in a row make the other products NaN: skip those rows.
        std::vector<bool> row_finite(static_cast<size_t>(rows), true);
        for (int64_t i = 0; i < 65536; ++i)
            if (!std::isfinite(f16_to_f32(all[static_cast<size_t>(i)]))) row_finite[static_cast<size_t>(i / cols)] = false;
        std::vector<float> x(static_cast<size_t>(cols), 0.0f), out(static_cast<size_t>(rows));
        int bad = 0;
        for (int64_t c = 0; c < cols; ++c) {
            // row r of W holds all[r*cols .. r*cols+cols); x = e_c picks column c of every row.
            std::fill(x.begin(), x.end(), 0.0f);
            x[static_cast<size_t>(c)] = 1.0f;
            matmul_small_t(out.data(), x.data(), W, 1);
            for (int64_t r = 0; r < rows; ++r) {
                const float want = f16_to_f32(all[static_cast<size_t>(r * cols + c)]);
                const float got = out[static_cast<size_t>(r)];
                if (row_finite[static_cast<size_t>(r)] && std::bit_cast<uint32_t>(got) != std::bit_cast<uint32_t>(want + 0.0f) && !(got == want))
                    ++bad;
            }
        }
        CHECK(bad == 0);
        // The inf/NaN patterns (exponent 31, 1024 of each sign) fill max(1, 1024 / cols) rows per sign.
        CHECK(std::count(row_finite.begin(), row_finite.end(), true) == rows - 2 * std::max<int64_t>(1, 1024 / cols));
    }
}

TEST_CASE("fast path: decode (T < kBlasMinTokens) equals matmul_ref, all dtypes, odd shapes") {
    // 2816, 4100 and 6144 columns: rows wide enough for the 16-lane kernel where the CPU has AVX-512 (decode_lanes).
    for (DType dtype : {DType::F32, DType::BF16, DType::F16})
        for (int T : {1, 2, 3, 4, 6, 7, 31})
            for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {3, 5}, {17, 15}, {33, 513}, {70, 1536}, {5, 1041}, {13, 2816}, {19, 4100}, {9, 6144}})
                check_against_ref(dtype, T, rows, cols);
    check_against_ref(DType::F32, 1, 37, 301, true);  // f32 not 4-byte aligned (checkpoints guarantee bytes only)
    check_against_ref(DType::F32, 1, 11, 4097, true);
}

TEST_CASE("fast path: the kernel's lanes depend on the row width and the CPU only") {
    std::vector<std::byte> w(16);
    CHECK(decode_lanes(WeightView{w.data(), DType::BF16, 1, 2048}) == 8);
    CHECK(decode_lanes(WeightView{w.data(), DType::BF16, 1, 2559}) == 8);
    const int wide = decode_lanes(WeightView{w.data(), DType::BF16, 1, 2560});
    CHECK((wide == 8 || wide == 16));
    CHECK(decode_lanes(WeightView{w.data(), DType::F16, 7, 20000}) == wide);
    CHECK(decode_lanes(WeightView{w.data(), DType::F32, 100000, 2816}) == wide);
    MESSAGE("rows of 2560 values or more decode with " << wide << " lanes on this CPU");
}

TEST_CASE("fast path: a token's result does not depend on how many tokens share the call") {
    // T tokens at once (tiles of 1..4 tokens, fewer streams for larger tiles) against each token alone, bitwise, on
    // narrow and wide rows (8 and, with AVX-512, 16 lanes).
    for (DType dtype : {DType::BF16, DType::F16, DType::F32})
        for (auto [rows, cols] : {std::pair<int64_t, int64_t>{203, 1541}, {45, 4132}}) {
            CAPTURE(dtype_name(dtype));
            CAPTURE(cols);
            std::mt19937 rng(static_cast<uint32_t>(rows * 3 + cols));
            const std::vector<std::byte> w = random_weight(dtype, rows, cols, rng);
            const WeightView W{w.data(), dtype, rows, cols};
            const int T = 7;  // a tile of 4 tokens, then one of 3
            std::normal_distribution<float> dist(0.0f, 1.0f);
            std::vector<float> x(static_cast<size_t>(T * cols));
            for (float& v : x) v = dist(rng);
            std::vector<float> all(static_cast<size_t>(T * rows)), one(static_cast<size_t>(rows));
            matmul_small_t(all.data(), x.data(), W, T);
            int differ = 0;
            for (int t = 0; t < T; ++t) {
                matmul_small_t(one.data(), x.data() + int64_t(t) * cols, W, 1);
                for (int64_t r = 0; r < rows; ++r)
                    if (std::bit_cast<uint32_t>(one[size_t(r)]) != std::bit_cast<uint32_t>(all[size_t(t * rows + r)])) ++differ;
            }
            CHECK(differ == 0);
        }
}

TEST_CASE("fast path: decode reads a share as four streams; every row gets the same result wherever it falls") {
    // Large enough for many pieces per thread's share (each share cut into four or eight streams; odd row counts leave
    // rows over), then each row again as a 1-row matrix (the one-stream path): the additions are the same sequence, so
    // the floats are equal.
    for (DType dtype : {DType::F32, DType::BF16, DType::F16})
        for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1003, 200}, {4099, 1536}, {22, 20000}}) {
            CAPTURE(dtype_name(dtype));
            CAPTURE(rows);
            CAPTURE(cols);
            check_against_ref(dtype, 1, rows, cols);
            std::mt19937 rng(static_cast<uint32_t>(rows + cols));
            const std::vector<std::byte> w = random_weight(dtype, rows, cols, rng);
            std::normal_distribution<float> dist(0.0f, 1.0f);
            std::vector<float> x(static_cast<size_t>(cols));
            for (float& v : x) v = dist(rng);
            std::vector<float> all(static_cast<size_t>(rows)), one(1);
            matmul_small_t(all.data(), x.data(), WeightView{w.data(), dtype, rows, cols}, 1);
            int differ = 0;
            for (int64_t r = 0; r < rows; ++r) {
                matmul_small_t(one.data(), x.data(), WeightView{w.data() + r * cols * int64_t(dtype_size(dtype)), dtype, 1, cols}, 1);
                if (std::bit_cast<uint32_t>(one[0]) != std::bit_cast<uint32_t>(all[static_cast<size_t>(r)])) ++differ;
            }
            CHECK(differ == 0);
        }
}

TEST_CASE("fast path: a decode pass gives the same floats for any team size, and a smaller team than planned") {
    // matmul_small_t_group cuts the pass into one share per thread (omp_get_max_threads) and lets the threads take
    // pieces from each other's shares. 1, 2, 3 and 7 threads cut it differently; inside a parallel region (no nested
    // teams) one thread meets a plan for several and must take every piece itself. A row left out stays NaN.
    // Rows of 2816 values take the 16-lane kernel where the CPU has AVX-512 (eight streams, their rows rotated).
    for (const int64_t cols : {int64_t(1536), int64_t(2816)})
        for (const int T : {1, 3}) {
            CAPTURE(cols);
            CAPTURE(T);
            std::mt19937 rng(static_cast<uint32_t>(11 + cols + T));
            const RandomWeights weights({{DType::BF16, 901}, {DType::F32, 6}, {DType::BF16, 77}}, cols, rng);
            const std::vector<WeightView>& views = weights.views;
            std::normal_distribution<float> dist(0.0f, 1.0f);
            std::vector<float> x(static_cast<size_t>(T * cols));
            for (float& v : x) v = dist(rng);
            auto run = [&](std::vector<std::vector<float>>& outs_data) {
                std::vector<MatmulOut> outs;
                outs_data.clear();
                for (const WeightView& W : views) outs_data.emplace_back(static_cast<size_t>(T * W.rows), std::nanf(""));
                for (size_t i = 0; i < views.size(); ++i) outs.push_back({outs_data[i].data(), &views[i]});
                matmul_small_t_group(x.data(), T, outs);
            };
            const int saved = omp_get_max_threads();
            omp_set_num_threads(1);
            std::vector<std::vector<float>> one_thread, other;
            run(one_thread);
            std::vector<float> ref(static_cast<size_t>(T * views[0].rows));
            matmul_ref(ref.data(), x.data(), views[0], T);
            CHECK(nmse(one_thread[0], ref) < tolerance::kNmseBlasVsRef);
            auto differ = [&](const std::vector<std::vector<float>>& a) {
                int n = 0;
                for (size_t i = 0; i < a.size(); ++i)
                    for (size_t k = 0; k < a[i].size(); ++k)
                        if (std::bit_cast<uint32_t>(a[i][k]) != std::bit_cast<uint32_t>(one_thread[i][k])) ++n;
                return n;
            };
            for (const int threads : {2, 3, 7}) {
                CAPTURE(threads);
                omp_set_num_threads(threads);
                run(other);
                CHECK(differ(other) == 0);
#pragma omp parallel num_threads(2)
                {
#pragma omp single
                    run(other);  // a nested region: a team of one, planned for `threads`
                }
                CHECK(differ(other) == 0);
            }
            omp_set_num_threads(saved);
        }
}

TEST_CASE("fast path: a group of matmuls of one input gives bitwise what one matmul per weight gives") {
    // q, k, v-like weights of mixed dtypes and sizes (one large enough for full blocks, one of a few rows), as one
    // matmul_group call on the Blas backend (decode: one pass over all three; prefill: sgemm per weight) and on the
    // Ref backend (the default loop), against matmul on each weight alone.
    // 1041 columns: the 8-lane kernel; 4100: the 16-lane one where the CPU has AVX-512.
    for (const int64_t cols : {int64_t(1041), int64_t(4100)}) {
        CAPTURE(cols);
        std::mt19937 rng(7);
        const RandomWeights weights({{DType::BF16, 600}, {DType::F16, 5}, {DType::F32, 37}}, cols, rng);
        const std::vector<WeightView>& views = weights.views;
        std::normal_distribution<float> dist(0.0f, 1.0f);
        for (Backend* be : {&blas_backend(), &ref_backend()})
            for (int T : {1, 2, 3, 5, kBlasMinTokens, 40}) {
                CAPTURE(be->name());
                CAPTURE(T);
                std::vector<float> x(static_cast<size_t>(T * cols));
                for (float& v : x) v = dist(rng);
                std::vector<std::vector<float>> grouped, alone;
                std::vector<MatmulOut> outs;
                for (const WeightView& W : views) {
                    grouped.emplace_back(static_cast<size_t>(T * W.rows), std::nanf(""));
                    alone.emplace_back(static_cast<size_t>(T * W.rows), std::nanf(""));
                }
                for (size_t i = 0; i < views.size(); ++i) outs.push_back({grouped[i].data(), &views[i]});
                be->matmul_group(x.data(), T, outs);
                int differ = 0;
                for (size_t i = 0; i < views.size(); ++i) {
                    be->matmul(alone[i].data(), x.data(), views[i], T);
                    for (size_t k = 0; k < alone[i].size(); ++k)
                        if (std::bit_cast<uint32_t>(alone[i][k]) != std::bit_cast<uint32_t>(grouped[i][k])) ++differ;
                }
                CHECK(differ == 0);
                std::vector<float> ref(static_cast<size_t>(T * views[0].rows));
                matmul_ref(ref.data(), x.data(), views[0], T);
                CHECK(nmse(grouped[0], ref) < tolerance::kNmseBlasVsRef);
            }
    }
    const int64_t cols = 1041;
    std::mt19937 rng(7);
    const std::vector<std::byte> q_bytes = random_weight(DType::BF16, 600, cols, rng);
    const WeightView q{q_bytes.data(), DType::BF16, 600, cols};
    std::vector<float> x(static_cast<size_t>(cols), 1.0f), out(static_cast<size_t>(q.rows));
    const std::vector<std::byte> q8(static_cast<size_t>(q.rows * cols));
    const WeightView bad{q8.data(), DType::I8, q.rows, cols};
    const MatmulOut with_bad[] = {{out.data(), &q}, {out.data(), &bad}};
    CHECK_THROWS_WITH_AS(matmul_group_blas(x.data(), 1, with_bad), doctest::Contains("not supported"), Error);
}

TEST_CASE("fast path: the vectorised gelu ops agree with gelu_tanh") {
    // A dense grid over the range where gelu changes, plus wide and special values, at lengths that leave every tail.
    std::vector<float> a, b;
    for (float v = -12.0f; v <= 12.0f; v += 1.0f / 256) a.push_back(v);
    for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-8f, -1e-8f, 30.0f, -30.0f, 100.0f, -100.0f, 3e38f, -3e38f})
        a.push_back(v);
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 3.0f);
    for (size_t i = 0; i < a.size(); ++i) b.push_back(dist(rng));
    for (size_t n : {a.size(), size_t(1), size_t(7), size_t(9), size_t(70000)}) {
        CAPTURE(n);
        std::vector<float> x(n), y(n);
        for (size_t i = 0; i < n; ++i) {
            x[i] = a[i % a.size()];
            y[i] = b[i % b.size()];
        }
        std::vector<float> ref(n), ref_mul(n), fast = x, fast_mul(n);
        for (size_t i = 0; i < n; ++i) {
            ref[i] = gelu_tanh(x[i]);
            ref_mul[i] = gelu_tanh(x[i]) * y[i];
        }
        gelu_tanh_fast(fast.data(), int64_t(n));
        gelu_mul_fast(fast_mul.data(), x.data(), y.data(), int64_t(n));
        // The reference's 1 + tanh(u) loses digits where tanh(u) is near −1; the bound allows for that (|x|·1e-6).
        int bad = 0;
        for (size_t i = 0; i < n; ++i) {
            const double tol = 1e-6 * (std::fabs(double(x[i])) + std::fabs(double(ref[i])));
            if (!(std::fabs(double(fast[i]) - ref[i]) <= tol)) ++bad;
            if (std::isinf(ref_mul[i]) ? fast_mul[i] != ref_mul[i]  // 3e38 · y overflows in both
                                       : !(std::fabs(double(fast_mul[i]) - ref_mul[i]) <= tol * std::fabs(double(y[i])) + 1e-30))
                ++bad;
        }
        CHECK(bad == 0);
        CHECK(nmse(fast, ref) < tolerance::kNmseBlasVsRef);
    }
    // Infinities and NaN behave as the formula does: gelu(+inf) = +inf; NaN stays NaN.
    std::vector<float> special = {std::numeric_limits<float>::infinity(), std::nanf("")};
    gelu_tanh_fast(special.data(), 2);
    CHECK(special[0] == std::numeric_limits<float>::infinity());
    CHECK(std::isnan(special[1]));
    // gelu_mul_halves_fast on fused [gate | up] rows, in place as the MoE experts call it.
    const int rows = 3, I = 13;
    std::vector<float> gu(size_t(rows) * 2 * I), want(size_t(rows) * I);
    for (float& v : gu) v = dist(rng);
    for (int r = 0; r < rows; ++r)
        for (int i = 0; i < I; ++i) want[size_t(r) * I + i] = gelu_tanh(gu[size_t(r) * 2 * I + i]) * gu[size_t(r) * 2 * I + I + i];
    gelu_mul_halves_fast(gu.data(), gu.data(), rows, I);
    gu.resize(want.size());
    CHECK(nmse(gu, want) < 1e-12);
}

TEST_CASE("fast path: the vectorised soft-cap agrees with soft_cap") {
    // Both sides of the series/exp switch at |x/c| = 1/8, the saturated ends, and lengths with tails and a split.
    for (float cap : {30.0f, 50.0f})
        for (size_t n : {size_t(5), size_t(13), size_t(100003)}) {
            CAPTURE(cap);
            CAPTURE(n);
            std::vector<float> x(n);
            for (size_t i = 0; i < n; ++i) x[i] = (float(i % 4001) - 2000.0f) / 2000.0f * 4.0f * cap;  // −4c .. 4c
            if (n > 8) {
                x[0] = 0.0f;
                x[1] = cap / 8;
                x[2] = std::nextafter(cap / 8, 0.0f);
                x[3] = -cap / 8;
                x[4] = 1e-20f;
                x[5] = 1e4f;
                x[6] = -1e4f;
            }
            std::vector<float> ref = x, fast = x;
            soft_cap(ref.data(), int64_t(n), cap);
            soft_cap_fast(fast.data(), int64_t(n), cap);
            int bad = 0;
            for (size_t i = 0; i < n; ++i)
                if (!(std::fabs(double(fast[i]) - ref[i]) <= 4e-7 * std::fabs(double(ref[i])) + 1e-7 * cap * 1e-2)) ++bad;
            CHECK(bad == 0);
            CHECK(nmse(fast, ref) < 1e-12);
        }
}

TEST_CASE("fast path: prefill (T >= kBlasMinTokens) equals matmul_ref, all dtypes, odd shapes") {
    for (DType dtype : {DType::F32, DType::BF16, DType::F16})
        for (int T : {32, 33, 70})
            for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 3}, {19, 67}, {130, 513}})
                check_against_ref(dtype, T, rows, cols);
    check_against_ref(DType::BF16, 40, 3000, 1500);  // more than one conversion block
    check_against_ref(DType::F32, 33, 37, 301, true);
}

// attention_blas (two sgemms per head and block of queries, mask evaluated once per block) against ops.cpp's
// attention loop: GQA, full and sliding layers, prompts longer than one query block, a decode step against a long
// cache, queries that see nothing, and image blocks under every mask rule; with and without the weights output.
namespace {
void check_attention(int T, int S, int H, int Hkv, int Dh, int window, bool images, ImageMask rule, bool with_weights,
                     int64_t q_start, bool all_masked = false) {
    CAPTURE(T);
    CAPTURE(S);
    CAPTURE(H);
    CAPTURE(Hkv);
    CAPTURE(Dh);
    CAPTURE(window);
    CAPTURE(images);
    CAPTURE(static_cast<int>(rule));
    CAPTURE(with_weights);
    std::mt19937 rng(static_cast<uint32_t>(T * 7 + S * 13 + window + (images ? 1000 : 0)));
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> q(size_t(T) * H * Dh), k(size_t(S) * Hkv * Dh), v(k.size());
    for (float& x : q) x = dist(rng);
    for (float& x : k) x = dist(rng);
    for (float& x : v) x = dist(rng);
    std::vector<int64_t> q_pos(T), k_pos(S);
    for (int s = 0; s < S; ++s) k_pos[s] = s;
    for (int t = 0; t < T; ++t) q_pos[t] = all_masked ? -1 : q_start + t;  // position −1: before every key
    std::vector<int32_t> q_block(T, -1), k_block(S, -1);
    if (images)  // one image of 40 soft tokens starting at key 10
        for (int s = 10; s < std::min(S, 50); ++s) {
            k_block[s] = 0;
            if (s - q_start >= 0 && s - q_start < T) q_block[s - q_start] = 0;
        }
    const AttentionShape sh{T, S, H, Hkv, Dh, window};
    std::vector<float> ref(size_t(T) * H * Dh), fast(ref.size(), std::nanf(""));
    std::vector<float> ref_w(with_weights ? size_t(H) * T * S : 0), fast_w(ref_w.size(), std::nanf(""));
    const int32_t* qb = images ? q_block.data() : nullptr;
    const int32_t* kb = images ? k_block.data() : nullptr;
    attention(ref.data(), with_weights ? ref_w.data() : nullptr, q.data(), k.data(), v.data(), q_pos.data(), k_pos.data(), qb, kb,
              rule, sh);
    attention_blas(fast.data(), with_weights ? fast_w.data() : nullptr, q.data(), k.data(), v.data(), q_pos.data(), k_pos.data(),
                   qb, kb, rule, sh);
    if (all_masked) {
        for (float x : fast) REQUIRE(x == 0.0f);
        for (float x : fast_w) REQUIRE(x == 0.0f);
        return;
    }
    CHECK(nmse(fast, ref) < tolerance::kNmseBlasVsRef);
    if (with_weights) {
        CHECK(nmse(fast_w, ref_w) < tolerance::kNmseBlasVsRef);
        int moved = 0;  // masked entries must be exactly 0 in both
        for (size_t i = 0; i < ref_w.size(); ++i) moved += (ref_w[i] == 0.0f) != (fast_w[i] == 0.0f);
        CHECK(moved == 0);
    }
}
}  // namespace

TEST_CASE("fast path: attention_blas equals the attention loop") {
    for (int window : {0, 16, 512}) {
        check_attention(200, 200, 8, 2, 64, window, false, ImageMask::transformers, true, 0);  // prompt over two query blocks
        check_attention(1, 300, 8, 1, 256, window, false, ImageMask::transformers, true, 299);  // decode step, long cache
        check_attention(7, 40, 4, 4, 16, window, false, ImageMask::transformers, false, 33);    // chunk after a cache
    }
    for (ImageMask rule : {ImageMask::transformers, ImageMask::transformers_0246b4f, ImageMask::transformers_c308a309,
                           ImageMask::jax, ImageMask::causal})
        for (int window : {0, 8}) check_attention(70, 70, 4, 2, 32, window, true, rule, true, 0);
    check_attention(5, 20, 2, 1, 8, 0, false, ImageMask::transformers, true, 0, /*all_masked=*/true);
}

// moe_experts_blas (experts in parallel, each result in its (token, choice) slot, summed per token in ascending
// expert order) against Backend::moe_experts's loop on the reference backend: a prompt, a prompt longer than one
// token chunk, and a routing that leaves most experts idle.
namespace {
void check_moe(int T, int D, int E, int K, int I, int experts_used) {
    CAPTURE(T);
    CAPTURE(E);
    CAPTURE(K);
    CAPTURE(experts_used);
    std::mt19937 rng(static_cast<uint32_t>(T * 31 + E));
    std::vector<std::byte> gate_up_bytes = random_weight(DType::BF16, int64_t(E) * 2 * I, D, rng);
    std::vector<std::byte> down_bytes = random_weight(DType::BF16, int64_t(E) * D, I, rng);
    TensorRef gate_up{"experts.gate_up_proj", DType::BF16, {E, 2 * I, D}, gate_up_bytes.data(), gate_up_bytes.size() - 1, "test"};
    TensorRef down{"experts.down_proj", DType::BF16, {E, D, I}, down_bytes.data(), down_bytes.size() - 1, "test"};
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> x(size_t(T) * D);
    for (float& v : x) v = dist(rng);
    std::vector<int32_t> ids(size_t(T) * K);
    std::vector<float> weights(ids.size());
    for (int t = 0; t < T; ++t) {
        std::vector<int32_t> pool(experts_used);
        for (int e = 0; e < experts_used; ++e) pool[e] = (e * 7) % E;  // a fixed subset of the experts
        std::shuffle(pool.begin(), pool.end(), rng);
        for (int j = 0; j < K; ++j) {
            ids[size_t(t) * K + j] = pool[j];
            weights[size_t(t) * K + j] = 0.1f + 0.1f * float(j);
        }
    }
    std::vector<float> scratch_u(size_t(T) * D), scratch_gu(size_t(T) * 2 * I), scratch_h(size_t(T) * I), scratch_y(size_t(T) * D);
    MoeExpertsShape s{T, D, E, K, I, &gate_up, &down, scratch_u.data(), scratch_gu.data(), scratch_h.data(), scratch_y.data()};
    std::vector<float> ref(size_t(T) * D, std::nanf("")), fast(ref.size(), std::nanf(""));
    ref_backend().moe_experts(ref.data(), x.data(), ids.data(), weights.data(), s);
    moe_experts_blas(fast.data(), x.data(), ids.data(), weights.data(), s);
    CHECK(nmse(fast, ref) < tolerance::kNmseBlasVsRef);
    if (T < kBlasMinTokens) {
        // Decode: the same loop with BlasBackend's matmuls (each split across the threads) gives the very same
        // floats, since a streamed row's sum does not depend on how the rows are shared out and the K outputs are
        // added in the same order. (Prompts go through sgemm, whose blocking depends on the row count.)
        std::vector<float> loop_blas(ref.size(), std::nanf(""));
        blas_backend().Backend::moe_experts(loop_blas.data(), x.data(), ids.data(), weights.data(), s);
        CHECK(std::memcmp(loop_blas.data(), fast.data(), fast.size() * sizeof(float)) == 0);
    }
    // Out-of-range expert ids are an error, not a crash.
    ids[0] = E;
    CHECK_THROWS_WITH_AS(moe_experts_blas(fast.data(), x.data(), ids.data(), weights.data(), s), doctest::Contains("expert"), Error);
}
}  // namespace

TEST_CASE("fast path: moe_experts_blas equals the expert loop") {
    check_moe(40, 64, 16, 4, 24, 16);     // a prompt: every expert used, some above and some below kBlasMinTokens rows
    check_moe(1100, 16, 8, 2, 8, 8);      // longer than one token chunk (1024)
    check_moe(33, 48, 128, 8, 16, 9);     // 128 experts, only 9 of them chosen
    check_moe(1, 64, 128, 8, 24, 128);    // a decoded token: its 8 experts shared out over the threads
    check_moe(3, 40, 32, 8, 20, 32);      // a few tokens (speculative or a short prompt)
}
