// ops_fast.cpp — the CPU fast path of the matmul (BlasBackend), beside its readable twin matmul_ref in ops.cpp.
//
// Same products as matmul_ref; only the order of the float additions differs, so results agree with it to float
// rounding (NMSE ~1e-14, far below kNmseBlasVsRef; tests/test_ops_fast.cpp checks every dtype on odd shapes).
//   decode  (T < kBlasMinTokens): matmul_small_t — every weight row streamed once, straight from the mapped
//           checkpoint, converted to float in registers, dotted with up to four tokens at a time. Memory-bound: the
//           goal is to read the weights at the machine's bandwidth (issue 9; `gemma4 bench`).
//   prefill (T >= kBlasMinTokens): matmul_blas — OpenBLAS sgemm on blocks of rows converted to float32 in cache.
//   attention_blas — the text attention core as two sgemms per head and block of queries (q·kᵀ, then p·v), with the
//           mask of mask.h applied between them; the same formula as ops.cpp's attention, which loops per query.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "error.h"
#include "mask.h"
#include "ops.h"
#include "safetensors.h"

// The vector helpers below are always inlined, so GCC's note about the ABI of passing 32- and 64-byte vectors
// without AVX (a concern for calls across translation units) does not apply; reference/CMakeLists.txt builds this
// file with -Wno-psabi, since `#pragma GCC diagnostic` does not reach that note.

