// bench.h — what `gemma4 bench --ops` (cmd_bench.cpp) and `gemma4 bench -m MODEL` (bench_model.cpp) share: timing,
// medians, deterministic fill values, and the two machine limits every figure is compared against (read-only memory
// bandwidth and the OpenBLAS sgemm peak), each measured one repetition at a time so the caller can alternate them with
// its own measurements.
#pragma once

#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <cblas.h>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli.h"

namespace gemma4::cli::bench {

inline double seconds_of(const std::function<void()>& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

inline double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Deterministic pseudo-random floats in [-1, 1) (values do not matter for speed; NaNs and denormals would).
struct Lcg {
    uint64_t s;
    float next() {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        return static_cast<float>((s >> 40) & 0xffffff) / 8388608.0f - 1.0f;
    }
};

// Sum of a buffer on all cores, as fast as a core can add, so that memory is the only limit. The buffer is read as
// 32-bit integer lanes (integer adds never slow down on NaN or denormal bit patterns, so any bytes will do, the
// checkpoint's own included). Each thread sums one contiguous part, read as S streams side by side (the part cut
// into S pieces), with eight independent 8-lane accumulators in all (no addition waits on the one before); built
// twice — portable SSE2 and AVX2, picked at run time like the decode kernel (reference/ops_fast.cpp). The result goes
// to a volatile sink so the loop stays. Two ways of reading understate the machine, and each would flatter every
// roofline fraction measured against it:
//  - a single running vector sum (`omp simd reduction`) is latency-bound: about 20 % less than eight accumulators;
//  - one stream per core does not keep enough reads in flight on some machines: four per core read 10-35 % more in
//    some windows on this project's first machine, while on another one stream per core read the most
//    (docs/performance.md). bandwidth_sample() therefore takes the fastest of 1, 2, 4 and 8.
inline volatile uint32_t g_sink = 0;
using stream_u32x8 = uint32_t __attribute__((vector_size(32)));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
template <int S>
inline __attribute__((always_inline)) uint32_t stream_sum_part(const std::byte* p, int64_t bytes) {
    constexpr int A = 8 / S;                        // accumulators per stream
    constexpr int64_t kStep = 32 * A;               // bytes per stream and step
    const int64_t piece = (bytes / S) / kStep * kStep;  // each stream's share, whole steps
    stream_u32x8 acc[S][A] = {};
    for (int64_t i = 0; i < piece; i += kStep)
        for (int s = 0; s < S; ++s)
            for (int k = 0; k < A; ++k) {
                stream_u32x8 v;
                std::memcpy(&v, p + s * piece + i + 32 * k, sizeof v);
                acc[s][k] += v;
            }
    stream_u32x8 sum = {};
    for (int s = 0; s < S; ++s)
        for (int k = 0; k < A; ++k) sum += acc[s][k];
    uint32_t total = 0;
    for (int k = 0; k < 8; ++k) total += sum[k];
    for (int64_t i = S * piece; i < bytes; ++i) total += uint32_t(p[i]);
    return total;
}
template <int S>
inline uint32_t stream_sum_part_generic(const std::byte* p, int64_t bytes) { return stream_sum_part<S>(p, bytes); }
template <int S>
__attribute__((target("avx2"))) inline uint32_t stream_sum_part_avx2(const std::byte* p, int64_t bytes) { return stream_sum_part<S>(p, bytes); }
#pragma GCC diagnostic pop
template <int S>
inline uint32_t stream_sum(const std::byte* p, int64_t bytes) {
    static const bool avx2 = __builtin_cpu_supports("avx2");
    uint32_t s = 0;
#pragma omp parallel reduction(+ : s)
    {
        const int64_t threads = omp_get_num_threads(), id = omp_get_thread_num();
        const int64_t part = (bytes / threads) & ~int64_t(255);
        const int64_t begin = part * id, end = id == threads - 1 ? bytes : begin + part;
        s += avx2 ? stream_sum_part_avx2<S>(p + begin, end - begin) : stream_sum_part_generic<S>(p + begin, end - begin);
    }
    return s;
}
// One read of [p, p + bytes) with `streams` streams per core (1, 2, 4 or 8); seconds.
inline double stream_seconds(const std::byte* p, int64_t bytes, int streams) {
    switch (streams) {
        case 1: return seconds_of([&] { g_sink = g_sink + stream_sum<1>(p, bytes); });
        case 2: return seconds_of([&] { g_sink = g_sink + stream_sum<2>(p, bytes); });
        case 4: return seconds_of([&] { g_sink = g_sink + stream_sum<4>(p, bytes); });
        default: return seconds_of([&] { g_sink = g_sink + stream_sum<8>(p, bytes); });
    }
}
inline constexpr int kStreamCounts[4] = {1, 2, 4, 8};
// The fastest of 1, 2, 4 and 8 streams per core over [p, p + bytes): its seconds and which count (index into
// kStreamCounts) it was.
struct FastestRead {
    double seconds;
    int index;
};
inline FastestRead fastest_stream_read(const std::byte* p, int64_t bytes) {
    FastestRead best{stream_seconds(p, bytes, kStreamCounts[0]), 0};
    for (int i = 1; i < 4; ++i) {
        const double s = stream_seconds(p, bytes, kStreamCounts[i]);
        if (s < best.seconds) best = {s, i};
    }
    return best;
}

// The machine's limits. bandwidth_sample(): a streaming read of a buffer far larger than the caches, the fastest of
// 1, 2, 4 and 8 streams per core, and of the mapped region add_mapped() names if any (the buffer is allocated and
// first-touched on every core on the first call; release() frees it so it does not sit in the peak RSS of model
// runs). mapped_sample(): one read of the mapped region alone, between decoded tokens.
// sgemm_sample(): one n x n x n OpenBLAS sgemm (the faster of two threadings). All return seconds.
class Limits {
public:
    Limits(int64_t buffer_bytes, int gemm_n) : bytes_(buffer_bytes), n_(gemm_n) {
        a_.resize(size_t(n_) * n_);
        b_.resize(size_t(n_) * n_);
        c_.resize(size_t(n_) * n_);
        Lcg rng{42};
        for (float& v : a_) v = rng.next();
        for (float& v : b_) v = rng.next();
    }
    double bandwidth_sample() {
        const int64_t n = bytes_ / int64_t(sizeof(float));
        if (!big_) {
            // On 2 MiB pages where Linux can (as the checkpoint's mappings ask for: safetensors.cpp), so that the
            // roofline is not measured on slower pages than the weights are read from.
            constexpr size_t kHuge = size_t(2) << 20;
            const size_t bytes = (static_cast<size_t>(n) * sizeof(float) + kHuge - 1) / kHuge * kHuge;
            big_.reset(static_cast<float*>(std::aligned_alloc(kHuge, bytes)));
            if (!big_) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
            (void)::madvise(big_.get(), bytes, MADV_HUGEPAGE);
#endif
            float* p = big_.get();
#pragma omp parallel for schedule(static)
            for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(i & 1023) * 1e-3f;  // first touch on every core
            g_sink = g_sink + stream_sum<1>(reinterpret_cast<const std::byte*>(p), bytes_);  // warm-up
        }
        double s = fastest_read(reinterpret_cast<const std::byte*>(big_.get()), bytes_);
        if (mapped_) s = std::min(s, as_buffer_seconds(fastest_read(mapped_, mapped_bytes_)));  // the checkpoint's own pages
        return s;
    }
    // Also read [p, p + bytes) in every bandwidth sample, and keep the faster: bench -m passes the checkpoint's largest
    // tensor (the mapped pages decode streams from; page-cache pages that have been resident a long time can read
    // faster than a freshly allocated buffer in a virtual machine). Must stay mapped while the Limits live.
    void add_mapped(const std::byte* p, int64_t bytes) {
        mapped_ = p;
        mapped_bytes_ = bytes;
    }
    // The faster of two ways to run the same n³ sgemm, so the peak is not understated: OpenBLAS's own threads, and
    // OpenMP threads each running a single-threaded sgemm on their share of C's columns (how matmul_blas runs; right
    // after an OpenMP region, OpenMP's spinning workers slow OpenBLAS's pool down).
    double sgemm_sample() {
        if (!warm_) {
            run_sgemm();
            run_sgemm_split();
            warm_ = true;
        }
        return std::min(seconds_of([&] { run_sgemm(); }), seconds_of([&] { run_sgemm_split(); }));
    }
    // What bench -m samples after every decoded token (bench_model.cpp): one read of the mapped region with the
    // stream count that has won the most full samples so far (best_streams), not the fastest of four reads. Four
    // reads take ~4x as long, and on a machine whose bandwidth jumps between two levels within tens of milliseconds
    // their minimum keeps whichever read met the fast level, which overstates the bandwidth the decode had.
    // Seconds for buffer_bytes() at the rate read. Needs add_mapped.
    bool has_mapped() const { return mapped_ != nullptr; }
    double mapped_sample() const { return as_buffer_seconds(stream_seconds(mapped_, mapped_bytes_, best_streams())); }
    // The stream count per core (1, 2, 4 or 8) that was fastest in the most reads of the full samples so far (the
    // larger count on a tie; 1 before any sample).
    int best_streams() const {
        int best = 0;
        for (int i = 1; i < 4; ++i)
            if (wins_[i] >= wins_[best]) best = i;
        return wins_[best] > 0 ? kStreamCounts[best] : 1;
    }
    void release() { big_.reset(); }
    int64_t buffer_bytes() const { return bytes_; }
    int gemm_n() const { return n_; }
    double gb_s(double seconds) const { return double(bytes_) / seconds / 1e9; }
    double gflop_s(double seconds) const { return 2.0 * n_ * double(n_) * n_ / seconds / 1e9; }

private:
    // Seconds a read of the mapped region took, as seconds for buffer_bytes() at the same rate.
    double as_buffer_seconds(double mapped_seconds) const { return mapped_seconds * double(bytes_) / double(mapped_bytes_); }
    double fastest_read(const std::byte* p, int64_t bytes) {
        const FastestRead f = fastest_stream_read(p, bytes);
        ++wins_[f.index];
        return f.seconds;
    }
    int wins_[4] = {};  // how often each of kStreamCounts was the fastest read in a full sample

    void run_sgemm() {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n_, n_, n_, 1.0f, a_.data(), n_, b_.data(), n_, 0.0f, c_.data(), n_);
    }
    void run_sgemm_split() {
        const int saved = openblas_get_num_threads();
        openblas_set_num_threads(1);
#pragma omp parallel
        {
            const int threads = omp_get_num_threads(), id = omp_get_thread_num();
            const int c0 = n_ * id / threads, c1 = n_ * (id + 1) / threads;
            if (c1 > c0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n_, c1 - c0, n_, 1.0f, a_.data(), n_, b_.data() + c0, n_, 0.0f,
                            c_.data() + c0, n_);
        }
        openblas_set_num_threads(saved);
    }
    int64_t bytes_;
    int n_;
    const std::byte* mapped_ = nullptr;
    int64_t mapped_bytes_ = 0;
    struct Free {
        void operator()(float* p) const { std::free(p); }
    };
    std::unique_ptr<float, Free> big_;
    std::vector<float> a_, b_, c_;
    bool warm_ = false;
};

}  // namespace gemma4::cli::bench

