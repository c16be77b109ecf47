// test_ops_bf16.cpp — bf16 activations (ops_bf16.cpp, the opt-in `--backend bf16`): the rounding itself; every fast
// path with Activations::BF16 against the reference loop on the rounded input (same products, float32 sums in another
// order); the vdpbf16ps kernel where the CPU has it (and a clear error where it has not); the MoE experts; and whole
// forwards of the bundled bf16 demo models against the reference backend, within kNmseBf16VsRef.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backend.h"
#include "checkpoint.h"
#include "compare.h"
#include "dtype.h"
#include "error.h"
#include "ops.h"
#include "safetensors.h"
#include "test_util.h"
#include "tolerances.h"
#include "trace.h"

using namespace gemma4;
using gemma4::test::nmse;

namespace {

std::vector<float> rounded(const std::vector<float>& x) {
    std::vector<float> r(x.size());
    round_to_bf16(r.data(), x.data(), int64_t(x.size()));
    return r;
}

// bf16 weight bytes, values ~N(0, 0.05), one spare byte so that a view can start at an odd address.
std::vector<std::byte> bf16_weight(int64_t rows, int64_t cols, std::mt19937& rng) {
    std::normal_distribution<float> dist(0.0f, 0.05f);
    std::vector<std::byte> bytes(static_cast<size_t>(rows * cols * 2) + 1);
    for (int64_t i = 0; i < rows * cols; ++i) {
        const uint16_t b = f32_to_bf16(dist(rng));
        std::memcpy(bytes.data() + 2 * i, &b, 2);
    }
    return bytes;
}

std::vector<float> random_x(int T, int64_t cols, std::mt19937& rng) {
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(T * cols));
    for (float& v : x) v = dist(rng);
    return x;
}

// Whether the CPU has AVX512-BF16, whatever the switch; the switch is restored when the guard goes.
class Bf16DotSwitch {
public:
    Bf16DotSwitch() : was_(have_bf16_dot()) {
        set_bf16_dot_enabled(true);
        cpu_ = have_bf16_dot();
    }
    ~Bf16DotSwitch() { set_bf16_dot_enabled(was_); }
    bool cpu_has() const { return cpu_; }

private:
    bool was_, cpu_ = false;
};

}  // namespace

TEST_CASE("bf16 activations: round_to_bf16 rounds to nearest even and keeps inf and NaN") {
    const float in[] = {1.0f, 1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-20f, -1.5f, 0.0f, -0.0f,
                        std::numeric_limits<float>::infinity(), 3.4e38f};
    const float want[] = {1.0f, 1.0f, 1.0f + 4 * 0x1p-8f, 1.0f + 0x1p-7f, -1.5f, 0.0f, -0.0f,
                          std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity()};
    float out[std::size(in)];
    round_to_bf16(out, in, std::ssize(in));
    for (size_t i = 0; i < std::size(in); ++i) {
        CAPTURE(i);
        CHECK(std::bit_cast<uint32_t>(out[i]) == std::bit_cast<uint32_t>(want[i]));
    }
    const float nan = std::nanf("");
    round_to_bf16(out, &nan, 1);
    CHECK(std::isnan(out[0]));
    // Every result is a bf16 (low 16 bits zero) within half a bf16 step of its input; in place works too.
    std::mt19937 rng(5);
    std::vector<float> x = random_x(1, 100000, rng), r = x;
    round_to_bf16(r.data(), r.data(), int64_t(r.size()));
    for (size_t i = 0; i < x.size(); ++i) {
        REQUIRE((std::bit_cast<uint32_t>(r[i]) & 0xffffu) == 0u);
        REQUIRE(std::abs(r[i] - x[i]) <= std::abs(x[i]) * 0x1p-8f);
    }
}

