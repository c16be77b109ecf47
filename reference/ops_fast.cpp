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

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "error.h"
#include "mask.h"
#include "ops.h"
#include "safetensors.h"

// The 8-lane helpers below are always inlined, so the -Wpsabi note about passing 32-byte vectors without AVX (an
// ABI concern for calls across translation units) does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace gemma4 {

namespace {

// ---- sixteen weights at a time, converted to float in registers ------------------------------------------------
//
// GCC/Clang vector extensions: plain C++ operators on 8-lane vectors, compiled to SSE2 in the portable build and to
// AVX2 + FMA in the copy picked at run time (no -march flag, no intrinsics). Checkpoint data is only byte-aligned
// (safetensors.h), so every load is a memcpy, which compiles to an unaligned vector load.
//
// Each weight type loads a group of 16 values as two float vectors (a, b). The bf16 one uses a trick that needs no
// shuffles: 32 bytes hold 8 lanes of 32 bits, each lane a pair of bf16 (first in the low half, little-endian). A bf16
// is the top half of a float32, so `lane << 16` is the first of the pair as a float and `lane & 0xffff0000` is the
// second. a thus holds the group's even values and b its odd ones, and the activations are laid out the same way
// once per call (kEvenOdd; decode_x_layout below), so each weight needs one load, one shift or mask and one FMA.
using f32x8 = float __attribute__((vector_size(32)));
using u32x8 = uint32_t __attribute__((vector_size(32)));
using u16x8 = uint16_t __attribute__((vector_size(16)));

#define G4_INLINE inline __attribute__((always_inline))

G4_INLINE f32x8 load_f32x8(const float* p) {
    f32x8 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

struct F32Weights {
    static constexpr int64_t kBytes = 4;
    static constexpr bool kEvenOdd = false;
    static G4_INLINE void load16(const std::byte* p, f32x8& a, f32x8& b) {
        std::memcpy(&a, p, sizeof a);
        std::memcpy(&b, p + 32, sizeof b);
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
    static G4_INLINE void load16(const std::byte* p, f32x8& even, f32x8& odd) {
        u32x8 pairs;
        std::memcpy(&pairs, p, sizeof pairs);
        even = std::bit_cast<f32x8>(pairs << 16);
        odd = std::bit_cast<f32x8>(pairs & 0xffff0000u);
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
    static G4_INLINE f32x8 load8(const std::byte* p) {
        u16x8 h16;
        std::memcpy(&h16, p, sizeof h16);
        const u32x8 h = __builtin_convertvector(h16, u32x8);
        const u32x8 sign = (h & 0x8000u) << 16;
        const u32x8 em = (h & 0x7fffu) << 13;
        const u32x8 scaled = std::bit_cast<u32x8>(std::bit_cast<f32x8>(em) * 0x1p112f);
        const u32x8 is_inf_nan = std::bit_cast<u32x8>((h & 0x7c00u) == 0x7c00u);  // all ones where exponent is 31
        const u32x8 bits = (is_inf_nan & (em | 0x7f800000u)) | (~is_inf_nan & scaled);
        return std::bit_cast<f32x8>(bits | sign);
    }
    static G4_INLINE void load16(const std::byte* p, f32x8& a, f32x8& b) {
        a = load8(p);
        b = load8(p + 16);
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

// Output rows [o0, o1) for NT tokens starting at t0: out[t][o] = x[t] · W[o]. Each weight row is read once, sixteen
// values at a time, and multiplied into every token's accumulators. x is in the weight type's layout (kEvenOdd:
// decode_x_layout), the same [T, in] shape. The accumulators live in registers (NT and G are compile-time
// constants, the loops unroll): 2·G independent vectors per token so that consecutive FMAs do not wait on each other
// (one token needs 4 chains to cover the FMA latency; with two or more tokens, 2 per token do). Keeping them in
// registers is the whole point: a sum array indexed by a run-time token count lives in memory, and every addition
// then waits on a store → load round trip (the earlier version of this loop reached about half of the memory
// bandwidth that way).
template <class Weights, int NT>
G4_INLINE void dot_rows(float* out, const float* x, const std::byte* w, int64_t in, int64_t out_dim, int t0, int64_t o0,
                        int64_t o1) {
    constexpr int G = NT == 1 ? 2 : 1;  // groups of 16 per step
    constexpr int64_t kStep = 16 * G;
    const int64_t vec_end = in - in % kVectorSpan;  // a multiple of kStep; the rest is the scalar tail
    const float* xt0 = x + int64_t(t0) * in;
    for (int64_t o = o0; o < o1; ++o) {
        const std::byte* wr = w + o * in * Weights::kBytes;
        f32x8 acc[NT][2 * G] = {};
        for (int64_t i = 0; i < vec_end; i += kStep) {
            f32x8 wv[2 * G];
#pragma GCC unroll 4
            for (int g = 0; g < G; ++g) Weights::load16(wr + (i + 16 * g) * Weights::kBytes, wv[2 * g], wv[2 * g + 1]);
#pragma GCC unroll 4
            for (int t = 0; t < NT; ++t)
#pragma GCC unroll 4
                for (int v = 0; v < 2 * G; ++v) acc[t][v] += load_f32x8(xt0 + int64_t(t) * in + i + 8 * v) * wv[v];
        }
#pragma GCC unroll 4
        for (int t = 0; t < NT; ++t) {
            f32x8 a = acc[t][0];
#pragma GCC unroll 4
            for (int v = 1; v < 2 * G; ++v) a += acc[t][v];
            float sum = hsum(a);
            for (int64_t i = vec_end; i < in; ++i) sum += xt0[int64_t(t) * in + i] * Weights::load1(wr + i * Weights::kBytes);
            out[int64_t(t0 + t) * out_dim + o] = sum;
        }
    }
}

// All T tokens for rows [o0, o1): tiles of up to four tokens (the row block, a few tens of KiB, stays in L1/L2
// between tiles, so memory still sees each weight once).
template <class Weights>
G4_INLINE void rows_all_tokens(float* out, const float* x, const WeightView& W, int T, int64_t o0, int64_t o1) {
    for (int t0 = 0; t0 < T; t0 += 4) {
        switch (std::min(4, T - t0)) {
            case 1: dot_rows<Weights, 1>(out, x, W.data, W.cols, W.rows, t0, o0, o1); break;
            case 2: dot_rows<Weights, 2>(out, x, W.data, W.cols, W.rows, t0, o0, o1); break;
            case 3: dot_rows<Weights, 3>(out, x, W.data, W.cols, W.rows, t0, o0, o1); break;
            default: dot_rows<Weights, 4>(out, x, W.data, W.cols, W.rows, t0, o0, o1); break;
        }
    }
}

// x[T, in] in the layout the weight type reads: for bf16, each group of 16 values of the vector span as its 8 even
// then its 8 odd ones (the scalar tail stays as it is); other types read x unchanged. Returns x or buf's data.
const float* decode_x_layout(const WeightView& W, const float* x, int T, std::vector<float>& buf) {
    if (!BF16Weights::kEvenOdd || W.dtype != DType::BF16) return x;
    const int64_t in = W.cols, full = in - in % kVectorSpan;
    buf.resize(static_cast<size_t>(int64_t(T) * in));
    for (int t = 0; t < T; ++t) {
        const float* src = x + int64_t(t) * in;
        float* dst = buf.data() + int64_t(t) * in;
        for (int64_t g = 0; g < full; g += 16)
            for (int k = 0; k < 8; ++k) {
                dst[g + k] = src[g + 2 * k];
                dst[g + 8 + k] = src[g + 2 * k + 1];
            }
        std::copy(src + full, src + in, dst + full);
    }
    return buf.data();
}

G4_INLINE void small_t_rows_body(float* out, const float* x, const WeightView& W, int T, int64_t o0, int64_t o1) {
    switch (W.dtype) {
        case DType::F32: rows_all_tokens<F32Weights>(out, x, W, T, o0, o1); break;
        case DType::BF16: rows_all_tokens<BF16Weights>(out, x, W, T, o0, o1); break;
        default: rows_all_tokens<F16Weights>(out, x, W, T, o0, o1); break;
    }
}

// The same body compiled twice: portable x86-64 (SSE2) and AVX2 + FMA, picked at run time.
void small_t_rows_generic(float* out, const float* x, const WeightView& W, int T, int64_t o0, int64_t o1) {
    small_t_rows_body(out, x, W, T, o0, o1);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2,fma"))) void small_t_rows_avx2(float* out, const float* x, const WeightView& W, int T,
                                                           int64_t o0, int64_t o1) {
    small_t_rows_body(out, x, W, T, o0, o1);
}
const bool kHaveAvx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif

// Rows [o0, o1) of the decode kernel in the calling thread, AVX2 where the CPU has it.
void small_t_rows(float* out, const float* x, const WeightView& W, int T, int64_t o0, int64_t o1) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (kHaveAvx2) {
        small_t_rows_avx2(out, x, W, T, o0, o1);
        return;
    }
#endif
    small_t_rows_generic(out, x, W, T, o0, o1);
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

// The whole matmul in the calling thread (one expert inside a parallel loop over experts).
void matmul_one_thread(float* out, const float* x, const WeightView& W, int T, std::vector<float>& w_block) {
    if (T < kBlasMinTokens) {
        std::vector<float> x_layout;
        small_t_rows(out, decode_x_layout(W, x, T, x_layout), W, T, 0, W.rows);
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

// The decode fast path (T <= kBlasMinTokens). The rows go out in blocks of about 64 KiB of weight, handed to the
// threads dynamically: each block is streamed front to back (the hardware prefetcher follows it), and on a shared
// machine a thread that loses its core for a while holds up the others by one block, not by half the matrix.
void matmul_small_t(float* out, const float* x, const WeightView& W, int T) {
    if (T > kBlasMinTokens) throw Error("matmul_small_t: T = " + std::to_string(T) + " > kBlasMinTokens");
    require_float_dtype(W.dtype);
    const int64_t out_dim = W.rows;
    const int64_t row_bytes = std::max<int64_t>(1, W.cols * static_cast<int64_t>(dtype_size(W.dtype)));
    const int64_t rows_per_block = std::max<int64_t>(1, (int64_t(64) << 10) / row_bytes);
    const int64_t blocks = (out_dim + rows_per_block - 1) / rows_per_block;
    std::vector<float> x_layout;
    const float* xl = decode_x_layout(W, x, T, x_layout);
#pragma omp parallel for schedule(dynamic)
    for (int64_t b = 0; b < blocks; ++b)
        small_t_rows(out, xl, W, T, b * rows_per_block, std::min(out_dim, (b + 1) * rows_per_block));
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
void matmul_blas(float* out, const float* x, const WeightView& W, int T) {
    if (T < kBlasMinTokens) {
        matmul_small_t(out, x, W, T);
        return;
    }
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
// Backend::moe_experts's loop (backend.cpp) with the experts of a prompt spread over the threads: each thread takes
// whole experts (largest first, dynamic schedule) and runs their gather → gate_up → gelu·up → down single-threaded,
// so there is one fork/join per layer instead of two per expert. Each result row lands in its (token, choice) slot;
// then every token adds its K slots in ascending expert order, with scatter_add_rows's expression, which is the order
// of additions of the loop. Tokens go in chunks so the slot buffer stays bounded (K · chunk · D floats).
void moe_experts_blas(float* out, const float* x, const int32_t* ids, const float* weights, const MoeExpertsShape& s) {
    const int D = s.D, E = s.E, K = s.K, I = s.I;
    constexpr int kTokenChunk = 1024;
    if (s.T > kTokenChunk) {
        for (int t0 = 0; t0 < s.T; t0 += kTokenChunk) {
            MoeExpertsShape part = s;
            part.T = std::min(kTokenChunk, s.T - t0);
            moe_experts_blas(out + int64_t(t0) * D, x + int64_t(t0) * D, ids + int64_t(t0) * K, weights + int64_t(t0) * K, part);
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
                matmul_one_thread(gate_up.data(), u.data(), expert_slice(*s.gate_up, e), n, w_block);
                gelu_mul_halves(hidden.data(), gate_up.data(), n, I);
                matmul_one_thread(ye.data(), hidden.data(), expert_slice(*s.down, e), n, w_block);
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
