// cl_ops.h — the reference ops (reference/ops.h) run by the kernels in kernels/*.cl, one host wrapper each. This
// first slice takes host pointers: each call uploads its inputs, runs, and downloads the result (blocking), so it is
// a parity harness, not yet a fast path; device-resident tensors arrive with the Backend interface (design §6).
// Shapes use the legend of ops.h (T tokens, D width, Dh head dim, ...). Every call throws gemma4::Error on failure.
#pragma once

#include <cstdint>

#include "cl_runtime.h"
#include "ops.h"

namespace gemma4::cl {

// out[T, out_dim] = x[T, in] · Wᵀ, W f32, bf16 or f16 stored (out_dim, in). A weight larger than the device's
// max allocation is uploaded and multiplied in blocks of rows.
void cl_matmul(ClContext& cl, float* out, const float* x, const WeightView& W, int T);

// x[rows, n] → out[rows, n]: y = x · (mean(x²) + eps)^(-1/2) · w; w == nullptr is the weightless form. out may equal x.
void cl_rms_norm(ClContext& cl, float* out, const float* x, const float* w, int64_t rows, int n, float eps);

// x[T, heads, Dh] in place: rotate-half RoPE, pair (i, i + Dh/2) of token t by positions[t] · inv_freq[i], i < Dh/2
// (inv_freq[Dh/2]; 0 = pass-through pair).
void cl_rope(ClContext& cl, float* x, int T, int heads, int Dh, const int64_t* positions, const float* inv_freq);

// x[rows, n] in place: softmax of each row; -inf entries give 0, an all -inf row gives zeros.
void cl_softmax_rows(ClContext& cl, float* x, int64_t rows, int n);

// x[n] in place: cap · tanh(x / cap).
void cl_soft_cap(ClContext& cl, float* x, int64_t n, float cap);

// x[n] in place: gelu with the tanh approximation.
void cl_gelu_tanh(ClContext& cl, float* x, int64_t n);

// out[n] = gelu_tanh(gate[n]) · up[n] (the MLP's activation; out may alias gate or up).
void cl_gelu_mul(ClContext& cl, float* out, const float* gate, const float* up, int64_t n);

// out[n] = a[n] + b[n] (out may alias a or b).
void cl_add(ClContext& cl, float* out, const float* a, const float* b, int64_t n);

// x[n] *= s
void cl_scale(ClContext& cl, float* x, int64_t n, float s);

// The attention inner loop of reference/attention.cpp: for query t and head h, p = softmax over s of q·k (scale 1.0)
// where attention_allowed(q_pos[t], k_pos[s], window) (window 0 = full causal), −inf elsewhere; out = Σ p·v. GQA:
// head h reads KV head h / (H / Hkv). q[T, H, Dh], k and v[S, Hkv, Dh], q_pos[T], k_pos[S] → out[T, H·Dh] and, when
// weights != nullptr, the probabilities weights[H, T, S]. A query with every key masked gives zeros.
void cl_attention(ClContext& cl, const float* q, const float* k, const float* v, const int64_t* q_pos, const int64_t* k_pos,
                  int T, int S, int H, int Hkv, int Dh, int window, float* out, float* weights);

// The MoE router's selection (reference: moe_route) for T tokens: probs[T, E] → the K largest per token (ties: lower
// index first) in ids[T, K], renormalised to sum 1 and × per_expert_scale[id] in weights[T, K].
void cl_moe_route(ClContext& cl, const float* probs, int T, int E, int K, const float* per_expert_scale, int32_t* ids,
                  float* weights);

}  // namespace gemma4::cl