namespace gemma4 {

namespace {

// ---- 2·L weights at a time, converted to float in registers ------------------------------------------------------
//
// GCC/Clang vector extensions: plain C++ operators on vectors of L = 8 or 16 float lanes (no -march flag, no
// intrinsics). The 8-lane kernel is compiled to SSE2 in the portable build and to AVX2 + FMA in the copy picked at run
// time; the 16-lane one only for AVX-512 (decode_lanes says when it runs). Checkpoint data is only byte-aligned
// (safetensors.h), so every load is a memcpy, which compiles to an unaligned vector load.
//
// Each weight type loads a group of 2·L values as two float vectors (a, b). The bf16 one uses a trick that needs no
// shuffles: 4·L bytes hold L lanes of 32 bits, each lane a pair of bf16 (first in the low half, little-endian). A bf16
// is the top half of a float32, so `lane << 16` is the first of the pair as a float and `lane & 0xffff0000` is the
// second. a thus holds the group's even values and b its odd ones, and the activations are laid out the same way
// once per call (kEvenOdd; decode_x_layout below), so each weight needs one load, one shift or mask and one FMA.
using f32x8 = float __attribute__((vector_size(32)));
using u32x8 = uint32_t __attribute__((vector_size(32)));
using u16x8 = uint16_t __attribute__((vector_size(16)));
using f32x16 = float __attribute__((vector_size(64)));
using u32x16 = uint32_t __attribute__((vector_size(64)));
using u16x16 = uint16_t __attribute__((vector_size(32)));

// The vector types of L lanes.
template <int L>
struct Lanes;
template <>
struct Lanes<8> {
    using f32 = f32x8;
    using u32 = u32x8;
    using u16 = u16x8;
};
template <>
struct Lanes<16> {
    using f32 = f32x16;
    using u32 = u32x16;
    using u16 = u16x16;
};

#define G4_INLINE inline __attribute__((always_inline))

// ---- one body, compiled for the CPU it runs on ----------------------------------------------------------------------
//
// The vector bodies below are always-inlined functions; run<Body, isa>(args) calls Body compiled for that instruction
// set (portable x86-64 = SSE2, AVX2 + FMA, or AVX-512), and run_best picks AVX2 + FMA where the CPU has them. Elsewhere
// than GCC/Clang on x86-64 every copy is the portable one.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define G4_TARGET(isa) __attribute__((target(isa)))
const bool kHaveAvx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
const bool kHaveAvx512 = kHaveAvx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
#else
#define G4_TARGET(isa)
const bool kHaveAvx2 = false;
const bool kHaveAvx512 = false;
#endif

template <auto Body, class... A>
void run_portable(A... a) {
    Body(a...);
}
template <auto Body, class... A>
G4_TARGET("avx2,fma") void run_avx2(A... a) {
    Body(a...);
}
// AVX-512 with VL: 16-lane bodies, and 8-lane ones with AVX-512's encoding (32 vector registers, and an operation may
// read its operand from memory where AVX2 needs a separate load: vpslld from memory, for instance).
template <auto Body, class... A>
G4_TARGET("avx512f,avx512vl,avx2,fma") void run_avx512(A... a) {
    Body(a...);
}
template <auto Body, class... A>
void run_best(A... a) {
    if (kHaveAvx2) run_avx2<Body>(a...);
    else run_portable<Body>(a...);
}

template <class V>
G4_INLINE V load_vec(const void* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
G4_INLINE f32x8 load_f32x8(const float* p) { return load_vec<f32x8>(p); }

struct F32Weights {
    static constexpr int64_t kBytes = 4;
    static constexpr bool kEvenOdd = false;
    template <class F>
    static G4_INLINE void load2(const std::byte* p, F& a, F& b) {
        a = load_vec<F>(p);
        b = load_vec<F>(p + sizeof(F));
    }
    static G4_INLINE float load1(const std::byte* p) {
        float v;
        std::memcpy(&v, p, sizeof v);
        return v;
    }
};

struct BF16Weights {
    static constexpr int64_t kBytes = 2;
    static constexpr bool kEvenOdd = true;
    template <class F>
    static G4_INLINE void load2(const std::byte* p, F& even, F& odd) {
        const auto pairs = load_vec<typename Lanes<sizeof(F) / 4>::u32>(p);
        even = std::bit_cast<F>(pairs << 16);
        odd = std::bit_cast<F>(pairs & 0xffff0000u);
    }
    static G4_INLINE float load1(const std::byte* p) {
        uint16_t h;
        std::memcpy(&h, p, sizeof h);
        return bf16_to_f32(h);
    }
};

// f16 without branches (f16_to_f32 in dtype.h is the readable, branchy definition; a test checks all 65 536
// inputs): the exponent and mantissa bits are moved into float position and the float multiplied by 2^(127-15),
// which rebiases normals and turns f16 subnormals (float denormals after the shift) into the right normal float,
// exactly. Exponent 31 (inf/NaN) is selected separately.
struct F16Weights {
    static constexpr int64_t kBytes = 2;
    static constexpr bool kEvenOdd = false;
    template <class F>
    static G4_INLINE F load(const std::byte* p) {
        using U = typename Lanes<sizeof(F) / 4>::u32;
        const U h = __builtin_convertvector(load_vec<typename Lanes<sizeof(F) / 4>::u16>(p), U);
        const U sign = (h & 0x8000u) << 16;
        const U em = (h & 0x7fffu) << 13;
        const U scaled = std::bit_cast<U>(std::bit_cast<F>(em) * 0x1p112f);
        const U is_inf_nan = std::bit_cast<U>((h & 0x7c00u) == 0x7c00u);  // all ones where exponent is 31
        const U bits = (is_inf_nan & (em | 0x7f800000u)) | (~is_inf_nan & scaled);
        return std::bit_cast<F>(bits | sign);
    }
    template <class F>
    static G4_INLINE void load2(const std::byte* p, F& a, F& b) {
        a = load<F>(p);
        b = load<F>(p + sizeof(F) / 2);
    }
    static G4_INLINE float load1(const std::byte* p) {
        uint16_t h;
        std::memcpy(&h, p, sizeof h);
        return f16_to_f32(h);
    }
};

// The vector loops cover the largest multiple of 32 values of a row (whatever the tile), the rest is a scalar tail;
// decode_x_layout reorders exactly that span.
constexpr int64_t kVectorSpan = 32;

G4_INLINE float hsum(f32x8 v) {
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}
G4_INLINE float hsum(f32x16 v) {
    f32x8 lo, hi;
    std::memcpy(&lo, &v, sizeof lo);
    std::memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof lo, sizeof hi);
    return hsum(lo + hi);
}

constexpr int64_t kNtaAhead = 256;  // bytes: four cache lines ahead of each stream (dot_rows)
template <int L>  // bytes ahead into L2 (dot_rows): 1 KiB (sixteen lines) for 8-lane streams, 2 KiB for 16-lane ones
constexpr int64_t kL2Ahead = L == 16 ? 2048 : 1024;

// Output rows for NT tokens starting at t0: out[t][o] = x[t] · W[o], for the R rows o = rows[r] at once. Each weight
// row is read once, 2·L values at a time (L lanes), and multiplied into every token's accumulators. x is in the
// weight type's layout for L lanes (kEvenOdd: decode_x_layout), the same [T, in] shape.
//  - The accumulators live in registers (NT and R are compile-time constants, the loops unroll): two per (token,
//    row), one for the even and one for the odd half of each group, so that consecutive FMAs do not wait on each
//    other. A sum array indexed by a run-time token count lives in memory, and every addition then waits on a
//    store → load round trip (an earlier version reached about half of the memory bandwidth that way).
//  - The R rows come from R places far apart (rows_in_streams), so each thread reads R streams at once. One stream per
//    core does not keep enough reads in flight on this project's machine: a single-stream matvec read ~90 % of
//    what a single-stream sum reads, four streams per thread ~20 % more (docs/performance.md, "Streams").
//  - Every row gets the same sequence of additions whatever R and NT are, so a result does not depend on how the rows
//    were cut into blocks and streams (or on the thread count, or on how many tokens share the call). It does depend
//    on L, which decode_lanes picks from the weight's width and the CPU alone.
//  - Each stream asks for every cache line kNtaAhead bytes ahead with a non-temporal hint (prefetchnta): the
//    weights, read once, then leave L1 first and x stays there between rows. Rows of 2816 values (26B-A4B) hold
//    11 KiB of x, and four 8-lane streams of them pushed it out: the A4B LM head read 73-82 % of the bandwidth at
//    51-61 GB/s without the hint and 86-93 % with it (docs/performance.md, round 6). Rows of 1536 were unchanged.
//    The 16-lane streams gained from it too (round 7; a probe at the fast level, 18 MiB passes, against a one-stream
//    sum: rows of 2816 0.87 → 0.91, 4096 0.91 → 0.94, 12288 0.90 → 0.93).
//  - ... and kL2Ahead bytes ahead into L2 (prefetcht1). At ~50-58 GB/s the hardware's own prefetch left the streams
//    short of lines in flight: timed call by call against the kernel without it, in the same run, full E2B's passes
//    of 7.5-36 MiB took 3-5 % less time (the 72 MiB ones about the same; docs/performance.md, round 8, with round 9's
//    correction). How far ahead depends on the lanes (round 9, the same timing at ~57-60 GB/s): the 16-lane streams
//    (eight per thread for one token: rows of 2560 values or more) took 7-9 % less time with 2 KiB than with 1 KiB
//    (E2B's down projections and global o_proj), 3 KiB no less than 2; the 8-lane ones took 2-7 % more with 1.5 KiB,
//    10-22 % more with 2 KiB, and the same with 768 bytes.
template <class Weights, int L, int NT, int R>
G4_INLINE void dot_rows(float* out, const float* x, const std::byte* w, int64_t in, int64_t out_dim, int t0,
                        const int64_t (&rows)[R]) {
    using F = typename Lanes<L>::f32;
    constexpr int64_t kStepBytes = 2 * L * Weights::kBytes;  // weight bytes of a row per step: one prefetch per 64
    const int64_t vec_end = in - in % kVectorSpan;  // a multiple of 2·L; the rest is the scalar tail
    const float* xt0 = x + int64_t(t0) * in;
    const std::byte* wr[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) wr[r] = w + rows[r] * in * Weights::kBytes;
    // Both hints for the stream at p: kNtaAhead bytes ahead into L1 (non-temporal), kL2Ahead<L> ahead into L2.
    auto ask_ahead = [](const std::byte* p) {
        __builtin_prefetch(p + kNtaAhead, 0, 0);
        __builtin_prefetch(p + kL2Ahead<L>, 0, 2);
    };
    F acc[NT][R][2] = {};
    for (int64_t i = 0; i < vec_end; i += 2 * L) {
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            F wa, wb;
            if constexpr (kStepBytes >= 64) {
#pragma GCC unroll 2
                for (int64_t b = 0; b < kStepBytes; b += 64) ask_ahead(wr[r] + i * Weights::kBytes + b);
            } else if ((i * Weights::kBytes) % 64 == 0) {
                ask_ahead(wr[r] + i * Weights::kBytes);
            }
            Weights::load2(wr[r] + i * Weights::kBytes, wa, wb);
#pragma GCC unroll 4
            for (int t = 0; t < NT; ++t) {
                acc[t][r][0] += load_vec<F>(xt0 + int64_t(t) * in + i) * wa;
                acc[t][r][1] += load_vec<F>(xt0 + int64_t(t) * in + i + L) * wb;
            }
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < NT; ++t)
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            float sum = hsum(acc[t][r][0] + acc[t][r][1]);
            for (int64_t i = vec_end; i < in; ++i) sum += xt0[int64_t(t) * in + i] * Weights::load1(wr[r] + i * Weights::kBytes);
            out[int64_t(t0 + t) * out_dim + rows[r]] = sum;
        }
}

// Piece p of rows for tokens [t0, t0 + NT): the rows cut into R contiguous parts read side by side (dot_rows; RowPiece
// in ops.h), then, with the last piece, the few rows left over one at a time. At step q part r reads its row
// (q + r·kStreamSkew<R>) % per: with eight streams (16 lanes, one token) each part starts one row further into its
// rows than the one before and wraps around at its end. Without the rotation the eight addresses read at one moment
// are `per` rows apart, often a multiple of a large power of two (26B-A4B's q: 512 rows of 5.5 KiB, 352 × 8 KiB),
// which caches and memory may map onto the same sets or banks (a likely reason, not measured). Timed call by call in
// one run at ~60 GB/s (docs/performance.md, round 9), A4B-4L's eight-stream passes took 12-26 % less time rotated
// (its LM head 5 %); E2B's (rows of 8-24 KiB) 0-5 % more. Each row is still one dot_rows call, so the outputs are the
// same floats.
template <int R>
constexpr int64_t kStreamSkew = R == 8 ? 1 : 0;
template <class Weights, int L, int NT, int R>
G4_INLINE void rows_in_streams(float* out, const float* x, const WeightView& W, int t0, const RowPiece& p) {
    const int64_t per = (p.o1 - p.o0) / R;
    for (int64_t q = p.first_step(per); q < p.end_step(per); ++q) {
        int64_t rows[R];
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
            int64_t j = q + r * kStreamSkew<R>;  // part r's row at step q, wrapped around at the part's end
            if constexpr (kStreamSkew<R> != 0) j %= per;
            rows[r] = p.o0 + r * per + j;
        }
        dot_rows<Weights, L, NT, R>(out, x, W.data, W.cols, W.rows, t0, rows);
    }
    if (p.last())
        for (int64_t o = p.o0 + R * per; o < p.o1; ++o) {
            const int64_t row[1] = {o};
            dot_rows<Weights, L, NT, 1>(out, x, W.data, W.cols, W.rows, t0, row);
        }
}

