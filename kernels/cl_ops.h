// cl_ops.h — the reference ops (reference/ops.h) run by the kernels in kernels/*.cl, one host wrapper each. The
// wrappers take host pointers; each activation argument goes through the context's HostIo (cl_runtime.h: in, out,
// inout, done). On a bare ClContext that uploads the inputs and downloads the result (blocking), so the wrappers are a
// parity harness; under the OpenCL Backend (kernels/cl_backend.h) ClResidency answers with device mirrors and nothing
// moves that need not. Parameters (norm weights, inv_freq, biases) and control data (positions, ids, masks) are always
// uploaded; weights can stay on the device (ClWeight, cl_matmul_enqueue).
// Shapes use the legend of ops.h (T tokens, D width, Dh head dim, ...). Every call throws gemma4::Error on failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "cl_runtime.h"
#include "mask.h"
#include "ops.h"

namespace gemma4::cl {

// out[T, out_dim] = x[T, in] · Wᵀ, W f32, bf16 or f16 stored (out_dim, in). A weight larger than the device's
// max allocation is uploaded and multiplied in blocks of rows, one block on the device at a time.
void cl_matmul(ClContext& cl, float* out, const float* x, const WeightView& W, int T);

// out[M, N] = a[M, K] · b[N, K]ᵀ, both float32 activations (the matmul_f32 kernel with b as the weight; b is split
// into row blocks like a weight when it exceeds the allocation limit).
void cl_matmul_nt(ClContext& cl, float* out, const float* a, const float* b, int M, int N, int K);

// A weight uploaded to the device once and kept, in its stored dtype (f32, bf16 or f16), split into blocks of whole
// rows when it is larger than cl.max_alloc_bytes() (every block but the last holds the same number of rows). An empty
// weight or an unsupported dtype throws. Move-only; the buffers belong to the context it was made on.
class ClWeight {
public:
    struct Block {
        Buffer buffer;     // rows × cols values of the stored dtype
        int64_t row0 = 0;  // first weight row in this block
        int64_t rows = 0;
    };

    ClWeight(ClContext& cl, const WeightView& W);  // uploads (blocking)
    ClWeight(ClWeight&&) noexcept = default;
    ClWeight& operator=(ClWeight&&) noexcept = default;

