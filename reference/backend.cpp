// backend.cpp — the CPU backends (backend.h).
#include "backend.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace gemma4 {

namespace {
// A float32 activation [rows, cols] seen as a weight, so matmul gives out[M, rows] = a[M, cols] · bᵀ.
WeightView f32_view(const float* b, int64_t rows, int64_t cols) {
    return WeightView{reinterpret_cast<const std::byte*>(b), DType::F32, rows, cols};
}
}  // namespace

void RefBackend::matmul_nt(float* out, const float* a, const float* b, int M, int N, int K) { matmul_ref(out, a, f32_view(b, N, K), M); }

void RefBackend::copy(float* dst, const float* src, int64_t n) {
    if (n > 0 && dst != src) std::memmove(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void RefBackend::softmax_rows(float* x, int64_t rows, int n) {
#pragma omp parallel for
    for (int64_t r = 0; r < rows; ++r) softmax(x + r * n, n);
}

void BlasBackend::matmul(float* out, const float* x, const WeightView& W, int T) { gemma4::matmul(out, x, W, T, MatmulBackend::Blas); }

void BlasBackend::matmul_nt(float* out, const float* a, const float* b, int M, int N, int K) {
    gemma4::matmul(out, a, f32_view(b, N, K), M, MatmulBackend::Blas);
}

void Backend::matmul_group(const float* x, int T, std::span<const MatmulOut> outs) {
    for (const MatmulOut& o : outs) matmul(o.out, x, *o.W, T);
}

// transformers' expert loop (Gemma4TextExperts.forward): experts in ascending order, each on the tokens that chose
// it, so every token's contributions are added in ascending expert order.
void Backend::moe_experts(float* out, const float* x, const int32_t* ids, const float* weights, const MoeExpertsShape& s) {
    const int T = s.T, D = s.D, K = s.K, I = s.I;
    std::fill_n(out, int64_t(T) * D, 0.0f);
    from_host(out, int64_t(T) * D);
    std::vector<int32_t> tokens;
    std::vector<float> token_weight;
    for (int e = 0; e < s.E; ++e) {
        tokens.clear();
        token_weight.clear();
        for (int t = 0; t < T; ++t)
            for (int j = 0; j < K; ++j)
                if (ids[int64_t(t) * K + j] == e) {
                    tokens.push_back(t);
                    token_weight.push_back(weights[int64_t(t) * K + j]);
                }
        if (tokens.empty()) continue;
        const int n = static_cast<int>(tokens.size());
        gather_rows(s.u, x, tokens.data(), n, D);
        matmul(s.gate_up_out, s.u, expert_slice(*s.gate_up, e), n);
        gelu_mul_halves(s.hidden, s.gate_up_out, n, I);
        matmul(s.y, s.hidden, expert_slice(*s.down, e), n);
        scatter_add_rows(out, s.y, tokens.data(), token_weight.data(), n, D);
    }
}

// Experts in parallel, each single-threaded: for a prompt the T·K routed rows spread over most experts keep every
// thread busy; for a decoded token its K experts are shared out (K = 8 over 2 threads: 4 each), one fork/join per
// layer instead of two matmuls and a gelu per expert, each split across the threads (~8 % faster on A4B-4L decode).
void BlasBackend::moe_experts(float* out, const float* x, const int32_t* ids, const float* weights, const MoeExpertsShape& s) {
    moe_experts_blas(out, x, ids, weights, s);
}

Backend& ref_backend() {
    static RefBackend backend;
    return backend;
}

Backend& blas_backend() {
    static BlasBackend backend;
    return backend;
}

Backend& bf16_backend() {
    static Bf16Backend backend;
    return backend;
}

}  // namespace gemma4