// All T tokens for piece p: tiles of up to four tokens (the piece, ~128 KiB, stays in L2 between tiles, so memory
// still sees each weight once). The accumulators, 2·NT·R vectors, must stay within the registers:
// with 8 lanes (16 registers) four streams per thread for one token, two for two, one for three or four; with 16
// lanes (AVX-512: 32 registers) eight, four, two and two.
template <class Weights, int L>
G4_INLINE void rows_all_tokens(float* out, const float* x, const WeightView& W, int T, const RowPiece& p) {
    constexpr int S = L / 8;  // stream multiplier
    for (int t0 = 0; t0 < T; t0 += 4) {
        switch (std::min(4, T - t0)) {
            case 1: rows_in_streams<Weights, L, 1, 4 * S>(out, x, W, t0, p); break;
            case 2: rows_in_streams<Weights, L, 2, 2 * S>(out, x, W, t0, p); break;
            case 3: rows_in_streams<Weights, L, 3, 1 * S>(out, x, W, t0, p); break;
            default: rows_in_streams<Weights, L, 4, 1 * S>(out, x, W, t0, p); break;
        }
    }
}

// Lanes of the decode kernel for W: 16 (AVX-512) for rows of kWideRow values or more where the CPU has it, else 8.
// x, read again for every row, stays in the 32 KiB L1 cache between rows while it is small; from 4096 floats (16 KiB)
// on, the four weight streams push it out, and the kernel reads x from L2 for every row. On a Zen 4 machine that
// cost E2B's down projections (1536 x 6144, 1536 x 12288) and global-layer o_proj (1536 x 4096) about a quarter of their
// read rate when memory ran at ~60 GB/s. Eight 16-lane streams load x once per eight rows and take the weights a cache
// line per load: those passes then read ~18 % faster, a decoded token 2-5 % (docs/performance.md, round 6). With the
// prefetch hint in both (round 7) the probe put the crossing lower: 2048 read faster with 8 lanes (0.94 against 0.89
// of a one-stream sum at the fast level), 2560 the same (0.95), 2816 faster with 16 (0.91 against 0.86-0.90); so
// 26B-A4B's rows of 2816 (its LM head, q/k/v, gate/up) now take 16 lanes, and A4B-4L decodes read 1-13 % faster.
constexpr int64_t kWideRow = 2560;
}  // namespace
int decode_lanes(const WeightView& W) { return kHaveAvx512 && W.cols >= kWideRow ? 16 : 8; }
namespace {

// x[T, in] in the layout the weight type reads with W's decode lanes L: for bf16, each group of 2·L values of the
// vector span as its L even then its L odd ones (the scalar tail stays as it is); other types read x unchanged.
// Returns x or buf's data.
const float* decode_x_layout(const WeightView& W, const float* x, int T, std::vector<float>& buf) {
    if (!BF16Weights::kEvenOdd || W.dtype != DType::BF16) return x;
    const int lanes = decode_lanes(W);
    const int64_t in = W.cols, full = in - in % kVectorSpan;
    buf.resize(static_cast<size_t>(int64_t(T) * in));
    for (int t = 0; t < T; ++t) {
        const float* src = x + int64_t(t) * in;
        float* dst = buf.data() + int64_t(t) * in;
        for (int64_t g = 0; g < full; g += 2 * lanes)
            for (int k = 0; k < lanes; ++k) {
                dst[g + k] = src[g + 2 * k];
                dst[g + lanes + k] = src[g + 2 * k + 1];
            }
        std::copy(src + full, src + in, dst + full);
    }
    return buf.data();
}

template <int L>
G4_INLINE void small_t_rows_body(float* out, const float* x, const WeightView* W, int T, const RowPiece* p) {
    switch (W->dtype) {
        case DType::F32: rows_all_tokens<F32Weights, L>(out, x, *W, T, *p); break;
        case DType::BF16: rows_all_tokens<BF16Weights, L>(out, x, *W, T, *p); break;
        default: rows_all_tokens<F16Weights, L>(out, x, *W, T, *p); break;
    }
}

// Piece p of the decode kernel in the calling thread, x in decode_x_layout: 16 lanes where decode_lanes says so, else
// 8, compiled for AVX-512 where the CPU has it, else for AVX2 where it has that. The same 8-lane code took
// 1-2 % less time for E2B's gate/up and LM head passes compiled for AVX-512 than for AVX2, timed call by call in one
// run (docs/performance.md, round 9): GCC then folds each weight load into the shift that widens it (vpslld from
// memory), where the AVX2 form loads first. The arithmetic, and so every float, is the same.
void small_t_rows(float* out, const float* x, const WeightView& W, int T, const RowPiece& p) {
    if (decode_lanes(W) == 16) run_avx512<small_t_rows_body<16>>(out, x, &W, T, &p);
    else if (kHaveAvx512) run_avx512<small_t_rows_body<8>>(out, x, &W, T, &p);
    else run_best<small_t_rows_body<8>>(out, x, &W, T, &p);
}

// Output rows [o0, o0 + rows) by sgemm: the weight rows converted to float32 into w_block (f32 weights aligned to 4
// bytes go in as they are). OpenBLAS must be single-threaded here (the callers switch its pool off).
void sgemm_row_block(float* out, const float* x, const WeightView& W, int T, int64_t o0, int64_t rows, std::vector<float>& w_block) {
    const int64_t in = W.cols, out_dim = W.rows;
    const bool direct = W.dtype == DType::F32 && reinterpret_cast<uintptr_t>(W.data) % alignof(float) == 0;
    const float* wb = reinterpret_cast<const float*>(W.data) + o0 * in;
    if (!direct) {
        w_block.resize(static_cast<size_t>(rows * in));
        for (int64_t r = 0; r < rows; ++r) weight_row_f32(W, o0 + r, w_block.data() + r * in);
        wb = w_block.data();
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, static_cast<int>(rows), static_cast<int>(in), 1.0f, x,
                static_cast<int>(in), wb, static_cast<int>(in), 0.0f, out + o0, static_cast<int>(out_dim));
}

// Rows of float32 weight in one sgemm block: about 1 MiB, so the converted block stays in cache.
int64_t sgemm_block_rows(int64_t in) { return std::max<int64_t>(16, (int64_t(1) << 18) / std::max<int64_t>(in, 1)); }

// x, or x[T, W.cols] rounded to bf16 into buf when the activations are bf16 and W is bf16 (ops_bf16.cpp).
const float* activations_for(const WeightView& W, const float* x, int T, Activations act, std::vector<float>& buf) {
    if (act != Activations::BF16 || W.dtype != DType::BF16) return x;
    buf.resize(static_cast<size_t>(int64_t(T) * W.cols));
    round_to_bf16(buf.data(), x, int64_t(T) * W.cols);
    return buf.data();
}

// vdpbf16ps multiplies this weight (ops_bf16.cpp): bf16 activations and weight, a CPU with AVX512-BF16.
bool bf16_dot_for(const WeightView& W, Activations act) {
    return act == Activations::BF16 && W.dtype == DType::BF16 && have_bf16_dot();
}
// ... in tiles: kBf16DotMinTokens tokens or more (fewer go through the decode pass, streamed).
bool takes_bf16_dot(const WeightView& W, int T, Activations act) { return bf16_dot_for(W, act) && T >= kBf16DotMinTokens; }

// The whole matmul in the calling thread (one expert inside a parallel loop over experts).
void matmul_one_thread(float* out, const float* x, const WeightView& W, int T, std::vector<float>& w_block, Activations act) {
    if (takes_bf16_dot(W, T, act)) {
        matmul_bf16_dot(out, x, W, T, /*one_thread=*/true);
        return;
    }
    if (T < kBlasMinTokens && bf16_dot_for(W, act)) {
        std::vector<uint16_t> xb(static_cast<size_t>(int64_t(T) * W.cols));
        to_bf16_bits(xb.data(), x, int64_t(T) * W.cols, /*one_thread=*/true);
        bf16_stream_rows(out, xb.data(), W, T, {0, W.rows});
        return;
    }
    std::vector<float> rounded;
    x = activations_for(W, x, T, act, rounded);
    if (T < kBlasMinTokens) {
        std::vector<float> x_layout;
        small_t_rows(out, decode_x_layout(W, x, T, x_layout), W, T, {0, W.rows});
        return;
    }
    const int64_t block = sgemm_block_rows(W.cols);
    for (int64_t o0 = 0; o0 < W.rows; o0 += block) sgemm_row_block(out, x, W, T, o0, std::min(block, W.rows - o0), w_block);
}

// Throws, naming the dtype, unless the fast path reads it (call before a parallel region: nothing may throw inside).
void require_float_dtype(DType dtype) {
    if (dtype != DType::F32 && dtype != DType::BF16 && dtype != DType::F16)
        throw Error(std::string("weight dtype ") + dtype_name(dtype) + " is not supported (expected F32, BF16 or F16)");
}

// OpenBLAS's own thread pool off while the guard lives (matmul_blas explains why).
struct OpenBlasSingleThread {
    int saved = openblas_get_num_threads();
    OpenBlasSingleThread() { openblas_set_num_threads(1); }
    ~OpenBlasSingleThread() { openblas_set_num_threads(saved); }
};

}  // namespace

