// backend.h — who runs the ops. The forward passes (text_model, attention, moe, ple, vision, audio_tower) call the ops
// of ops.h through a Backend and never know which one it is:
//   RefBackend   the plain loops of ops.cpp: the definition every other backend is checked against;
//   BlasBackend  the CPU fast path: OpenBLAS sgemm for matmuls of T >= kBlasMinTokens, a multithreaded AVX2
//                matvec (matmul_small_t) below it;
//   ClBackend    kernels/cl_backend.h: the OpenCL kernels; weights and activations stay on the device.
//
// Every op takes host pointers with the shapes of ops.h: the model names its activations as host buffers. A backend
// with its own memory (ClBackend) may keep a device copy of any buffer it is handed and let the host copy go stale, so
// the model tells it where the host touches activation data, with four hooks that cost nothing on Ref / Blas (empty
// virtual calls; their memory *is* the host's):
//   to_host(p, n)    the host is about to read p[0..n)   (a probe a listener wants, MoE routing ids, the logits);
//   from_host(p, n)  the host has just written p[0..n)   (soft-token rows merged into the embeddings, a zero fill);
//   on_alloc(v)      v was (re)sized: its old contents, and any device copy of that memory, are dead;
//   on_free(v)       v is about to be freed.
// copy(dst, src, n) is an op (memmove semantics) so that moving activations around (K=V, the KV cache's append and
// trim) need not pass through the host. G4_PROBE_BE is G4_PROBE that calls to_host only for a probe a listener wants,
// so with no listener nothing but the logits comes back from the device. Probes of host-only data (weights, the
// input pixels / mel) use plain G4_PROBE.
#pragma once
#pragma once

#include <span>
#include <string>
#include <vector>

#include "ops.h"
#include "probes.h"

namespace gemma4 {

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;  // "ref", "blas", "bf16", "opencl"

    // ---- where the activations are (see the top of this file); bytes, so one hook serves float and int32 buffers
    virtual void to_host_bytes(const void* /*p*/, size_t /*bytes*/) {}
    virtual void from_host_bytes(const void* /*p*/, size_t /*bytes*/) {}
    virtual void on_alloc_bytes(const void* /*p*/, size_t /*bytes*/) {}
    virtual void on_free_bytes(const void* /*p*/, size_t /*bytes*/) {}
    template <typename T>
    void to_host(const T* p, int64_t n) { to_host_bytes(p, static_cast<size_t>(n) * sizeof(T)); }
    template <typename T>
    void from_host(const T* p, int64_t n) { from_host_bytes(p, static_cast<size_t>(n) * sizeof(T)); }
    template <typename T>
    void to_host(const std::vector<T>& v) { to_host_bytes(v.data(), v.size() * sizeof(T)); }
    template <typename T>
    void from_host(const std::vector<T>& v) { from_host_bytes(v.data(), v.size() * sizeof(T)); }
    template <typename T>
    void on_alloc(const std::vector<T>& v) { on_alloc_bytes(v.data(), v.size() * sizeof(T)); }
    template <typename T>
    void on_free(const std::vector<T>& v) { on_free_bytes(v.data(), v.size() * sizeof(T)); }

    // dst[0..n) = src[0..n); the ranges may overlap (memmove).
    virtual void copy(float* dst, const float* src, int64_t n) = 0;

    // out[T, W.rows] = x[T, W.cols] · Wᵀ for a stored weight (stable address: a backend may cache it by pointer).
    virtual void matmul(float* out, const float* x, const WeightView& W, int T) = 0;
    // Several matmuls of one input x[T, in] (a layer's q, k, v; gate and up): each outs[i] as by matmul, in turn
    // (backend.cpp). BlasBackend runs a decode group as one pass over all the weights (matmul_group_blas).
    virtual void matmul_group(const float* x, int T, std::span<const MatmulOut> outs);
    // out[M, N] = a[M, K] · b[N, K]ᵀ for two activations (vision attention's q·kᵀ and p·v).
    virtual void matmul_nt(float* out, const float* a, const float* b, int M, int N, int K) = 0;

