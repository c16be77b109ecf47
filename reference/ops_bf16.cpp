// ops_bf16.cpp — bf16 activations for bf16 weights: the opt-in "bf16" backend (Bf16Backend in backend.h).
//
// Why it exists. llama.cpp multiplies a BF16 weight by activations converted to bf16 (ggml-cpu.c sets vec_dot_type =
// GGML_TYPE_BF16 for GGML_TYPE_BF16), and on a CPU with AVX512-BF16 it multiplies with vdpbf16ps: one instruction
// adds two bf16 products into each float32 lane, twice the multiplies of a float32 FMA. gemma4's own fast path keeps
// the reference's float32 activations, so on such a CPU a prefill against llama.cpp's BF16 run compared two different
// arithmetics (docs/performance.md, round 4). This file gives gemma4 the same arithmetic, as an option, so that the
// comparison can be made like for like. It is not the default: rounding every matmul input to bf16 drops 16 bits of
// its mantissa (a relative error up to 2^-9 per value), far above kNmseBlasVsRef.
//
// The arithmetic, whatever the path: x rounded to bf16 (round to nearest even, f32_to_bf16 in dtype.h); every product
// of two bf16 is exact in float32 (8 + 8 significant bits); the products are summed in float32. Paths differ only in
// the order of those sums:
//   matmul_bf16_dot — vdpbf16ps, for T >= kBf16DotMinTokens (8) on a CPU with AVX512-BF16 (have_bf16_dot).
//                     GEMMA4_BF16_DOT=0 in the environment, or set_bf16_dot_enabled(false), sends these through the
//                     path below too.
//   otherwise       — the rounded x through ops_fast.cpp's float32 paths (sgemm, matmul_small_t), on any CPU. A
//                     decoded token always goes this way: it is memory-bound, and that kernel is tuned to read at
//                     bandwidth.
// Measured (docs/performance.md, round 5): the kernel alone 2.1-2.4x OpenBLAS sgemm on E2B's shapes at T = 128-512.
//
// vdpbf16ps, per lane i of 16 (Intel SDM, VDPBF16PS): acc[i] += x[2i+1]·w[2i+1]; acc[i] += x[2i]·w[2i]; with
// denormal inputs and outputs flushed to zero. Each output here is the dot product of one token's bf16 row with one
// weight row, 32 values per instruction, the 16 lanes summed at the end (_mm512_reduce_add_ps).
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "dtype.h"
#include "error.h"
#include "ops.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() values that -Wuninitialized then reports (GCC bug 105593,
// fixed in 13): off for this file, which has no other use of uninitialised values to hide.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define G4_HAVE_BF16_DOT_KERNEL 1
#else
#define G4_HAVE_BF16_DOT_KERNEL 0
#endif