// The decode fast path (T <= kBlasMinTokens): one parallel pass over the weights of a matmul (or of a group sharing
// its input), scheduled like this:
//  - The weights' rows, end to end, are cut into one contiguous share per thread, equal in bytes (cuts fall on
//    multiples of kShareRowAlign rows). A thread reads its share as long streams (RowPiece, ops.h), taking it piece
//    by piece (about kPieceBytes each) from its front.
//  - A thread whose share is done takes pieces from the far end of the others' shares. On a shared machine a thread
//    that loses its core holds up the pass by one piece; and the threads, which share the memory bus, finish together.
//  - Why (docs/performance.md, round 8): with dynamic blocks of an eighth of the pass (the schedule before this one),
//    the last blocks left one thread reading alone. In a stand-alone probe at ~55 GB/s the shares read E2B-sized
//    passes 4-12 points of a one-stream sum faster (0.75 MiB 0.60 -> 0.73, 6 MiB 0.84 -> 0.87-0.89, 36 MiB
//    0.81 -> 0.85-0.87), and one contiguous half per thread without the taking was no better than the blocks. In the
//    model, timed against the old schedule call by call, the small passes gained most (in the fastest pairs 0.75 MiB
//    6-7 % less time, 6 MiB 1.5-7 %), the 72 MiB ones nothing. And a piece (~128 KiB) stays in L2 while every tile of a short
//    prompt (2-31 tokens, the blas backend) passes over it, where a 4 MiB block did not: E2B-4L prefill of 8 tokens
//    ran 1.4-2.2x faster.
//  Each row is computed by the same call whatever the cut, so outputs do not depend on it (tests/test_ops_fast.cpp).
constexpr int64_t kPieceBytes = int64_t(128) << 10;
constexpr int64_t kShareRowAlign = 8;  // the most streams a decode kernel reads side by side

