// test_kernels_audio.cpp — the audio Conformer's kernels (kernels/audio.cl through cl_ops_audio.h) against their
// reference ops (reference/ops.h: causal_dwconv, conv2d_subsample, audio_attention), in the manner of
// test_kernels.cpp: odd and aligned shapes (the real E2B audio tower's and the tiny checkpoint's among them),
// fixed-seed random inputs, NMSE ≤ kNmseOpenClVsRef, NaN/Inf a failure, the first mismatches printed, one MESSAGE row
// per op × shape. GEMMA4_TEST_OPS=audio_attention,... runs only those ops. With no OpenCL device the tests say
// "skipped" and pass.
#include <doctest/doctest.h>

#ifdef GEMMA4_HAVE_OPENCL

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "cl_ops_audio.h"
#include "kernel_check.h"
#include "cl_runtime.h"
#include "compare.h"
#include "error.h"
#include "ops.h"
#include "tolerances.h"

using namespace gemma4;
using namespace gemma4::cl;
using namespace gemma4::cl::kcheck;

namespace {

// A validity mask of n flags: the last `pad` are 0 (padding at the end of the clip), and every `hole`-th before that
// too when hole > 0.
std::vector<uint8_t> valid_mask(int n, int pad, int hole = 0) {
    std::vector<uint8_t> m(static_cast<size_t>(n), 1);
    for (int i = 0; i < n; ++i)
        if (i >= n - pad || (hole > 0 && i % hole == hole - 1)) m[size_t(i)] = 0;
    return m;
}

}  // namespace

TEST_CASE("cl kernels: causal_dwconv (K taps over time, zeros on the left) against causal_dwconv") {
    ClContext* cl = begin_op("causal_dwconv");
    if (!cl) return;
    uint32_t seed = 2000;
    // (T, C, K): single step, K > T, odd widths, the tiny checkpoint (Da 32) and the real tower (Da 1024, K 5).
    for (const auto& [T, C, K] : {std::tuple{1, 1, 1}, std::tuple{3, 8, 5}, std::tuple{7, 33, 5}, std::tuple{13, 32, 5},
                                  std::tuple{301, 17, 3}, std::tuple{75, 1024, 5}, std::tuple{188, 1024, 5}}) {
        const std::vector<float> x = random_vector(size_t(T) * C, seed++, 2.0f);
        const std::vector<float> w = random_vector(size_t(C) * K, seed++);
        std::vector<float> ref(x.size()), got(x.size(), -1.0f);
        causal_dwconv(ref.data(), x.data(), w.data(), T, C, K);
        cl_causal_dwconv(*cl, got.data(), x.data(), w.data(), T, C, K);
        check("causal_dwconv", shape_text({{"T", T}, {"C", C}, {"K", K}}), got, ref);
    }
    std::vector<float> one(1, 0.0f);
    CHECK_THROWS_AS(cl_causal_dwconv(*cl, one.data(), one.data(), one.data(), 1, 1, 0), Error);
}

TEST_CASE("cl kernels: conv2d_subsample (3x3 stride 2, masked rows, LayerNorm, ReLU) against conv2d_subsample") {
    ClContext* cl = begin_op("conv2d_subsample");
    if (!cl) return;
    uint32_t seed = 2100;
    const float eps = 1e-6f;
    struct Case {
        int T, F, Cin, Cout, pad, hole;
    };
    // Odd sizes (T, F odd and even, Cout below, at and above the 64 lanes), then the towers' stages: the tiny
    // checkpoint (channels [128, 8]) and the real one ([128, 32]) on 128 mel bins, 301 frames with padding at the end.
    for (const Case& c : {Case{1, 1, 1, 1, 0, 0}, Case{2, 3, 1, 5, 1, 0}, Case{7, 9, 3, 5, 2, 3}, Case{13, 31, 2, 33, 0, 4},
                          Case{11, 20, 4, 100, 3, 0}, Case{8, 16, 16, 64, 0, 0}, Case{301, 128, 1, 128, 21, 0},
                          Case{151, 64, 128, 8, 11, 0}, Case{151, 64, 128, 32, 11, 0}}) {
        const int T2 = (c.T - 1) / 2 + 1, F2 = (c.F - 1) / 2 + 1;
        const std::vector<float> x = random_vector(size_t(c.T) * c.F * c.Cin, seed++, 2.0f);
        const std::vector<float> w = random_vector(size_t(c.Cout) * c.Cin * 9, seed++, 0.5f);
        std::vector<float> norm_w = random_vector(size_t(c.Cout), seed++, 0.5f);
        for (float& v : norm_w) v += 1.0f;
        const std::vector<uint8_t> valid = valid_mask(c.T, c.pad, c.hole);
        std::vector<float> ref(size_t(T2) * F2 * c.Cout), got(ref.size(), -1.0f);
        conv2d_subsample(ref.data(), x.data(), valid.data(), c.T, c.F, c.Cin, c.Cout, w.data(), norm_w.data(), eps);
        cl_conv2d_subsample(*cl, got.data(), x.data(), valid.data(), c.T, c.F, c.Cin, c.Cout, w.data(), norm_w.data(), eps);
        check("conv2d_subsample",
              shape_text({{"T", c.T}, {"F", c.F}, {"Cin", c.Cin}, {"Cout", c.Cout}, {"pad", c.pad}, {"hole", c.hole}}), got, ref);
    }
    // row_valid == nullptr reads every row as valid.
    {
        const int T = 9, F = 10, Cin = 3, Cout = 12;
        const std::vector<float> x = random_vector(size_t(T) * F * Cin, seed++);
        const std::vector<float> w = random_vector(size_t(Cout) * Cin * 9, seed++);
        const std::vector<float> norm_w = random_vector(size_t(Cout), seed++);
        const std::vector<uint8_t> all(size_t(T), 1);
        std::vector<float> ref(size_t(5) * 5 * Cout), got(ref.size(), -1.0f);
        conv2d_subsample(ref.data(), x.data(), all.data(), T, F, Cin, Cout, w.data(), norm_w.data(), eps);
        cl_conv2d_subsample(*cl, got.data(), x.data(), nullptr, T, F, Cin, Cout, w.data(), norm_w.data(), eps);
        check("conv2d_subsample", "T=9 F=10 Cin=3 Cout=12 row_valid=nullptr", got, ref);
    }
}

