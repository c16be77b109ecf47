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

// The matmul of cl_matmul with its weight and input resident on the device (the benchmark's path: time only the
// kernel and the read of the output). The constructor uploads W, which must fit one allocation, and allocates x[T, in]
// and out[T, out_dim]; set_input uploads x; run enqueues the kernel and reads out[T, out_dim] (blocking).
class ClMatmulResident {
public:
    ClMatmulResident(ClContext& cl, const WeightView& W, int T);
    void set_input(const float* x);
    void run(float* out);

private:
    ClContext& cl_;
    Buffer w_, x_, out_;
    int T_ = 0;
    int64_t in_ = 0, out_dim_ = 0;
    const char* kernel_name_ = nullptr;
};

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

// out[T, table.cols] = row ids[t] of `table` (f32, bf16 or f16) × scale (reference: weight_row_f32 then scale). Only
// the T requested rows travel: the host copies them, in their stored dtype, into a staging buffer [T, cols] and the
// device converts and scales (the real tables are over 1 GB, beyond PoCL's per-buffer limit). Repeated ids are
// copied once per occurrence. An id outside [0, table.rows) throws.
void cl_embed_rows(ClContext& cl, const WeightView& table, const int32_t* ids, int T, float scale, float* out);

// out[n] = (context[n] + token[n]) · 2^-1/2, the PLE mix of ple_compute_inputs (out may alias either input).
void cl_ple_mix(ClContext& cl, float* out, const float* context, const float* token, int64_t n);

// out[T, P] = gelu_tanh(gate[T, P]) ⊙ inputs[:, l, :] of inputs[T, L, P] (ple_layer_forward's gate, gate taken
// before the gelu).
void cl_ple_gate(ClContext& cl, float* out, const float* gate, const float* inputs, int T, int L, int P, int l);

// The vision pooler (reference: VisionTower::encode's _avg_pool_by_positions): patch n of x[N, Dv] adds 1/k² · x[n]
// to cell pos_x[n]/k + (cols/k)·(pos_y[n]/k), summed in patch order, then × √Dv → out[G, Dv]. A cell outside [0, G)
// throws.
void cl_vision_pool(ClContext& cl, float* out, const float* x, int N, int Dv, const int32_t* pos_x, const int32_t* pos_y,
                    int cols, int k, int G);

// x[N, H, Dh] in place: the vision 2-D RoPE (reference: rope_2d in vision.cpp): the first Dh/2 values rotated by
// pos_x[n], the second by pos_y[n], each half rotate-half with pairs (i, i + Dh/4) by pos · inv_freq[i], i < Dh/4.
void cl_rope_2d(ClContext& cl, float* x, int N, int H, int Dh, const int32_t* pos_x, const int32_t* pos_y, const float* inv_freq);

}  // namespace gemma4::cl