namespace {
// One pass's pieces, in share order, and each share's remaining [front, back) packed in one atomic word.
struct PassPiece {
    int32_t part;  // index into the pass's weights
    RowPiece rows;
};
struct alignas(64) Share {  // a cache line each, so that the threads' takes do not contend
    std::atomic<uint64_t> ends{0};  // front (low 32 bits) and back (high 32 bits), indexes into the pieces
};
uint64_t pack_ends(uint64_t front, uint64_t back) { return front | (back << 32); }

// The next piece of a share: its front for the owner, its back for a thread helping out; -1 when none is left.
// Relaxed order is enough: each piece writes its own outputs, and the end of the parallel region orders them.
int64_t take_piece(Share& share, bool from_front) {
    uint64_t ends = share.ends.load(std::memory_order_relaxed);
    for (;;) {
        const uint64_t front = ends & 0xffffffffu, back = ends >> 32;
        if (front >= back) return -1;
        const uint64_t next = from_front ? pack_ends(front + 1, back) : pack_ends(front, back - 1);
        if (share.ends.compare_exchange_weak(ends, next, std::memory_order_relaxed)) return int64_t(from_front ? front : back - 1);
    }
}

// Cuts the pass (weights of row_bytes[i] bytes a row, rows[i] rows) into `threads` shares and the shares into pieces.
void plan_pass(std::span<const int64_t> rows, std::span<const int64_t> row_bytes, int threads, std::vector<PassPiece>& pieces,
               std::vector<Share>& shares) {
    int64_t total = 0;
    for (size_t i = 0; i < rows.size(); ++i) total += rows[i] * row_bytes[i];
    pieces.clear();
    std::vector<int64_t> cut(rows.size(), 0);  // per weight: the first row of the current share
    for (int t = 0; t < threads; ++t) {
        const int64_t share_end = total * (t + 1) / threads;
        const size_t first_piece = pieces.size();
        int64_t start = 0;  // the pass's byte offset of weight i's first row
        for (size_t i = 0; i < rows.size(); ++i) {
            int64_t end_row = rows[i];  // where share t stops in weight i
            if (share_end < start + rows[i] * row_bytes[i]) {
                end_row = std::max<int64_t>(0, share_end - start) / row_bytes[i];
                end_row = std::min(rows[i], end_row - end_row % kShareRowAlign);
            }
            if (t + 1 == threads) end_row = rows[i];
            const int64_t o0 = cut[i], o1 = std::max(o0, end_row);
            if (o1 > o0) {
                const int64_t n = std::clamp<int64_t>((o1 - o0) * row_bytes[i] / kPieceBytes, 1,
                                                      std::max<int64_t>(1, (o1 - o0) / kShareRowAlign));
                for (int64_t j = 0; j < n; ++j) pieces.push_back({int32_t(i), RowPiece{o0, o1, j, n}});
            }
            cut[i] = o1;
            start += rows[i] * row_bytes[i];
        }
        shares[size_t(t)].ends.store(pack_ends(first_piece, pieces.size()), std::memory_order_relaxed);
    }
}
}  // namespace

void matmul_small_t(float* out, const float* x, const WeightView& W, int T) {
    const MatmulOut one{out, &W};
    matmul_small_t_group(x, T, {&one, 1});
}

// Several weights of one input (q, k, v; gate, up) in one parallel pass: the threads then wait for each other once per
// group instead of once per weight (libgomp's waiting was ~2 % of a decoded E2B token in perf), and a small weight such
// as E2B's k or v (0.75 MiB) is read inside a long share rather than cut up by itself. A small gain when it came in:
// full E2B decode 0.2-1.2 points of roofline ahead in 3 of 3 alternated pairs (docs/performance.md).
// Every row is computed by the same call as in matmul_small_t, so the outputs are bitwise those of one matmul per weight.
// With bf16 activations a bf16 weight reads x as bf16 bits with vdpbf16ps where the CPU has it (bf16_stream_rows),
// else x rounded to bf16 as floats; weights of other dtypes read x as it is.
void matmul_small_t_group(const float* x, int T, std::span<const MatmulOut> outs, Activations act) {
    if (T > kBlasMinTokens) throw Error("matmul_small_t: T = " + std::to_string(T) + " > kBlasMinTokens");
    struct Part {
        const WeightView* W;
        float* out;
        const float* x;     // in W's layout (decode_x_layout), or
        const uint16_t* xb; // bf16 bits for vdpbf16ps (bf16_dot_for)
    };
    const int64_t n = int64_t(T) * (outs.empty() ? 0 : outs[0].W->cols);
    std::vector<float> rounded;
    std::vector<uint16_t> bits;
    std::vector<std::vector<float>> x_layouts(outs.size());
    std::vector<Part> parts;
    std::vector<int64_t> rows, row_bytes;
    for (size_t i = 0; i < outs.size(); ++i) {
        const WeightView& W = *outs[i].W;
        require_float_dtype(W.dtype);
        rows.push_back(W.rows);
        row_bytes.push_back(std::max<int64_t>(1, W.cols * static_cast<int64_t>(dtype_size(W.dtype))));
        Part part{&W, outs[i].out, nullptr, nullptr};
        if (bf16_dot_for(W, act)) {
            if (bits.empty()) {
                bits.resize(static_cast<size_t>(n));
                to_bf16_bits(bits.data(), x, n);
            }
            part.xb = bits.data();
        } else {
            const bool round = act == Activations::BF16 && W.dtype == DType::BF16;
            if (round && rounded.empty()) activations_for(W, x, T, act, rounded);
            part.x = decode_x_layout(W, round ? rounded.data() : x, T, x_layouts[i]);
        }
        parts.push_back(part);
    }
    const int threads = omp_get_max_threads();
    std::vector<PassPiece> pieces;
    std::vector<Share> shares(static_cast<size_t>(threads));
    plan_pass(rows, row_bytes, threads, pieces, shares);
    auto run = [&](int64_t i) {
        const PassPiece& piece = pieces[size_t(i)];
        const Part& part = parts[size_t(piece.part)];
        if (part.xb) bf16_stream_rows(part.out, part.xb, *part.W, T, piece.rows);
        else small_t_rows(part.out, part.x, *part.W, T, piece.rows);
    };
#pragma omp parallel num_threads(threads)
    {
        // A team smaller than planned leaves some shares without an owner; the others take all of their pieces.
        const int me = omp_get_thread_num();
        for (int64_t i; (i = take_piece(shares[size_t(me)], true)) >= 0;) run(i);
        for (int k = 1; k < threads; ++k)
            for (int64_t i; (i = take_piece(shares[size_t((me + k) % threads)], false)) >= 0;) run(i);
    }
}