TEST_CASE("cl kernels: audio_attention (chunks, rel_shift, logit cap, padding keys, weights) against audio_attention") {
    ClContext* cl = begin_op("audio_attention");
    if (!cl) return;
    uint32_t seed = 2200;
    struct Case {
        int T, H, Dh, C, P, Fr, pad;
        float scale;  // of q and k: 1 keeps the logits mostly under the cap, 3 pushes the real shape's into it
    };
    // Odd shapes (T not a multiple of C, a right context, P = 0, a single step), T a multiple of C, padding at the end
    // (queries whose every key is padding get the reference's uniform row), the tiny checkpoint (H 2, Dh 16) and the
    // real tower (H 8, Dh 128, C 12, P 12, Fr 0, cap 50, invalid −1e9).
    for (const Case& c : {Case{1, 1, 4, 12, 12, 0, 0, 1.0f}, Case{5, 3, 7, 4, 2, 1, 0, 1.0f}, Case{9, 2, 5, 3, 0, 0, 2, 1.0f},
                          Case{50, 3, 33, 5, 6, 3, 7, 1.5f}, Case{24, 2, 16, 12, 12, 0, 0, 1.0f}, Case{37, 2, 16, 12, 12, 0, 5, 1.0f},
                          Case{75, 8, 128, 12, 12, 0, 0, 1.0f}, Case{188, 8, 128, 12, 12, 0, 30, 3.0f}}) {
        const AudioAttentionShape s{c.T, c.H, c.Dh, c.C, c.P, c.Fr, 50.0f, -1e9f};
        const int W = c.C + c.P + c.Fr, n_rel = W / 2 + 1;
        const size_t n = size_t(c.T) * c.H * c.Dh;
        const std::vector<float> q = random_vector(n, seed++, c.scale);
        const std::vector<float> k = random_vector(n, seed++, c.scale);
        const std::vector<float> v = random_vector(n, seed++);
        const std::vector<float> rel_k = random_vector(size_t(n_rel) * c.H * c.Dh, seed++, c.scale);
        const std::vector<uint8_t> valid = valid_mask(c.T, c.pad);
        const std::string shape = shape_text({{"T", c.T}, {"H", c.H}, {"Dh", c.Dh}, {"C", c.C}, {"P", c.P}, {"Fr", c.Fr}, {"pad", c.pad}});

        std::vector<float> ref_out(n), ref_w(size_t(c.H) * c.T * c.P);
        audio_attention(ref_out.data(), ref_w.data(), q.data(), k.data(), v.data(), rel_k.data(), valid.data(), s);
        std::vector<float> got_out(n, -1.0f), got_w(ref_w.size(), -1.0f);
        cl_audio_attention(*cl, got_out.data(), got_w.data(), q.data(), k.data(), v.data(), rel_k.data(), valid.data(), s);
        check("audio_attention", shape, got_out, ref_out);
        if (c.P > 0) check("audio_attn wts", shape, got_w, ref_w);

        // weights == nullptr: the same output, nothing else written.
        std::vector<float> got_only(n, -1.0f);
        cl_audio_attention(*cl, got_only.data(), nullptr, q.data(), k.data(), v.data(), rel_k.data(), valid.data(), s);
        check("audio_attention", shape + " weights=nullptr", got_only, ref_out);
    }
    std::vector<float> one(64, 0.0f);
    const std::vector<uint8_t> valid(4, 1);
    CHECK_THROWS_AS(cl_audio_attention(*cl, one.data(), nullptr, one.data(), one.data(), one.data(), one.data(), valid.data(),
                                       AudioAttentionShape{4, 1, 2, 0, 1, 0, 50.0f, -1e9f}),
                    Error);
    CHECK_THROWS_AS(cl_audio_attention(*cl, one.data(), nullptr, one.data(), one.data(), one.data(), one.data(), valid.data(),
                                       AudioAttentionShape{4, 1, 2, 2, 1, 0, 0.0f, -1e9f}),
                    Error);
}

#else

TEST_CASE("cl kernels: audio skipped (built without GEMMA4_OPENCL)") { MESSAGE("skipped: no OpenCL device (built without OpenCL)"); }

#endif