namespace gemma4 {

namespace {
bool env_allows_bf16_dot() {
    const char* v = std::getenv("GEMMA4_BF16_DOT");
    return !(v && std::string(v) == "0");
}
bool bf16_dot_enabled = env_allows_bf16_dot();
}  // namespace

void set_bf16_dot_enabled(bool enabled) { bf16_dot_enabled = enabled; }

void round_to_bf16(float* out, const float* x, int64_t n) {
#pragma omp parallel for if (n >= (int64_t(1) << 16))
    for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(f32_to_bf16(x[i]));
}

#if G4_HAVE_BF16_DOT_KERNEL
namespace {

#define G4_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

constexpr int kTileTokens = 4, kTileRows = 6;

// out[t·ldo + j] = x_t · w_j for RM token rows (x + t·K, bf16 bits) and RN weight rows (w + j·K): RM·RN float32
// accumulators of 16 lanes each (RM = 4, RN = 6: 24 of the 32 vector registers, plus 4 inputs and 1 weight), each
// step loading the 32 values [k, k + 32) of every row once and using each weight load RM times. The last partial
// step loads with a mask (zeros beyond K add nothing). The loops must unroll: with a run-time index the accumulators
// live in memory and the kernel runs at about half speed.
template <int RM, int RN>
G4_BF16_TARGET inline void dot_tile(float* out, int64_t ldo, const uint16_t* x, const uint16_t* w, int64_t K) {
    __m512 acc[RM][RN];
#pragma GCC unroll 8
    for (int i = 0; i < RM; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < RN; ++j) acc[i][j] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k += 32) {
        const __mmask32 m = K - k >= 32 ? ~__mmask32(0) : __mmask32((uint32_t(1) << (K - k)) - 1);
        __m512bh wv[RN];
#pragma GCC unroll 8
        for (int j = 0; j < RN; ++j) wv[j] = (__m512bh)_mm512_maskz_loadu_epi16(m, w + j * K + k);
#pragma GCC unroll 8
        for (int i = 0; i < RM; ++i) {
            const __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(m, x + i * K + k);
#pragma GCC unroll 8
            for (int j = 0; j < RN; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], xv, wv[j]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < RM; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < RN; ++j) out[i * ldo + j] = _mm512_reduce_add_ps(acc[i][j]);
}

// Rows [o0, o1) of W for all T tokens, in the calling thread: tiles of 4 tokens × 6 rows, the leftover tokens and
// rows one at a time. The block of rows (a few hundred KiB) stays in L2 while every token tile passes over it.
G4_BF16_TARGET void dot_rows(float* out, const uint16_t* xb, const uint16_t* w, int64_t K, int64_t N, int T, int64_t o0,
                             int64_t o1) {
    int t = 0;
    for (; t + kTileTokens <= T; t += kTileTokens) {
        int64_t o = o0;
        for (; o + kTileRows <= o1; o += kTileRows)
            dot_tile<kTileTokens, kTileRows>(out + int64_t(t) * N + o, N, xb + int64_t(t) * K, w + o * K, K);
        for (; o < o1; ++o) dot_tile<kTileTokens, 1>(out + int64_t(t) * N + o, N, xb + int64_t(t) * K, w + o * K, K);
    }
    for (; t < T; ++t) {
        int64_t o = o0;
        for (; o + kTileRows <= o1; o += kTileRows) dot_tile<1, kTileRows>(out + int64_t(t) * N + o, N, xb + int64_t(t) * K, w + o * K, K);
        for (; o < o1; ++o) dot_tile<1, 1>(out + int64_t(t) * N + o, N, xb + int64_t(t) * K, w + o * K, K);
    }
}

const bool kHaveBf16Dot = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");

}  // namespace

bool have_bf16_dot() { return kHaveBf16Dot && bf16_dot_enabled; }

// x converted to bf16 bits once, then blocks of ~256 KiB of weight rows (a multiple of 6; at least 4 blocks per
// thread, so that small weights still spread) handed out dynamically, as matmul_blas hands out its sgemm blocks. In
// one thread (an expert inside the parallel loop over experts) the same blocks go one after the other: each block
// stays in L2 while every token tile passes over it, so memory sees the weight once.
// Why no packing: a dot-product tile needs none (both operands are read along K, as stored), and with the loops
// unrolled it ran at 360 GFLOP/s on 2 Zen 4 cores, against ~380 for a packed kernel with broadcast inputs (prototype,
// T = 512, E2B's q and gate shapes); the simpler one was kept.
void matmul_bf16_dot(float* out, const float* x, const WeightView& W, int T, bool one_thread) {
    if (!kHaveBf16Dot) throw Error("matmul_bf16_dot: this CPU has no AVX512-BF16 (vdpbf16ps)");
    if (W.dtype != DType::BF16) throw Error(std::string("matmul_bf16_dot: weight dtype ") + dtype_name(W.dtype) + ", expected BF16");
    const int64_t K = W.cols, N = W.rows;
    std::vector<uint16_t> xb(static_cast<size_t>(int64_t(T) * K));
#pragma omp parallel for if (!one_thread && int64_t(T) * K >= (int64_t(1) << 16))
    for (int64_t i = 0; i < int64_t(T) * K; ++i) xb[i] = f32_to_bf16(x[i]);
    // Checkpoint data is only byte-aligned (safetensors.h); the kernel reads it with unaligned vector loads only.
    const uint16_t* w = reinterpret_cast<const uint16_t*>(W.data);
    const int64_t blocks_wanted = one_thread ? 1 : 4 * int64_t(omp_get_max_threads());
    int64_t rows = std::min<int64_t>((int64_t(256) << 10) / std::max<int64_t>(1, 2 * K), (N + blocks_wanted - 1) / blocks_wanted);
    rows = std::max<int64_t>(kTileRows, rows / kTileRows * kTileRows);
    const int64_t blocks = (N + rows - 1) / rows;
#pragma omp parallel for schedule(dynamic) if (!one_thread)
    for (int64_t b = 0; b < blocks; ++b) dot_rows(out, xb.data(), w, K, N, T, b * rows, std::min(N, (b + 1) * rows));
}

#else  // not x86-64 GCC/Clang: no vdpbf16ps kernel; Activations::BF16 takes the rounded float32 path

bool have_bf16_dot() {
    (void)bf16_dot_enabled;
    return false;
}

void matmul_bf16_dot(float*, const float*, const WeightView&, int, bool) {
    throw Error("matmul_bf16_dot: built without the AVX512-BF16 kernel (x86-64 GCC or Clang only)");
}

#endif

}  // namespace gemma4