    int64_t rows() const { return rows_; }  // out
    int64_t cols() const { return cols_; }  // in
    DType dtype() const { return dtype_; }
    size_t bytes() const;                   // device bytes, all blocks
    const std::vector<Block>& blocks() const { return blocks_; }
    const char* kernel_name() const { return kernel_name_; }  // the matmul.cl kernel for this dtype

private:
    std::vector<Block> blocks_;
    int64_t rows_ = 0, cols_ = 0;
    DType dtype_ = DType::F32;
    const char* kernel_name_ = nullptr;
};

// out[T, rows] = x[T, cols] · Wᵀ with a resident weight: only x is uploaded and out downloaded (blocking).
void cl_matmul(ClContext& cl, float* out, const float* x, const ClWeight& W, int T);
// The same on device buffers, enqueued without waiting: x_buf holds x[T, cols], out_buf receives out[T, rows]. For
// callers that keep activations on the device (the Backend); sizes are checked against the buffers.
void cl_matmul_enqueue(ClContext& cl, const Buffer& out_buf, const Buffer& x_buf, const ClWeight& W, int T);

// The matmul of cl_matmul with its weight and input resident on the device (the benchmark's path: time only the
// kernel and the read of the output). The constructor uploads W (a ClWeight, split into blocks when it exceeds one
// allocation) and allocates x[T, in] and out[T, out_dim]; set_input uploads x; run enqueues the kernel over every
// block and reads out[T, out_dim] (blocking).
class ClMatmulResident {
public:
    ClMatmulResident(ClContext& cl, const WeightView& W, int T);
    void set_input(const float* x);
    void run(float* out);

private:
    ClContext& cl_;
    ClWeight w_;
    Buffer x_, out_;
    int T_ = 0;
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

// gate_up[rows, 2I] = [gate | up] → out[rows, I] = gelu_tanh(gate) · up (the MoE experts' activation).
void cl_gelu_mul_halves(ClContext& cl, float* out, const float* gate_up, int64_t rows, int I);

// x[n] in place: x · sigmoid(x).
void cl_silu(ClContext& cl, float* x, int64_t n);

// out[n] = torch.clamp(x, lo, hi); lo / hi may be ±inf; out may equal x.
void cl_clamp(ClContext& cl, float* out, const float* x, int64_t n, float lo, float hi);

// in[rows, 2n] → out[rows, n] = first half · sigmoid(second half) (nn.functional.glu).
void cl_glu(ClContext& cl, float* out, const float* in, int64_t rows, int n);

// x[rows, n] in place: x[r, i] = x[r, i] · w[i] · s.
void cl_mul_cols(ClContext& cl, float* x, int64_t rows, int n, const float* w, float s);

// out[n] = a[n] + b[n] · s (out may alias a or b).
void cl_add_scaled(ClContext& cl, float* out, const float* a, const float* b, float s, int64_t n);

// x[rows, n] in place: x[r, i] += bias[i].
void cl_add_rows(ClContext& cl, float* x, int64_t rows, int n, const float* bias);

// x[rows, n] in place: x[r, i] = (x[r, i] − bias[i]) · scale[i] (the vision tower's standardize).
void cl_standardize(ClContext& cl, float* x, int64_t rows, int n, const float* bias, const float* scale);

// out[n, D] = x[rows[i], :] (MoE: the tokens routed to one expert). Only x's rows min(rows) … max(rows) travel; a
// negative row throws.
void cl_gather_rows(ClContext& cl, float* out, const float* x, const int32_t* rows, int n, int D);

// out[rows[i], :] += y[i, :] · weights[i], i in order (MoE: an expert's outputs back to their tokens). Repeated rows
// give the reference's in-order sums (one work-item per column loops over i). Only out's rows min(rows) … max(rows)
// travel; a negative row throws.
void cl_scatter_add_rows(ClContext& cl, float* out, const float* y, const int32_t* rows, const float* weights, int n, int D);

// The most scores scratch [H, Tc, S] one attention launch uses; longer prompts run their queries in chunks of Tc.
inline constexpr uint64_t kAttentionScratchBytes = uint64_t(64) << 20;

// Text self-attention after the projections (reference: gemma4::attention in ops.h): for query t and head h,
// p = softmax over the S keys of q·k (scale 1.0) where the mask allows (mask.h attention_allowed: causal, sliding
// window when s.window > 0, and with q_block / k_block the ImageMask `rule` for a query and key of one image), −inf
// elsewhere; out = Σ p·v. GQA: head h reads KV head h / (H / Hkv). q[T, H, Dh], k and v[S, Hkv, Dh], q_pos[T],
// k_pos[S], q_block[T] and k_block[S] (image-run index, −1 = text; both nullptr when no image blocks apply) →
// out[T, H·Dh] and, when weights != nullptr, the probabilities weights[H, T, S]. A query with every key masked gives
// zeros. The scores scratch is bounded: queries run in chunks when [H, T, S] would exceed 64 MiB or one allocation.
void cl_attention(ClContext& cl, float* out, float* weights, const float* q, const float* k, const float* v, const int64_t* q_pos,
                  const int64_t* k_pos, const int32_t* q_block, const int32_t* k_block, ImageMask rule, const AttentionShape& s);

// The MoE router's selection (reference: moe_route) for T tokens: probs[T, E] → the K largest per token (ties: lower
// index first) in ids[T, K], renormalised to sum 1 and × per_expert_scale[id] in weights[T, K].
void cl_moe_route(ClContext& cl, const float* probs, int T, int E, int K, const float* per_expert_scale, int32_t* ids,
                  float* weights);

// out[T, table.cols] = row ids[t] of `table` (f32, bf16 or f16) × scale (reference: embed_rows). Only
// the T requested rows travel: the host copies them, in their stored dtype, into a staging buffer [T, cols] and the
// device converts and scales (the real tables are over 1 GB, beyond PoCL's per-buffer limit). Repeated ids are
// copied once per occurrence. An id outside [0, table.rows) throws.
void cl_embed_rows(ClContext& cl, const WeightView& table, const int32_t* ids, int T, float scale, float* out);

// out[n] = (context[n] + token[n]) · 2^-1/2, the PLE mix of ple_compute_inputs (out may alias either input).
void cl_ple_mix(ClContext& cl, float* out, const float* context, const float* token, int64_t n);

// out[T, P] = gate[T, P] ⊙ inputs[:, l, :] of inputs[T, L, P] (reference: ple_gate; the gate is already through
// gelu_tanh). out may equal gate.
void cl_ple_gate(ClContext& cl, float* out, const float* gate, const float* inputs, int T, int L, int P, int l);

// The vision pooler (reference: vision_pool, _avg_pool_by_positions): patch n of x[N, Dv] adds 1/k² · x[n]
// to cell pos_x[n]/k + (cols/k)·(pos_y[n]/k), summed in patch order, then × √Dv → out[G, Dv]. A cell outside [0, G)
// throws.
void cl_vision_pool(ClContext& cl, float* out, const float* x, int N, int Dv, const int32_t* pos_x, const int32_t* pos_y,
                    int cols, int k, int G);

// x[N, H, Dh] in place: the vision 2-D RoPE (reference: rope_2d): the first Dh/2 values rotated by
// pos_x[n], the second by pos_y[n], each half rotate-half with pairs (i, i + Dh/4) by pos · inv_freq[i], i < Dh/4.
void cl_rope_2d(ClContext& cl, float* x, int N, int H, int Dh, const int32_t* pos_x, const int32_t* pos_y, const float* inv_freq);

}  // namespace gemma4::cl