    virtual void rms_norm(float* out, const float* x, const float* w, int64_t rows, int n, float eps) = 0;
    virtual void rope(float* x, int T, int heads, int Dh, const int64_t* positions, const float* inv_freq) = 0;
    virtual void softmax_rows(float* x, int64_t rows, int n) = 0;
    virtual void soft_cap(float* x, int64_t n, float cap) = 0;
    virtual void gelu(float* x, int64_t n) = 0;
    virtual void gelu_mul(float* out, const float* gate, const float* up, int64_t n) = 0;
    virtual void gelu_mul_halves(float* out, const float* gate_up, int64_t rows, int I) = 0;
    virtual void silu(float* x, int64_t n) = 0;
    virtual void clamp(float* out, const float* x, int64_t n, float lo, float hi) = 0;
    virtual void glu(float* out, const float* in, int64_t rows, int n) = 0;
    virtual void causal_dwconv(float* out, const float* x, const float* w, int T, int C, int K) = 0;
    virtual void add(float* out, const float* a, const float* b, int64_t n) = 0;
    virtual void add_scaled(float* out, const float* a, const float* b, float s, int64_t n) = 0;
    virtual void add_rows(float* x, int64_t rows, int n, const float* bias) = 0;
    virtual void scale(float* x, int64_t n, float s) = 0;
    virtual void mul_cols(float* x, int64_t rows, int n, const float* w, float s) = 0;
    virtual void standardize(float* x, int64_t rows, int n, const float* bias, const float* scale) = 0;

    virtual void embed_rows(float* out, const WeightView& table, const int32_t* ids, int T, float scale) = 0;
    virtual void gather_rows(float* out, const float* x, const int32_t* rows, int n, int D) = 0;
    virtual void scatter_add_rows(float* out, const float* y, const int32_t* rows, const float* weights, int n, int D) = 0;
    virtual void moe_route(const float* probs, int T, int E, int K, const float* per_expert_scale, int32_t* ids, float* weights) = 0;
    // The routed experts of one MoE layer (Gemma4TextExperts.forward): out[T, D] = Σ_j weights[t, j] · expert_{ids[t, j]}(x[t])
    // with expert_e(u) = down_e(gelu_tanh(gate) ⊙ up), [gate; up] = gate_up_e(u). ids and weights are on the host.
    // The default (backend.cpp) is transformers' loop: experts in ascending order, each on the tokens that chose it,
    // through gather_rows / matmul / gelu_mul_halves / matmul / scatter_add_rows of this backend, with the scratch
    // buffers of `s`. BlasBackend overrides it to run the experts of a prompt in parallel.
    virtual void moe_experts(float* out, const float* x, const int32_t* ids, const float* weights, const MoeExpertsShape& s);
    virtual void ple_mix(float* out, const float* context, const float* token, int64_t n) = 0;
    virtual void ple_gate(float* out, const float* gate, const float* inputs, int T, int L, int P, int l) = 0;

    virtual void attention(float* out, float* weights, const float* q, const float* k, const float* v, const int64_t* q_pos,
                           const int64_t* k_pos, const int32_t* q_block, const int32_t* k_block, ImageMask rule,
                           const AttentionShape& s) = 0;
    virtual void rope_2d(float* x, int N, int H, int Dh, const int32_t* pos_x, const int32_t* pos_y, const float* inv_freq) = 0;
    virtual void vision_pool(float* out, const float* x, int N, int Dv, const int32_t* pos_x, const int32_t* pos_y, int cols, int k,
                             int G) = 0;
    virtual void conv2d_subsample(float* out, const float* x, const uint8_t* row_valid, int T, int F, int Cin, int Cout,
                                  const float* w, const float* norm_w, float eps) = 0;
    virtual void audio_attention(float* out, float* weights, const float* q, const float* k, const float* v, const float* rel_k,
                                 const uint8_t* key_valid, const AudioAttentionShape& s) = 0;
};