TEST_CASE("bf16 activations: every fast path equals the reference loop on the rounded input") {
    Bf16DotSwitch dot;
    // With AVX512-BF16 both paths for prompts: vdpbf16ps, then the rounded input through sgemm.
    for (const bool use_dot : dot.cpu_has() ? std::vector<bool>{true, false} : std::vector<bool>{false}) {
    set_bf16_dot_enabled(use_dot);
    CAPTURE(use_dot);
    std::mt19937 rng(21);
    struct Shape {
        int64_t rows, cols;
    };
    for (const Shape sh : {Shape{13, 77}, Shape{50, 1000}, Shape{7, 32}, Shape{130, 64}, Shape{301, 33}}) {
        std::vector<std::byte> bytes = bf16_weight(sh.rows, sh.cols, rng);
        for (const bool misaligned : {false, true}) {
            if (misaligned) std::memmove(bytes.data() + 1, bytes.data(), bytes.size() - 1);
            const WeightView W{bytes.data() + (misaligned ? 1 : 0), DType::BF16, sh.rows, sh.cols};
            for (const int T : {1, 3, 17, 31, 32, 33, 70}) {
                CAPTURE(sh.rows);
                CAPTURE(sh.cols);
                CAPTURE(misaligned);
                CAPTURE(T);
                const std::vector<float> x = random_x(T, sh.cols, rng);
                std::vector<float> fast(static_cast<size_t>(T * sh.rows), std::nanf("")), ref(fast.size()), exact(fast.size());
                matmul_blas(fast.data(), x.data(), W, T, Activations::BF16);
                matmul_ref(ref.data(), rounded(x).data(), W, T);
                matmul_ref(exact.data(), x.data(), W, T);
                CHECK(nmse(fast, ref) < tolerance::kNmseBlasVsRef);
                // ... and the rounding did happen: against the unrounded input it is off by bf16's precision.
                const double off = nmse(fast, exact);
                CHECK(off > 1e-8);
                CHECK(off < 1e-4);
            }
        }
    }
    }
}