void matmul_group_blas(const float* x, int T, std::span<const MatmulOut> outs, Activations act) {
    // One weight after the other where each keeps every core busy by itself (sgemm, vdpbf16ps tiles); else one
    // streamed pass, in which each weight reads x in its own form (matmul_small_t_group).
    const bool tiles = std::any_of(outs.begin(), outs.end(), [&](const MatmulOut& o) { return takes_bf16_dot(*o.W, T, act); });
    if (T >= kBlasMinTokens || tiles) {
        for (const MatmulOut& o : outs) matmul_blas(o.out, x, *o.W, T, act);
        return;
    }
    matmul_small_t_group(x, T, outs, act);
}

// The prefill path (T >= kBlasMinTokens): OpenBLAS sgemm, with every product and sum of matmul_ref but in sgemm's
// blocked order. What differs from a plain `sgemm on the whole weight`, and why:
//  - The output rows are cut into blocks of about 1 MiB of float32 weight, and OpenMP hands the blocks to its
//    threads (dynamically: a thread that loses its core on a shared machine delays the rest by one block); each
//    thread converts its block (bf16/f16 → f32; f32 weights go in as they are) into its own buffer,
//    still in cache, and runs a single-threaded sgemm on it. Conversion and multiply thus overlap across threads and
//    the converted weight never makes a round trip through memory.
//  - OpenBLAS's own thread pool is switched off for the call (openblas_set_num_threads(1), restored after). With
//    both OpenMP (the conversion, every other op) and OpenBLAS pthreads busy-waiting on the same cores, the two
//    pools steal time from each other: the earlier "convert in an OpenMP loop, then one threaded sgemm" reached
//    ~55 % of sgemm peak, ~74 % with OMP_WAIT_POLICY=passive. One pool doing all the work avoids that.
void matmul_blas(float* out, const float* x, const WeightView& W, int T, Activations act) {
    if (takes_bf16_dot(W, T, act)) {
        matmul_bf16_dot(out, x, W, T);
        return;
    }
    if (T < kBlasMinTokens) {
        const MatmulOut one{out, &W};
        matmul_small_t_group(x, T, {&one, 1}, act);
        return;
    }
    std::vector<float> rounded;
    x = activations_for(W, x, T, act, rounded);
    require_float_dtype(W.dtype);
    const int64_t block = sgemm_block_rows(W.cols);
    const int64_t blocks = (W.rows + block - 1) / block;
    OpenBlasSingleThread single;
#pragma omp parallel
    {
        std::vector<float> w_block;
#pragma omp for schedule(dynamic)
        for (int64_t b = 0; b < blocks; ++b) sgemm_row_block(out, x, W, T, b * block, std::min(block, W.rows - b * block), w_block);
    }
}

namespace {

// ---- gelu and soft-cap, vectorised ------------------------------------------------------------------------------
//
// gelu_pytorch_tanh is 0.5·x·(1 + tanh(u)) with u = √(2/π)·(x + 0.044715·x³). Since 0.5·(1 + tanh(u)) = 1/(1 + e^(−2u)),
// the same function is x / (1 + e^(−2u)): one exp and one division, no cancellation for any x (the readable
// gelu_tanh in ops.cpp calls std::tanh per value, which was ~3 % of a decoded token). exp8 is Cephes' expf (range
// reduction by ln 2 in two parts, a degree-5 polynomial, the exponent set by bit arithmetic), eight lanes at once.
G4_INLINE f32x8 exp8(f32x8 v) {
    const f32x8 big = v > 88.0f ? f32x8{} + 1.0f : f32x8{};  // e^v overflows float: the result is +inf
    v = v < 88.0f ? v : f32x8{} + 88.0f;
    v = v > -87.0f ? v : f32x8{} - 87.0f;  // below, e^v is under the smallest normal float: ~1.6e-38 is near enough
    const f32x8 magic = f32x8{} + 0x1.8p23f;           // adding it rounds to an integer (|v·log2 e| < 2^22)
    const f32x8 n = (v * 1.44269504088896341f + magic) - magic;
    const f32x8 r = (v - n * 0.693359375f) + n * 2.12194440e-4f;  // v − n·ln 2, ln 2 in two parts
    f32x8 p = f32x8{} + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const u32x8 scale = (__builtin_convertvector(n, u32x8) + 127u) << 23;  // 2^n
    const f32x8 e = p * std::bit_cast<f32x8>(scale);
    return big != 0.0f ? f32x8{} + std::numeric_limits<float>::infinity() : e;
}

G4_INLINE f32x8 gelu8(f32x8 x) {
    const f32x8 u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return x / (1.0f + exp8(-2.0f * u));
}

// out[i] = gelu(a[i]) · (b ? b[i] : 1), eight at a time, the tail through the same lanes.
G4_INLINE void gelu_mul_body(float* out, const float* a, const float* b, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        f32x8 g = gelu8(load_f32x8(a + i));
        if (b) g *= load_f32x8(b + i);
        std::memcpy(out + i, &g, sizeof g);
    }
    if (i < n) {
        f32x8 ta = {}, tb = {};
        std::memcpy(&ta, a + i, size_t(n - i) * sizeof(float));
        if (b) std::memcpy(&tb, b + i, size_t(n - i) * sizeof(float));
        f32x8 g = gelu8(ta);
        if (b) g *= tb;
        std::memcpy(out + i, &g, size_t(n - i) * sizeof(float));
    }
}

