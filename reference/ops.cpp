// ops.cpp — the primitive ops (ops.h). Plain loops first; the OpenBLAS matmul sits beside its reference twin.
// OpenMP parallelises outer loops only; each loop body reads as the formula it implements.
#include "ops.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "error.h"
#include "safetensors.h"

namespace gemma4 {

WeightView weight_view(const TensorRef& t) {
    WeightView w;
    w.data = t.data;
    w.dtype = t.dtype;
    if (t.shape.size() == 2) {
        w.rows = t.shape[0];
        w.cols = t.shape[1];
    } else if (t.shape.size() == 1) {
        w.rows = 1;
        w.cols = t.shape[0];
    } else {
        throw Error(t.file + ": tensor " + t.name + " is not 1-D or 2-D; cannot view it as a matrix");
    }
    return w;
}

WeightView expert_slice(const TensorRef& t, int64_t expert) {
    if (t.shape.size() != 3 || expert < 0 || expert >= t.shape[0])
        throw Error(t.file + ": tensor " + t.name + ": no expert " + std::to_string(expert));
    WeightView w;
    w.dtype = t.dtype;
    w.rows = t.shape[1];
    w.cols = t.shape[2];
    w.data = t.data + expert * w.rows * w.cols * static_cast<int64_t>(dtype_size(t.dtype));
    return w;
}

void weight_row_f32(const WeightView& w, int64_t row, float* out) {
    // Checkpoint data is only guaranteed byte-aligned (safetensors.h), so rows are read with memcpy, never through a
    // cast pointer.
    const int64_t n = w.cols;
    const std::byte* src = w.data + row * n * static_cast<int64_t>(dtype_size(w.dtype));
    switch (w.dtype) {
        case DType::F32:
            std::memcpy(out, src, static_cast<size_t>(n) * sizeof(float));
            return;
        case DType::BF16:
        case DType::F16:
            // 512 values at a time: one memcpy into an aligned buffer, then a loop the compiler vectorises.
            for (int64_t i0 = 0; i0 < n; i0 += 512) {
                const int64_t len = std::min<int64_t>(512, n - i0);
                uint16_t bits[512];
                std::memcpy(bits, src + 2 * i0, static_cast<size_t>(len) * 2);
                if (w.dtype == DType::BF16)
                    for (int64_t i = 0; i < len; ++i) out[i0 + i] = bf16_to_f32(bits[i]);
                else
                    for (int64_t i = 0; i < len; ++i) out[i0 + i] = f16_to_f32(bits[i]);
            }
            return;
        default:
            throw Error(std::string("weight dtype ") + dtype_name(w.dtype) + " is not supported (expected F32, BF16 or F16)");
    }
}

std::vector<float> weight_to_f32(const WeightView& w) {
    std::vector<float> out(static_cast<size_t>(w.rows * w.cols));
    for (int64_t r = 0; r < w.rows; ++r) weight_row_f32(w, r, out.data() + r * w.cols);
    return out;
}

// ---- matmul ----------------------------------------------------------------------------------------------------

// Σ a[i]·b[i] with eight partial sums: a single running sum forbids the compiler to reorder the additions, so it
// could not use SIMD lanes. The result differs from the one-sum order by float rounding only.
static float dot(const float* a, const float* b, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; ++k) acc[k] += a[i + k] * b[i + k];
    float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; ++i) sum += a[i] * b[i];
    return sum;
}

void matmul_ref(float* out, const float* x, const WeightView& W, int T) {
    const int64_t in = W.cols, out_dim = W.rows;
    // One weight row at a time (converted once), dotted with every token: the weight is read once per call.
#pragma omp parallel
    {
        std::vector<float> w_row(static_cast<size_t>(in));
#pragma omp for schedule(static)
        for (int64_t o = 0; o < out_dim; ++o) {
            weight_row_f32(W, o, w_row.data());
            for (int t = 0; t < T; ++t) out[int64_t(t) * out_dim + o] = dot(x + int64_t(t) * in, w_row.data(), in);
        }
    }
}