// The definition: every op is the ops.cpp function of the same name.
class RefBackend : public Backend {
public:
    std::string name() const override { return "ref"; }
    void copy(float* dst, const float* src, int64_t n) override;
    void matmul(float* out, const float* x, const WeightView& W, int T) override { matmul_ref(out, x, W, T); }
    void matmul_nt(float* out, const float* a, const float* b, int M, int N, int K) override;
    void rms_norm(float* out, const float* x, const float* w, int64_t rows, int n, float eps) override {
        gemma4::rms_norm(out, x, w, rows, n, eps);
    }
    void rope(float* x, int T, int heads, int Dh, const int64_t* positions, const float* inv_freq) override {
        rope_rotate_half(x, T, heads, Dh, positions, inv_freq);
    }
    void softmax_rows(float* x, int64_t rows, int n) override;
    void soft_cap(float* x, int64_t n, float cap) override { gemma4::soft_cap(x, n, cap); }
    void gelu(float* x, int64_t n) override { gelu_tanh(x, n); }
    void gelu_mul(float* out, const float* gate, const float* up, int64_t n) override { gemma4::gelu_mul(out, gate, up, n); }
    void gelu_mul_halves(float* out, const float* gate_up, int64_t rows, int I) override { gemma4::gelu_mul_halves(out, gate_up, rows, I); }
    void silu(float* x, int64_t n) override { gemma4::silu(x, n); }
    void clamp(float* out, const float* x, int64_t n, float lo, float hi) override { gemma4::clamp(out, x, n, lo, hi); }
    void glu(float* out, const float* in, int64_t rows, int n) override { gemma4::glu(out, in, rows, n); }
    void causal_dwconv(float* out, const float* x, const float* w, int T, int C, int K) override { gemma4::causal_dwconv(out, x, w, T, C, K); }
    void add(float* out, const float* a, const float* b, int64_t n) override { gemma4::add(out, a, b, n); }
    void add_scaled(float* out, const float* a, const float* b, float s, int64_t n) override { gemma4::add_scaled(out, a, b, s, n); }
    void add_rows(float* x, int64_t rows, int n, const float* bias) override { gemma4::add_rows(x, rows, n, bias); }
    void scale(float* x, int64_t n, float s) override { gemma4::scale(x, n, s); }
    void mul_cols(float* x, int64_t rows, int n, const float* w, float s) override { gemma4::mul_cols(x, rows, n, w, s); }
    void standardize(float* x, int64_t rows, int n, const float* bias, const float* sc) override { gemma4::standardize(x, rows, n, bias, sc); }
    void embed_rows(float* out, const WeightView& table, const int32_t* ids, int T, float s) override { gemma4::embed_rows(out, table, ids, T, s); }
    void gather_rows(float* out, const float* x, const int32_t* rows, int n, int D) override { gemma4::gather_rows(out, x, rows, n, D); }
    void scatter_add_rows(float* out, const float* y, const int32_t* rows, const float* w, int n, int D) override {
        gemma4::scatter_add_rows(out, y, rows, w, n, D);
    }
    void moe_route(const float* probs, int T, int E, int K, const float* pes, int32_t* ids, float* weights) override {
        gemma4::moe_route(probs, T, E, K, pes, ids, weights);
    }
    void ple_mix(float* out, const float* context, const float* token, int64_t n) override { gemma4::ple_mix(out, context, token, n); }
    void ple_gate(float* out, const float* gate, const float* inputs, int T, int L, int P, int l) override {
        gemma4::ple_gate(out, gate, inputs, T, L, P, l);
    }
    void attention(float* out, float* weights, const float* q, const float* k, const float* v, const int64_t* q_pos, const int64_t* k_pos,
                   const int32_t* q_block, const int32_t* k_block, ImageMask rule, const AttentionShape& s) override {
        gemma4::attention(out, weights, q, k, v, q_pos, k_pos, q_block, k_block, rule, s);
    }
    void rope_2d(float* x, int N, int H, int Dh, const int32_t* pos_x, const int32_t* pos_y, const float* inv_freq) override {
        gemma4::rope_2d(x, N, H, Dh, pos_x, pos_y, inv_freq);
    }
    void vision_pool(float* out, const float* x, int N, int Dv, const int32_t* pos_x, const int32_t* pos_y, int cols, int k, int G) override {
        gemma4::vision_pool(out, x, N, Dv, pos_x, pos_y, cols, k, G);
    }
    void conv2d_subsample(float* out, const float* x, const uint8_t* row_valid, int T, int F, int Cin, int Cout, const float* w,
                          const float* norm_w, float eps) override {
        gemma4::conv2d_subsample(out, x, row_valid, T, F, Cin, Cout, w, norm_w, eps);
    }
    void audio_attention(float* out, float* weights, const float* q, const float* k, const float* v, const float* rel_k,
                         const uint8_t* key_valid, const AudioAttentionShape& s) override {
        gemma4::audio_attention(out, weights, q, k, v, rel_k, key_valid, s);
    }
};