// Soft-cap c·tanh(x/c) (the final logits, 262 144 per token) with tanh from the same exp: tanh|y| = (1 − e)/(1 + e)
// with e = e^(−2|y|), sign restored. Near 0 that difference cancels, so |y| < 1/8 takes the odd Taylor series to y⁹
// (next term below 1e-12 relative there).
G4_INLINE f32x8 tanh8(f32x8 y) {
    const f32x8 a = y < 0.0f ? -y : y;
    const f32x8 e = exp8(-2.0f * a);
    f32x8 t = (1.0f - e) / (1.0f + e);
    const f32x8 y2 = y * y;
    const f32x8 series = y * (1.0f + y2 * (-1.0f / 3 + y2 * (2.0f / 15 + y2 * (-17.0f / 315 + y2 * (62.0f / 2835)))));
    t = y < 0.0f ? -t : t;
    return a < 0.125f ? series : t;
}

G4_INLINE void soft_cap_body(float* x, int64_t n, float cap) {
    const float inv = 1.0f / cap;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const f32x8 v = cap * tanh8(load_f32x8(x + i) * inv);
        std::memcpy(x + i, &v, sizeof v);
    }
    for (; i < n; ++i) x[i] = cap * std::tanh(x[i] / cap);
}

// One thread's share, AVX2 where the CPU has it.
void gelu_mul_part(float* out, const float* a, const float* b, int64_t n) { run_best<gelu_mul_body>(out, a, b, n); }
void soft_cap_part(float* x, int64_t n, float cap) { run_best<soft_cap_body>(x, n, cap); }

// part(begin, end) over [0, n): in the calling thread below kSplitElems values (vectorised, 64 Ki values take tens of
// microseconds, about what a fork/join costs), else one contiguous share per thread, cut at multiples of 8.
constexpr int64_t kSplitElems = int64_t(1) << 16;
template <class Part>
void split_elementwise(int64_t n, const Part& part) {
    if (n < kSplitElems) {
        part(int64_t(0), n);
        return;
    }
#pragma omp parallel
    {
        const int64_t threads = omp_get_num_threads(), id = omp_get_thread_num();
        const int64_t begin = n * id / threads / 8 * 8, end = id == threads - 1 ? n : n * (id + 1) / threads / 8 * 8;
        part(begin, end);
    }
}

void gelu_mul_split(float* out, const float* a, const float* b, int64_t n) {
    split_elementwise(n, [&](int64_t i0, int64_t i1) { gelu_mul_part(out + i0, a + i0, b ? b + i0 : nullptr, i1 - i0); });
}

}  // namespace

void gelu_tanh_fast(float* x, int64_t n) { gelu_mul_split(x, x, nullptr, n); }
void gelu_mul_fast(float* out, const float* gate, const float* up, int64_t n) { gelu_mul_split(out, gate, up, n); }
void gelu_mul_halves_fast(float* out, const float* gate_up, int64_t rows, int I) {
    for (int64_t r = 0; r < rows; ++r) gelu_mul_split(out + r * I, gate_up + r * 2 * I, gate_up + r * 2 * I + I, I);
}
void soft_cap_fast(float* x, int64_t n, float cap) {
    split_elementwise(n, [&](int64_t i0, int64_t i1) { soft_cap_part(x + i0, i1 - i0, cap); });
}

// ---- text attention ---------------------------------------------------------------------------------------------
//
// ops.cpp's attention, arranged for sgemm. Queries go in blocks of kQueryBlock; for each block the mask (mask.h) is
// evaluated once into a byte matrix [Tb, S] shared by all heads, and only the key range [lo, hi) that holds an
// allowed key is multiplied (a sliding layer's block sees about window + block keys, not all S). Then per head
// (OpenMP hands out the heads; every sgemm is single-threaded, as in matmul_blas):
//   scores[Tb, n] = q_h[Tb, Dh] · k_kvh[n, Dh]ᵀ          (sgemm; q and k read in place with their head strides)
//   −inf where masked, softmax per row                    (ops.cpp's softmax; a row with nothing allowed → zeros)
//   out_h[Tb, Dh] = p[Tb, n] · v_kvh[n, Dh]                (sgemm, written in place into out[T, H·Dh])
void attention_blas(float* out, float* weights, const float* q, const float* k, const float* v, const int64_t* q_pos,
                    const int64_t* k_pos, const int32_t* q_block, const int32_t* k_block, ImageMask rule, const AttentionShape& sh) {
    const int T = sh.T, S = sh.S, H = sh.H, Hkv = sh.Hkv, Dh = sh.Dh, window = sh.window;
    if (T <= 0 || S <= 0) return;
    const int group = H / Hkv;  // GQA: query head h reads KV head h / group
    const int ldq = H * Dh, ldk = Hkv * Dh;
    constexpr int kQueryBlock = 128;
    std::vector<uint8_t> allowed(static_cast<size_t>(std::min(T, kQueryBlock)) * S);
    OpenBlasSingleThread single;
    for (int t0 = 0; t0 < T; t0 += kQueryBlock) {
        const int Tb = std::min(kQueryBlock, T - t0);
        int lo = S, hi = 0;
#pragma omp parallel for reduction(min : lo) reduction(max : hi)
        for (int i = 0; i < Tb; ++i) {
            const int t = t0 + i;
            for (int s = 0; s < S; ++s) {
                const bool ok = q_block ? attention_allowed(q_pos[t], k_pos[s], window, q_block[t] >= 0 && q_block[t] == k_block[s], rule)
                                        : attention_allowed(q_pos[t], k_pos[s], window);
                allowed[size_t(i) * S + s] = ok;
                if (ok) {
                    lo = std::min(lo, s);
                    hi = std::max(hi, s + 1);
                }
            }
        }
        const int n = std::max(0, hi - lo);
#pragma omp parallel
        {
            std::vector<float> scores(static_cast<size_t>(Tb) * std::max(n, 1));
#pragma omp for schedule(dynamic)
            for (int h = 0; h < H; ++h) {
                const int kvh = h / group;
                float* out_h = out + int64_t(t0) * ldq + int64_t(h) * Dh;
                if (n == 0) {  // no query of the block may see any key: zeros, as the reference gives
                    for (int i = 0; i < Tb; ++i) std::fill_n(out_h + int64_t(i) * ldq, Dh, 0.0f);
                    if (weights)
                        for (int i = 0; i < Tb; ++i) std::fill_n(weights + (int64_t(h) * T + t0 + i) * S, S, 0.0f);
                    continue;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tb, n, Dh, 1.0f, q + int64_t(t0) * ldq + int64_t(h) * Dh, ldq,
                            k + int64_t(lo) * ldk + int64_t(kvh) * Dh, ldk, 0.0f, scores.data(), n);
                for (int i = 0; i < Tb; ++i) {
                    float* row = scores.data() + int64_t(i) * n;
                    const uint8_t* ok = allowed.data() + size_t(i) * S + lo;
                    for (int j = 0; j < n; ++j)
                        if (!ok[j]) row[j] = -std::numeric_limits<float>::infinity();
                    softmax(row, n);
                    if (weights) {
                        float* w = weights + (int64_t(h) * T + t0 + i) * S;
                        std::fill_n(w, S, 0.0f);
                        std::copy(row, row + n, w + lo);
                    }
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tb, Dh, n, 1.0f, scores.data(), n,
                            v + int64_t(lo) * ldk + int64_t(kvh) * Dh, ldk, 0.0f, out_h, ldq);
            }
        }
    }
}