namespace gemma4 {
struct Checkpoint;
struct TensorRef;
}  // namespace gemma4

namespace gemma4::cli::bench {
// bench_model.cpp: what `bench -m` and `bench -m --passes` share.
// A fixed pseudo-random id sequence over ordinary ids, <bos> first, so every run and every backend feeds the same tokens.
std::vector<int32_t> bench_tokens(int n, int32_t bos, int vocab, uint64_t seed);
// The LM head (the tied token embedding) when it is far larger than the caches (256 MiB or more), else null: the
// mapped pages every decoded token reads in full, which the bandwidth is sampled on between tokens.
const TensorRef* lm_head_far_beyond_caches(const Checkpoint& ck);
// The checkpoint's pages resident in this process, and how many of those bytes sit on 2 MiB pages (mapped_ranges in
// safetensors.h, over every file of the checkpoint; zeros where Linux's smaps is missing). Decode reads the weights
// faster on 2 MiB pages (docs/performance.md, round 10), so bench prints the share beside its figures.
struct WeightPages {
    int64_t resident = 0, on_huge_pages = 0;
    double huge_fraction() const { return resident > 0 ? double(on_huge_pages) / double(resident) : 0.0; }
};
WeightPages weight_pages(const Checkpoint& ck);
// The tokens every decode of `bench -m` and `bench -m --passes` feeds, on every run and backend: a prompt of
// kDecodeContext ids, then one step per id of decode_step_ids (its [0] is <bos> and is skipped: step i feeds [i + 1]).
inline constexpr int kDecodeContext = 16;
inline std::vector<int32_t> decode_prompt_ids(int32_t bos, int vocab) { return bench_tokens(kDecodeContext, bos, vocab, 2); }
inline std::vector<int32_t> decode_step_ids(int N, int32_t bos, int vocab) { return bench_tokens(N + 1, bos, vocab, 3); }
}  // namespace gemma4::cli::bench

namespace gemma4::cli {
// `gemma4 bench -m MODEL`: prefill and decode of a checkpoint per backend against the limits (bench_model.cpp).
int bench_model(const Args& args, const std::vector<std::string>& backends, int reps, bool quick, bool as_json);
// `gemma4 bench -m MODEL --passes`: where a decoded token's time goes, matmul pass by matmul pass (bench_passes.cpp).
int bench_passes(const Args& args, const std::vector<std::string>& backends, int reps, bool quick, bool as_json);
}  // namespace gemma4::cli
