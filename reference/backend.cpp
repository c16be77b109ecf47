// backend.cpp — the two CPU backends (backend.h).
#include "backend.h"

#include <cstring>

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

Backend& ref_backend() {
    static RefBackend backend;
    return backend;
}

Backend& blas_backend() {
    static BlasBackend backend;
    return backend;
}

}  // namespace gemma4