TEST_CASE("bf16 activations: weights that are not bf16 multiply the input as it is") {
    std::mt19937 rng(3);
    const int64_t rows = 20, cols = 40;
    std::vector<float> w = random_x(1, rows * cols, rng);
    const WeightView W{reinterpret_cast<const std::byte*>(w.data()), DType::F32, rows, cols};
    for (const int T : {1, 40}) {
        const std::vector<float> x = random_x(T, cols, rng);
        std::vector<float> a(static_cast<size_t>(T * rows)), b(a.size());
        matmul_blas(a.data(), x.data(), W, T, Activations::BF16);
        matmul_blas(b.data(), x.data(), W, T, Activations::F32);
        CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("bf16 activations: the vdpbf16ps kernel, threaded and in one thread, or a clear error without it") {
    std::mt19937 rng(8);
    const int64_t rows = 97, cols = 190;
    std::vector<std::byte> bytes = bf16_weight(rows, cols, rng);
    const WeightView W{bytes.data(), DType::BF16, rows, cols};
    const int T = 45;
    const std::vector<float> x = random_x(T, cols, rng);
    std::vector<float> threaded(static_cast<size_t>(T * rows), std::nanf("")), one(threaded.size(), std::nanf("")), ref(threaded.size());
    if (!Bf16DotSwitch().cpu_has()) {
        CHECK_THROWS_WITH_AS(matmul_bf16_dot(threaded.data(), x.data(), W, T), doctest::Contains("AVX512-BF16"), Error);
        return;
    }
    matmul_bf16_dot(threaded.data(), x.data(), W, T);
    matmul_bf16_dot(one.data(), x.data(), W, T, /*one_thread=*/true);
    matmul_ref(ref.data(), rounded(x).data(), W, T);
    CHECK(nmse(threaded, ref) < tolerance::kNmseBlasVsRef);
    // Every output is one dot product in the same order whatever tile or thread computes it: bitwise the same.
    CHECK(std::memcmp(threaded.data(), one.data(), one.size() * sizeof(float)) == 0);
    // Only bf16 weights.
    std::vector<float> w32(static_cast<size_t>(rows * cols), 0.5f);
    const WeightView W32{reinterpret_cast<const std::byte*>(w32.data()), DType::F32, rows, cols};
    CHECK_THROWS_WITH_AS(matmul_bf16_dot(threaded.data(), x.data(), W32, T), doctest::Contains("F32"), Error);
}

TEST_CASE("bf16 activations: a decoded token, streamed with vdpbf16ps, is bitwise that token in a prompt's tiles") {
    Bf16DotSwitch dot;
    std::mt19937 rng(31);
    if (!dot.cpu_has()) {
        std::vector<std::byte> bytes = bf16_weight(4, 64, rng);
        const std::vector<uint16_t> xb(64, 0);
        std::vector<float> out(4);
        CHECK_THROWS_WITH_AS(bf16_stream_rows(out.data(), xb.data(), WeightView{bytes.data(), DType::BF16, 4, 64}, 1, {0, 4}),
                             doctest::Contains("AVX512-BF16"), Error);
        return;
    }
    struct Shape {
        int64_t rows, cols;
    };
    // Rows that leave some over after the four streams; widths below one step (31), with a masked last step (1541,
    // 4100) and of whole steps (96, 12288).
    for (const Shape sh : {Shape{37, 1541}, Shape{9, 4100}, Shape{64, 96}, Shape{6, 31}, Shape{21, 12288}}) {
        std::vector<std::byte> bytes = bf16_weight(sh.rows, sh.cols, rng);
        for (const bool misaligned : {false, true}) {
            if (misaligned) std::memmove(bytes.data() + 1, bytes.data(), bytes.size() - 1);
            const WeightView W{bytes.data() + (misaligned ? 1 : 0), DType::BF16, sh.rows, sh.cols};
            // A prompt long enough for the tiles (matmul_bf16_dot); its first T tokens decoded as one call.
            const int prompt_T = kBf16DotMinTokens + 1;
            const std::vector<float> prompt_x = random_x(prompt_T, sh.cols, rng);
            std::vector<float> tiles(static_cast<size_t>(prompt_T * sh.rows), std::nanf(""));
            matmul_bf16_dot(tiles.data(), prompt_x.data(), W, prompt_T);
            for (const int T : {1, 2, 3, 5, 7}) {
                CAPTURE(sh.rows);
                CAPTURE(sh.cols);
                CAPTURE(misaligned);
                CAPTURE(T);
                std::vector<float> streamed(static_cast<size_t>(T * sh.rows), std::nanf("")), ref(streamed.size());
                matmul_blas(streamed.data(), prompt_x.data(), W, T, Activations::BF16);
                CHECK(std::memcmp(streamed.data(), tiles.data(), streamed.size() * sizeof(float)) == 0);
                const std::vector<float> x(prompt_x.begin(), prompt_x.begin() + int64_t(T) * sh.cols);
                matmul_ref(ref.data(), rounded(x).data(), W, T);
                CHECK(nmse(streamed, ref) < tolerance::kNmseBlasVsRef);
            }
            // Any run of rows, in the calling thread, from bits converted once: whole, or piece by piece in any order
            // (the last piece takes the rows the four streams leave over).
            std::vector<uint16_t> xb(static_cast<size_t>(sh.cols));
            to_bf16_bits(xb.data(), prompt_x.data(), sh.cols);
            std::vector<float> part(static_cast<size_t>(sh.rows), std::nanf(""));
            const int64_t mid = sh.rows / 3;
            bf16_stream_rows(part.data(), xb.data(), W, 1, {0, mid});
            for (const int64_t piece : {2, 0, 1}) bf16_stream_rows(part.data(), xb.data(), W, 1, {mid, sh.rows, piece, 3});
            CHECK(std::memcmp(part.data(), tiles.data(), part.size() * sizeof(float)) == 0);
        }
    }
    // The streamed form is for bf16 weights only.
    std::vector<float> w32(64, 0.5f);
    const std::vector<uint16_t> xb(64, 0);
    std::vector<float> out(1);
    CHECK_THROWS_WITH_AS(bf16_stream_rows(out.data(), xb.data(), WeightView{reinterpret_cast<const std::byte*>(w32.data()), DType::F32, 1, 64}, 1, {0, 1}),
                         doctest::Contains("F32"), Error);
}

TEST_CASE("bf16 activations: a group of weights sharing the input equals one matmul per weight") {
    std::mt19937 rng(13);
    const int64_t cols = 96;
    std::vector<std::byte> qb = bf16_weight(64, cols, rng), kb = bf16_weight(16, cols, rng), vb = bf16_weight(16, cols, rng);
    const WeightView Wq{qb.data(), DType::BF16, 64, cols}, Wk{kb.data(), DType::BF16, 16, cols}, Wv{vb.data(), DType::BF16, 16, cols};
    for (const int T : {1, 2, 7, 8, 9, 31, 40}) {  // around kBf16DotMinTokens and kBlasMinTokens
        CAPTURE(T);
        const std::vector<float> x = random_x(T, cols, rng);
        std::vector<float> q(size_t(T) * 64), k(size_t(T) * 16), v(size_t(T) * 16);
        const MatmulOut outs[] = {{q.data(), &Wq}, {k.data(), &Wk}, {v.data(), &Wv}};
        matmul_group_blas(x.data(), T, outs, Activations::BF16);
        for (const MatmulOut& o : outs) {
            std::vector<float> one(size_t(T) * o.W->rows);
            matmul_blas(one.data(), x.data(), *o.W, T, Activations::BF16);
            CHECK(std::memcmp(one.data(), o.out, one.size() * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("bf16 activations: the MoE experts in parallel equal the expert loop of the bf16 backend") {
    for (const int T : {1, 3, 40}) {
        CAPTURE(T);
        const int D = 64, E = 16, K = 4, I = 24;
        std::mt19937 rng(static_cast<uint32_t>(T));
        std::vector<std::byte> gate_up_bytes = bf16_weight(int64_t(E) * 2 * I, D, rng), down_bytes = bf16_weight(int64_t(E) * D, I, rng);
        TensorRef gate_up{"experts.gate_up_proj", DType::BF16, {E, 2 * I, D}, gate_up_bytes.data(), gate_up_bytes.size() - 1, "test"};
        TensorRef down{"experts.down_proj", DType::BF16, {E, D, I}, down_bytes.data(), down_bytes.size() - 1, "test"};
        const std::vector<float> x = random_x(T, D, rng);
        std::vector<int32_t> ids(size_t(T) * K);
        std::vector<float> weights(ids.size());
        for (int t = 0; t < T; ++t)
            for (int j = 0; j < K; ++j) {
                ids[size_t(t) * K + j] = (t * 5 + j * 3) % E;
                weights[size_t(t) * K + j] = 0.2f + 0.1f * float(j);
            }
        std::vector<float> su(size_t(T) * D), sgu(size_t(T) * 2 * I), sh(size_t(T) * I), sy(size_t(T) * D);
        MoeExpertsShape s{T, D, E, K, I, &gate_up, &down, su.data(), sgu.data(), sh.data(), sy.data()};
        std::vector<float> fast(size_t(T) * D, std::nanf("")), loop(fast.size(), std::nanf("")), f32(fast.size(), std::nanf(""));
        Bf16Backend bf16;
        bf16.moe_experts(fast.data(), x.data(), ids.data(), weights.data(), s);
        bf16.Backend::moe_experts(loop.data(), x.data(), ids.data(), weights.data(), s);
        ref_backend().moe_experts(f32.data(), x.data(), ids.data(), weights.data(), s);
        CHECK(nmse(fast, loop) < tolerance::kNmseBlasVsRef);
        const double off = nmse(fast, f32);
        CHECK(off > 1e-8);  // both matmuls' inputs were rounded
        CHECK(off < 1e-4);
    }
}

TEST_CASE("bf16 backend: whole forwards of the bf16 demo models stay within kNmseBf16VsRef of the reference") {
    G4_SKIP_WITHOUT_PROBES();
    for (const std::string model : {"demo-e2b-mini", "demo-moe-mini"}) {
        CAPTURE(model);
        Checkpoint ck = Checkpoint::open(model);
        std::mt19937 rng(17);
        TextInput input;
        input.tokens = {2};
        while (input.tokens.size() < 40) input.tokens.push_back(static_cast<int32_t>(7 + rng() % (ck.config.text.vocab_size - 7)));
        auto run = [&](Backend& backend) {
            ForwardOptions opts;
            opts.backend = &backend;
            return trace_forward(ck, input, {"text.*"}, opts);
        };
        Bf16Backend bf16;
        Bf16DotSwitch dot;
        const std::vector<NpyArray> ref = run(ref_backend()), ours = run(bf16);
        if (dot.cpu_has()) {
            // The float32 path on this same CPU is within the tolerance too. The two paths differ by more than float32
            // summation order would suggest (NMSE ~3e-6): an output that moves by one float32 ulp can round the next
            // matmul's input to the neighbouring bf16, 2^-8 away, and such flips compound through the layers.
            set_bf16_dot_enabled(false);
            const std::vector<NpyArray> f32_path = run(bf16);
            set_bf16_dot_enabled(true);
            const TraceDiff paths = compare_traces(f32_path, ref, tolerance::kNmseBf16VsRef);
            CHECK(paths.probes.size() == ref.size());
            if (paths.any_over()) FAIL_CHECK("float32 path: first probe over: " << paths.probes[paths.first_over].name);
            double between = 0;
            for (const ProbeDiff& d : compare_traces(f32_path, ours, tolerance::kNmseBf16VsRef).probes) between = std::max(between, d.nmse);
            MESSAGE(model << ": vdpbf16ps against the float32 path, largest NMSE " << between);
        }
        const TraceDiff diff = compare_traces(ours, ref, tolerance::kNmseBf16VsRef);
        CHECK(diff.probes.size() == ref.size());
        double worst = 0;
        std::string worst_name;
        for (const ProbeDiff& d : diff.probes)
            if (d.nmse > worst) worst = d.nmse, worst_name = d.name;
        if (diff.any_over()) FAIL_CHECK("first probe over: " << diff.probes[diff.first_over].name << " NMSE " << diff.probes[diff.first_over].nmse);
        CHECK(worst > tolerance::kNmseBlasVsRef);  // the rounding shows: this is not the reference's arithmetic
        MESSAGE(model << ": " << diff.probes.size() << " probes, largest NMSE " << worst << " (" << worst_name << ")");
    }
}
