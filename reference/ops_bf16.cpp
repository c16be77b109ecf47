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
//   matmul_bf16_dot  — vdpbf16ps in tiles of 4 tokens × 6 rows, for T >= kBf16DotMinTokens (8) on a CPU with
//                      AVX512-BF16 (have_bf16_dot).
//   bf16_stream_rows — vdpbf16ps for fewer tokens (a decoded token) on the same CPU: four rows read side by side, in
//                      the pieces of ops_fast.cpp's decode pass (matmul_small_t_group). The same steps per output as
//                      the tiles, so both give a token bitwise the same result.
//                      GEMMA4_BF16_DOT=0 in the environment, or set_bf16_dot_enabled(false), sends both through the
//                      path below.
//   otherwise        — the rounded x through ops_fast.cpp's float32 paths (sgemm, matmul_small_t), on any CPU.
// Measured (docs/performance.md, round 5): the tiles alone 2.1-2.4x OpenBLAS sgemm on E2B's shapes at T = 128-512.
// The streamed form exists for the bytes of x (round 7): the float32 decode kernel re-reads x for every row, and E2B's
// down projections (x of 6144 and 12288 floats, 24-48 KiB) push it out of a 32 KiB L1; as bf16 bits x takes half.
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

// The decode form of dot_tile: NT tokens (1-4) against R rows that lie `stride` rows apart (row o0 + r·stride), so each
// thread reads R streams at once, as ops_fast.cpp's decode kernel does (one stream per core does not keep enough reads
// in flight). Every output is the same sequence of vdpbf16ps steps as in dot_tile (one accumulator, 32 values a step,
// the last partial step masked, _mm512_reduce_add_ps), so a token's result is bitwise the same whichever path, tile
// or stream, computed it. Each stream asks for the line kStreamAhead bytes ahead with a non-temporal hint
// (prefetchnta), so the weights, read once, leave L1 first and the bf16 x (2 bytes a value: E2B's 12288-wide down
// projection holds 24 KiB of it, against 48 KiB as float32) stays there between rows. And it asks for the line
// kStreamAheadL2 bytes ahead into L2 (prefetcht1): at ~50-58 GB/s the hardware's own prefetch left the streams short of
// lines in flight; timed call by call against the kernel without it, in the same run, full E2B's passes took 3-7 % less
// time (docs/performance.md, round 8, with round 9's correction; ops_fast.cpp's dot_rows does the same).
constexpr int64_t kStreamAhead = 256;     // bytes: four cache lines
constexpr int64_t kStreamAheadL2 = 1024;  // sixteen

// One step of dot_streams: values [k, k + 32) of every row and token, masked by m.
template <int NT, int R>
G4_BF16_TARGET __attribute__((always_inline)) inline void stream_step(__m512 (&acc)[NT][R], const uint16_t* const (&wr)[R],
                                                                      const uint16_t* x, int64_t K, int64_t k, __mmask32 m) {
    __m512bh wv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
        _mm_prefetch(reinterpret_cast<const char*>(wr[r] + k) + kStreamAhead, _MM_HINT_NTA);
        _mm_prefetch(reinterpret_cast<const char*>(wr[r] + k) + kStreamAheadL2, _MM_HINT_T1);
        wv[r] = (__m512bh)_mm512_maskz_loadu_epi16(m, wr[r] + k);
    }
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t) {
        const __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(m, x + t * K + k);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) acc[t][r] = _mm512_dpbf16_ps(acc[t][r], xv, wv[r]);
    }
}

template <int NT, int R>
G4_BF16_TARGET inline void dot_streams(float* out, int64_t ldo, const uint16_t* x, const uint16_t* w, int64_t K,
                                       int64_t o0, int64_t stride) {
    const uint16_t* wr[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) wr[r] = w + (o0 + r * stride) * K;
    __m512 acc[NT][R];
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t)
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) acc[t][r] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) stream_step<NT, R>(acc, wr, x, K, k, ~__mmask32(0));
    if (k < K) stream_step<NT, R>(acc, wr, x, K, k, __mmask32((uint32_t(1) << (K - k)) - 1));
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t)
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) out[t * ldo + o0 + r * stride] = _mm512_reduce_add_ps(acc[t][r]);
}

// Piece p of rows for tokens [t0, t0 + NT): the rows cut into R contiguous parts read side by side (RowPiece, ops.h),
// then, with the last piece, the rows left over one at a time.
template <int NT, int R>
G4_BF16_TARGET void stream_block(float* out, const uint16_t* xb, const uint16_t* w, int64_t K, int64_t N, int t0,
                                 const RowPiece& p) {
    float* o = out + int64_t(t0) * N;
    const uint16_t* x = xb + int64_t(t0) * K;
    const int64_t per = (p.o1 - p.o0) / R;
    for (int64_t q = p.first_step(per); q < p.end_step(per); ++q) dot_streams<NT, R>(o, N, x, w, K, p.o0 + q, per);
    if (p.last())
        for (int64_t r = p.o0 + R * per; r < p.o1; ++r) dot_streams<NT, 1>(o, N, x, w, K, r, 0);
}

const bool kHaveBf16Dot = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");

}  // namespace

bool have_bf16_dot() { return kHaveBf16Dot && bf16_dot_enabled; }

void to_bf16_bits(uint16_t* out, const float* x, int64_t n, bool one_thread) {
#pragma omp parallel for if (!one_thread && n >= (int64_t(1) << 16))
    for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16(x[i]);
}

// Four streams per thread for any token count: with NT tokens the kernel holds 4·NT accumulators, 4 weights and one
// input (at most 21 of the 32 vector registers).
void bf16_stream_rows(float* out, const uint16_t* xb, const WeightView& W, int T, const RowPiece& rows) {
    if (!kHaveBf16Dot) throw Error("bf16_stream_rows: this CPU has no AVX512-BF16 (vdpbf16ps)");
    if (W.dtype != DType::BF16) throw Error(std::string("bf16_stream_rows: weight dtype ") + dtype_name(W.dtype) + ", expected BF16");
    const uint16_t* w = reinterpret_cast<const uint16_t*>(W.data);  // byte-aligned: unaligned vector loads only
    for (int t0 = 0; t0 < T; t0 += 4) {
        switch (std::min(4, T - t0)) {
            case 1: stream_block<1, 4>(out, xb, w, W.cols, W.rows, t0, rows); break;
            case 2: stream_block<2, 4>(out, xb, w, W.cols, W.rows, t0, rows); break;
            case 3: stream_block<3, 4>(out, xb, w, W.cols, W.rows, t0, rows); break;
            default: stream_block<4, 4>(out, xb, w, W.cols, W.rows, t0, rows); break;
        }
    }
}

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
    to_bf16_bits(xb.data(), x, int64_t(T) * K, one_thread);
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

void to_bf16_bits(uint16_t* out, const float* x, int64_t n, bool) {
    for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16(x[i]);
}

void bf16_stream_rows(float*, const uint16_t*, const WeightView&, int, const RowPiece&) {
    throw Error("bf16_stream_rows: built without the AVX512-BF16 kernel (x86-64 GCC or Clang only)");
}

#endif

}  // namespace gemma4
