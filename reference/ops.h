// ops.h — the primitive operations of the Gemma 4 forward passes, one free function each, raw float pointers in and
// out, every dimension explicit. This is the definition of each op: the OpenCL kernels and the OpenBLAS path are
// checked against these loops. What is *not* here: model structure (text_model.cpp, attention.cpp, moe.cpp, ple.cpp).
//
// Legend (shape comments everywhere in reference/):
//   T   tokens in this step            S    keys attended over (cached + new)
//   D   model width                    F    MLP width of the layer
//   H   query heads                    Hkv  key/value heads of the layer
//   Dh  head dim of the layer          E    experts, K experts chosen per token
//   P   PLE width                      V    vocabulary
// Matrices are row-major. A weight W is stored (out, in) as in the checkpoint, so y = x · Wᵀ.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "dtype.h"

namespace gemma4 {

struct TensorRef;

// A 2-D view on a stored weight, in its stored dtype (f32, bf16 or f16); rows are converted to float32 where used.
// A 3-D expert tensor [E, out, in] is viewed one expert at a time (expert_slice).
struct WeightView {
    const std::byte* data = nullptr;
    DType dtype = DType::F32;
    int64_t rows = 0;  // out
    int64_t cols = 0;  // in
};
WeightView weight_view(const TensorRef& t);                          // 2-D tensor, or 1-D as a single row
WeightView expert_slice(const TensorRef& t, int64_t expert);         // [E, out, in] → expert's (out, in)
void weight_row_f32(const WeightView& w, int64_t row, float* out);   // out[cols]
std::vector<float> weight_to_f32(const WeightView& w);               // whole matrix (small tensors: norms, scales)

// Which matmul runs. Ref: the plain loop (the definition). Blas: OpenBLAS sgemm for T >= kBlasMinTokens, converting
// bf16/f16 weights to float32 a block of rows at a time; otherwise identical to matmul_ref.
enum class MatmulBackend { Ref, Blas };
inline constexpr int kBlasMinTokens = 32;  // below this sgemm's packing costs more than it saves (decode is T = 1)

// out[T, out_dim] = x[T, in] · Wᵀ
void matmul(float* out, const float* x, const WeightView& W, int T, MatmulBackend backend);
void matmul_ref(float* out, const float* x, const WeightView& W, int T);
void matmul_blas(float* out, const float* x, const WeightView& W, int T);

// RMSNorm over the last dim (Gemma4RMSNorm): y = x · (mean(x²) + eps)^(-1/2) · w. The weight multiplies directly
// (not 1 + w as in Gemma 1-3); w == nullptr is the weightless form (v_norm, router norm, projector norm).
// x[rows, n] → out[rows, n]; out may equal x.
void rms_norm(float* out, const float* x, const float* w, int64_t rows, int n, float eps);

// gelu with the tanh approximation (gelu_pytorch_tanh): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), in place.
void gelu_tanh(float* x, int64_t n);
float gelu_tanh(float x);

// Numerically stable softmax over n values, in place (max subtracted first). Entries of -inf give 0.
void softmax(float* x, int n);

// c · tanh(x / c), in place (Gemma's final logit soft-cap).
void soft_cap(float* x, int64_t n, float cap);

// RoPE in the rotate-half (NeoX) layout, in place on x[T, heads, Dh]: pair (i, i + Dh/2) of token t is rotated by
// angle positions[t] · inv_freq[i], i < Dh/2. inv_freq[i] = 0 leaves the pair unchanged (p-RoPE pass-through).
// Angles are float32 products, as transformers computes them.
void rope_rotate_half(float* x, int T, int heads, int Dh, const int64_t* positions, const float* inv_freq);

// Inverse frequencies of one RoPE layer kind (transformers' modeling_rope_utils):
//   default:       inv_freq[i] = θ^(−2i/Dh)                    for i < Dh/2
//   proportional:  inv_freq[i] = θ^(−2i/Dh) for i < rotated,   0 for the remaining Dh/2 − rotated pairs
// (the exponent's denominator is the full head dim in both), then divided by `factor`.
std::vector<float> rope_inv_freq(int Dh, double theta, int rotated_pairs, double factor);

// out[n] = a[n] + b[n] (out may alias a or b).
void add(float* out, const float* a, const float* b, int64_t n);
// x[n] *= s
void scale(float* x, int64_t n, float s);

}  // namespace gemma4