// RefBackend with the CPU fast path of ops_fast.cpp: OpenBLAS sgemm for T >= kBlasMinTokens, the threaded streaming
// matvec below it (matmul_small_t; a group of weights sharing one input in one pass), the text attention as sgemms
// (attention_blas), the MoE experts in parallel (a prompt's, or a decoded token's K; moe_experts_blas) and the gelu
// ops and soft-cap vectorised (*_fast); every other op is the reference loop.
class BlasBackend : public RefBackend {
public:
    std::string name() const override { return "blas"; }
    void matmul(float* out, const float* x, const WeightView& W, int T) override;
    void matmul_group(const float* x, int T, std::span<const MatmulOut> outs) override { matmul_group_blas(x, T, outs); }
    void matmul_nt(float* out, const float* a, const float* b, int M, int N, int K) override;
    void attention(float* out, float* weights, const float* q, const float* k, const float* v, const int64_t* q_pos, const int64_t* k_pos,
                   const int32_t* q_block, const int32_t* k_block, ImageMask rule, const AttentionShape& s) override {
        gemma4::attention_blas(out, weights, q, k, v, q_pos, k_pos, q_block, k_block, rule, s);
    }
    void moe_experts(float* out, const float* x, const int32_t* ids, const float* weights, const MoeExpertsShape& s) override;
    void soft_cap(float* x, int64_t n, float cap) override { soft_cap_fast(x, n, cap); }
    void gelu(float* x, int64_t n) override { gelu_tanh_fast(x, n); }
    void gelu_mul(float* out, const float* gate, const float* up, int64_t n) override { gelu_mul_fast(out, gate, up, n); }
    void gelu_mul_halves(float* out, const float* gate_up, int64_t rows, int I) override { gelu_mul_halves_fast(out, gate_up, rows, I); }
};

// BlasBackend with bf16 activations (ops_bf16.cpp): the input of every matmul with a bf16 weight rounded to bf16, as
// llama.cpp computes a BF16 model; vdpbf16ps for prompts on CPUs with AVX512-BF16. Opt-in (`--backend bf16`), for
// comparing with llama.cpp like for like: not the reference's arithmetic (tolerance::kNmseBf16VsRef bounds it).
class Bf16Backend : public BlasBackend {
public:
    std::string name() const override { return "bf16"; }
    void matmul(float* out, const float* x, const WeightView& W, int T) override { matmul_blas(out, x, W, T, Activations::BF16); }
    void matmul_group(const float* x, int T, std::span<const MatmulOut> outs) override {
        matmul_group_blas(x, T, outs, Activations::BF16);
    }
    void moe_experts(float* out, const float* x, const int32_t* ids, const float* weights, const MoeExpertsShape& s) override {
        moe_experts_blas(out, x, ids, weights, s, Activations::BF16);
    }
};

// A probe point that may live on the device: the view is handed over (and to_host called) only when the sink wants it.
inline TensorView probe_on_host(Backend& be, TensorView v) {
    be.to_host(v.data, v.numel());
    return v;
}
#define G4_PROBE_BE(backend, sink, probe, layer, view) G4_PROBE(sink, probe, layer, ::gemma4::probe_on_host((backend), (view)))

// The process-wide Ref, Blas and Bf16 backends (stateless).
Backend& ref_backend();
Backend& blas_backend();
Backend& bf16_backend();

}  // namespace gemma4