void matmul_blas(float* out, const float* x, const WeightView& W, int T) {
    const int64_t in = W.cols, out_dim = W.rows;
    if (W.dtype == DType::F32 && reinterpret_cast<uintptr_t>(W.data) % alignof(float) == 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, static_cast<int>(out_dim), static_cast<int>(in), 1.0f, x,
                    static_cast<int>(in), reinterpret_cast<const float*>(W.data), static_cast<int>(in), 0.0f, out,
                    static_cast<int>(out_dim));
        return;
    }
    // bf16 / f16 (or misaligned f32): convert a block of weight rows to float32, multiply it, move on (bounded extra memory).
    const int64_t block = std::max<int64_t>(1, std::min<int64_t>(out_dim, (int64_t(1) << 22) / std::max<int64_t>(in, 1)));
    std::vector<float> w_block(static_cast<size_t>(block * in));
    for (int64_t o0 = 0; o0 < out_dim; o0 += block) {
        const int64_t rows = std::min(block, out_dim - o0);
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < rows; ++r) weight_row_f32(W, o0 + r, w_block.data() + r * in);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, static_cast<int>(rows), static_cast<int>(in), 1.0f, x,
                    static_cast<int>(in), w_block.data(), static_cast<int>(in), 0.0f, out + o0, static_cast<int>(out_dim));
    }
}

void matmul(float* out, const float* x, const WeightView& W, int T, MatmulBackend backend) {
    if (backend == MatmulBackend::Blas && T >= kBlasMinTokens) matmul_blas(out, x, W, T);
    else matmul_ref(out, x, W, T);
}

// ---- elementwise and row ops ----------------------------------------------------------------------------------

void rms_norm(float* out, const float* x, const float* w, int64_t rows, int n, float eps) {
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * n;
        float* yr = out + r * n;
        float sum_sq = 0.0f;
        for (int i = 0; i < n; ++i) sum_sq += xr[i] * xr[i];
        // transformers: x * torch.pow(mean(x²) + eps, -0.5), all in float32
        const float inv = std::pow(sum_sq / static_cast<float>(n) + eps, -0.5f);
        for (int i = 0; i < n; ++i) yr[i] = xr[i] * inv * (w ? w[i] : 1.0f);
    }
}

float gelu_tanh(float x) {
    const float k = 0.7978845608028654f;  // sqrt(2/pi)
    return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x)));
}

void gelu_tanh(float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) x[i] = gelu_tanh(x[i]);
}

void softmax(float* x, int n) {
    float max_v = -std::numeric_limits<float>::infinity();
    for (int i = 0; i < n; ++i) max_v = std::max(max_v, x[i]);
    if (max_v == -std::numeric_limits<float>::infinity()) {  // every entry masked: define the row as zeros
        std::fill(x, x + n, 0.0f);
        return;
    }
    float sum = 0.0f;
    for (int i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - max_v);
        sum += x[i];
    }
    const float inv = 1.0f / sum;
    for (int i = 0; i < n; ++i) x[i] *= inv;
}

void soft_cap(float* x, int64_t n, float cap) {
    for (int64_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] / cap);
}

void rope_rotate_half(float* x, int T, int heads, int Dh, const int64_t* positions, const float* inv_freq) {
    const int half = Dh / 2;
    for (int t = 0; t < T; ++t) {
        const float pos = static_cast<float>(positions[t]);
        for (int i = 0; i < half; ++i) {
            const float angle = pos * inv_freq[i];  // float32, as torch computes position_ids.float() * inv_freq
            const float c = std::cos(angle), s = std::sin(angle);
            for (int h = 0; h < heads; ++h) {
                float* v = x + (int64_t(t) * heads + h) * Dh;
                const float a = v[i], b = v[i + half];
                // x·cos + rotate_half(x)·sin, rotate_half(x) = cat(−x[half:], x[:half])
                v[i] = a * c - b * s;
                v[i + half] = b * c + a * s;
            }
        }
    }
}

std::vector<float> rope_inv_freq(int Dh, double theta, int rotated_pairs, double factor) {
    std::vector<float> inv(static_cast<size_t>(Dh / 2), 0.0f);
    for (int i = 0; i < rotated_pairs && i < Dh / 2; ++i) {
        // torch: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), computed in float32
        const float exponent = static_cast<float>(2 * i) / static_cast<float>(Dh);
        inv[i] = 1.0f / std::pow(static_cast<float>(theta), exponent) / static_cast<float>(factor);
    }
    return inv;
}

void add(float* out, const float* a, const float* b, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void scale(float* x, int64_t n, float s) {
    for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

}  // namespace gemma4