// ---- MoE experts ------------------------------------------------------------------------------------------------
//
// Backend::moe_experts's loop (backend.cpp) with the experts spread over the threads (a prompt's, or the K of one
// decoded token): each thread takes whole experts (largest first, dynamic schedule) and runs their gather → gate_up →
// gelu·up → down single-threaded, so there is one fork/join per layer instead of two per expert. Each result row lands in its (token, choice) slot;
// then every token adds its K slots in ascending expert order, with scatter_add_rows's expression, which is the order
// of additions of the loop. Tokens go in chunks so the slot buffer stays bounded (K · chunk · D floats).
void moe_experts_blas(float* out, const float* x, const int32_t* ids, const float* weights, const MoeExpertsShape& s,
                      Activations act) {
    const int D = s.D, E = s.E, K = s.K, I = s.I;
    constexpr int kTokenChunk = 1024;
    if (s.T > kTokenChunk) {
        for (int t0 = 0; t0 < s.T; t0 += kTokenChunk) {
            MoeExpertsShape part = s;
            part.T = std::min(kTokenChunk, s.T - t0);
            moe_experts_blas(out + int64_t(t0) * D, x + int64_t(t0) * D, ids + int64_t(t0) * K, weights + int64_t(t0) * K, part, act);
        }
        return;
    }
    const int T = s.T;
    require_float_dtype(s.gate_up->dtype);
    require_float_dtype(s.down->dtype);
    constexpr int kMaxTopK = 64;  // the per-token ordering below sorts at most this many choices on the stack
    if (K < 1 || K > kMaxTopK || K > E) throw Error("moe_experts: top-k " + std::to_string(K) + " of " + std::to_string(E) + " experts is not supported (1 ≤ k ≤ min(E, 64))");
    std::vector<std::vector<int32_t>> tokens(static_cast<size_t>(E)), slots(static_cast<size_t>(E));
    for (int t = 0; t < T; ++t)
        for (int j = 0; j < K; ++j) {
            const int32_t e = ids[int64_t(t) * K + j];
            if (e < 0 || e >= E) throw Error("moe_experts: token " + std::to_string(t) + " routed to expert " + std::to_string(e) + " of " + std::to_string(E));
            tokens[e].push_back(t);
            slots[e].push_back(t * K + j);
        }
    std::vector<int> order;
    for (int e = 0; e < E; ++e)
        if (!tokens[e].empty()) order.push_back(e);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return tokens[a].size() > tokens[b].size(); });
    std::vector<float> y(static_cast<size_t>(T) * K * D);
    {
        OpenBlasSingleThread single;
#pragma omp parallel
        {
            std::vector<float> u, gate_up, hidden, ye, w_block;
#pragma omp for schedule(dynamic, 1)
            for (size_t i = 0; i < order.size(); ++i) {
                const int e = order[i];
                const int n = static_cast<int>(tokens[e].size());
                u.resize(size_t(n) * D);
                gate_up.resize(size_t(n) * 2 * I);
                hidden.resize(size_t(n) * I);
                ye.resize(size_t(n) * D);
                gather_rows(u.data(), x, tokens[e].data(), n, D);
                matmul_one_thread(gate_up.data(), u.data(), expert_slice(*s.gate_up, e), n, w_block, act);
                gelu_mul_halves_fast(hidden.data(), gate_up.data(), n, I);
                matmul_one_thread(ye.data(), hidden.data(), expert_slice(*s.down, e), n, w_block, act);
                for (int r = 0; r < n; ++r) std::copy_n(ye.data() + int64_t(r) * D, D, y.data() + int64_t(slots[e][r]) * D);
            }
        }
    }
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; ++t) {
        float* o = out + int64_t(t) * D;
        std::fill_n(o, D, 0.0f);
        int js[kMaxTopK];
        for (int j = 0; j < K; ++j) js[j] = j;
        std::stable_sort(js, js + K, [&](int a, int b) { return ids[int64_t(t) * K + a] < ids[int64_t(t) * K + b]; });
        for (int c = 0; c < K; ++c) {
            const int j = js[c];
            const float w = weights[int64_t(t) * K + j];
            const float* yr = y.data() + (int64_t(t) * K + j) * D;
            for (int d = 0; d < D; ++d) o[d] += yr[d] * w;
        }
    }
}

}  // namespace gemma4
