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
#include <span>
#include <vector>

#include "dtype.h"
#include "mask.h"

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

// Which matmul runs. Ref: the plain loop (the definition). Blas: the CPU fast path, equal to matmul_ref within
// kNmseBlasVsRef: OpenBLAS sgemm for T >= kBlasMinTokens (bf16/f16 weights converted to float32 a block of rows at a
// time), and for decode (T < kBlasMinTokens) matmul_small_t, rows streamed once and dotted in registers (ops_fast.cpp).
enum class MatmulBackend { Ref, Blas };
inline constexpr int kBlasMinTokens = 32;  // below this the blas path streams rows (matmul_small_t) instead of sgemm

// The activations a fast-path matmul with a bf16 weight multiplies. F32: x as it is (the reference's arithmetic).
// BF16: x first rounded to bf16, as llama.cpp does for a BF16 weight; opt-in, the "bf16" backend (ops_bf16.cpp).
enum class Activations { F32, BF16 };

// out[T, out_dim] = x[T, in] · Wᵀ
void matmul(float* out, const float* x, const WeightView& W, int T, MatmulBackend backend);
void matmul_ref(float* out, const float* x, const WeightView& W, int T);
void matmul_blas(float* out, const float* x, const WeightView& W, int T,    // any T; T < kBlasMinTokens → matmul_small_t
                 Activations act = Activations::F32);
void matmul_small_t(float* out, const float* x, const WeightView& W, int T); // T <= kBlasMinTokens (ops_fast.cpp explains)
// Vector lanes matmul_small_t uses for W on this CPU: 16 (AVX-512) for rows of 2560 values or more where the CPU has
// AVX-512, else 8. The float additions of a row depend on it (and on nothing else: not on T, threads or blocks).
int decode_lanes(const WeightView& W);

// Several matmuls of one input (q, k and v of a layer; gate and up): outs[i].out[T, W.rows] = x[T, in] · outs[i].Wᵀ.
// matmul_group_blas gives bitwise what matmul_blas on each weight in turn gives; for decode it runs all the weights as
// one parallel pass (ops_fast.cpp, matmul_small_t_group).
struct MatmulOut {
    float* out = nullptr;
    const WeightView* W = nullptr;  // a stored weight (stable address)
};
void matmul_group_blas(const float* x, int T, std::span<const MatmulOut> outs, Activations act = Activations::F32);
void matmul_small_t_group(const float* x, int T, std::span<const MatmulOut> outs,  // T <= kBlasMinTokens
                          Activations act = Activations::F32);

// bf16 activations (ops_bf16.cpp). With Activations::BF16, every input of a matmul with a bf16 weight is rounded to
// bf16 (round to nearest even, f32_to_bf16 in dtype.h); the products of two bf16 are exact in float32 and are summed
// in float32, so only the order of the sums depends on the path:
//   on a CPU with AVX512-BF16 (have_bf16_dot), vdpbf16ps: T >= kBf16DotMinTokens in tiles (matmul_bf16_dot), fewer
//   tokens (a decoded token) streamed (bf16_stream_rows, in matmul_small_t_group's pieces). Each output is the same
//   sequence of vdpbf16ps steps either way, so a token's result does not depend on how many tokens share the call;
//   otherwise the rounded input goes through the float32 fast path above (sgemm, matmul_small_t): any CPU runs it.
// Weights of other dtypes multiply x as it is.
// From 8 tokens on, the tiles beat the decode kernel: a 26B-A4B prompt's experts see ~T·8/128 tokens each, and
// A4B-4L prefill(512) went 180-191 → 242-256 tok/s when those took vdpbf16ps instead (3 alternated pairs). Below 8
// the streamed form reads at bandwidth like the float32 decode kernel, with half the bytes of x to keep in L1
// (docs/performance.md, rounds 5 and 7).
inline constexpr int kBf16DotMinTokens = 8;
void round_to_bf16(float* out, const float* x, int64_t n);  // out[i] = x[i] rounded to bf16, as a float (out may be x)
bool have_bf16_dot();  // the CPU has vdpbf16ps (AVX512-BF16) and it is enabled, so bf16 activations multiply with it
// On by default where the CPU has it; off makes Activations::BF16 take the float32 path on the same CPU (tests compare
// the two; GEMMA4_BF16_DOT=0 in the environment switches it off for a whole run). Not thread-safe: call between runs.
void set_bf16_dot_enabled(bool enabled);
// out[T, W.rows] = bf16(x)[T, in] · Wᵀ for a bf16 W with vdpbf16ps; threaded over blocks of rows, or rows [0, W.rows)
// in the calling thread with one_thread. Throws unless the CPU has AVX512-BF16 and W is bf16.
void matmul_bf16_dot(float* out, const float* x, const WeightView& W, int T, bool one_thread = false);
// What one call of a streamed decode kernel reads (matmul_small_t_group hands these out). Rows [o0, o1) are cut into
// as many contiguous parts as the kernel reads side by side (its streams), and the call reads piece `piece` of
// `pieces` of every part; the few rows the cut leaves over go with the last piece. Consecutive pieces continue the
// same streams, so a thread can read a long run of rows piece by piece while another takes pieces from its far end.
// {o0, o1} alone is the whole run in one call.
struct RowPiece {
    int64_t o0 = 0, o1 = 0;
    int64_t piece = 0, pieces = 1;
    // Steps [first_step, end_step) of parts `per` rows long: at step q part r reads row o0 + q + r·per, or the
    // parts' rows rotated (ops_fast.cpp's rows_in_streams); either way the pieces cover every row once.
    int64_t first_step(int64_t per) const { return per * piece / pieces; }
    int64_t end_step(int64_t per) const { return per * (piece + 1) / pieces; }
    bool last() const { return piece + 1 == pieces; }
};
// The parts of the streamed form: x[n] as bf16 bits (round to nearest even; threaded for large n unless one_thread),
// and a RowPiece (above) of out[T, W.rows] = xb[T, in] · Wᵀ in the calling thread, four rows side by side (throws like
// matmul_bf16_dot where the kernel is missing).
void to_bf16_bits(uint16_t* out, const float* x, int64_t n, bool one_thread = false);
void bf16_stream_rows(float* out, const uint16_t* xb, const WeightView& W, int T, const RowPiece& rows);

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

// ---- model-structure ops ------------------------------------------------------------------------------------------
// The rest of the forward passes' arithmetic, one function each so that every backend (backend.h) runs the same list.
// Each is the plain loop that used to sit inline in text_model / attention / moe / ple / vision / audio_tower.

// out[n] = gelu_tanh(gate[n]) · up[n] (the gated MLP's activation; out may alias gate or up).
void gelu_mul(float* out, const float* gate, const float* up, int64_t n);
// The MoE experts' activation on fused rows: gate_up[rows, 2I] = [gate | up] → out[rows, I] = gelu_tanh(gate) · up.
void gelu_mul_halves(float* out, const float* gate_up, int64_t rows, int I);
// The same three gelu ops, vectorised for BlasBackend (ops_fast.cpp): gelu_tanh(x) written as x·sigmoid(2u), which
// is 0.5·x·(1 + tanh(u)) exactly, with an 8-lane exp; agrees with the loops above to a few float ulps.
void gelu_tanh_fast(float* x, int64_t n);
void gelu_mul_fast(float* out, const float* gate, const float* up, int64_t n);
void gelu_mul_halves_fast(float* out, const float* gate_up, int64_t rows, int I);
// soft_cap vectorised for BlasBackend (ops_fast.cpp): tanh from the same 8-lane exp, a Taylor series near 0.
void soft_cap_fast(float* x, int64_t n, float cap);
// x · sigmoid(x), in place.
void silu(float* x, int64_t n);
// torch.clamp(x, lo, hi) over n values; out may equal x.
void clamp(float* out, const float* x, int64_t n, float lo, float hi);
// nn.functional.glu on in[rows, 2n]: out[rows, n] = first half · sigmoid(second half).
void glu(float* out, const float* in, int64_t rows, int n);
// Causal depthwise conv1d without bias over time (Gemma4AudioCausalConv1d, K − 1 zeros on the left):
// out[t, c] = Σ_k w[c, k] · x[t − K + 1 + k, c]. x, out [T, C]; w [C, K].
void causal_dwconv(float* out, const float* x, const float* w, int T, int C, int K);
// x[r, i] = x[r, i] · w[i] · s over x[rows, n] (the MoE router's scale × D^-1/2; the audio per-dim query scale).
void mul_cols(float* x, int64_t rows, int n, const float* w, float s);
// out[n] = a[n] + b[n] · s (out may alias a or b).
void add_scaled(float* out, const float* a, const float* b, float s, int64_t n);
// x[r, i] += bias[i] over x[rows, n].
void add_rows(float* x, int64_t rows, int n, const float* bias);
// x[r, i] = (x[r, i] − bias[i]) · scale[i] (the vision tower's standardize).
void standardize(float* x, int64_t rows, int n, const float* bias, const float* scale);

// out[T, table.cols] = table row ids[t], converted to float32, × scale (token embeddings, the PLE table, the vision
// position table). An id outside [0, table.rows) throws.
void embed_rows(float* out, const WeightView& table, const int32_t* ids, int T, float scale);
// out[n, D] = x[rows[i], :] (MoE: the tokens routed to one expert).
void gather_rows(float* out, const float* x, const int32_t* rows, int n, int D);
// out[rows[i], :] += y[i, :] · weights[i], i in order (MoE: an expert's outputs back to their tokens).
void scatter_add_rows(float* out, const float* y, const int32_t* rows, const float* weights, int n, int D);

// Router selection for T tokens: probs[T, E] → the K largest per token (ties: lower index first, as torch.topk)
// in ids[T, K], renormalised to sum 1 and × per_expert_scale[id] in weights[T, K].
void moe_route(const float* probs, int T, int E, int K, const float* per_expert_scale, int32_t* ids, float* weights);

// The experts of one MoE layer (Backend::moe_experts): T tokens of width D, each routed to K of E experts with
// intermediate size I. gate_up[E, 2I, D] and down[E, D, I] are the stored expert tensors (expert_slice views them);
// u, gate_up_out, hidden and y are scratch rows of [T, D], [T, 2I], [T, I], [T, D] for the default loop.
struct MoeExpertsShape {
    int T = 0, D = 0, E = 0, K = 0, I = 0;
    const TensorRef* gate_up = nullptr;
    const TensorRef* down = nullptr;
    float* u = nullptr;
    float* gate_up_out = nullptr;
    float* hidden = nullptr;
    float* y = nullptr;
};
// The same arithmetic with experts running in parallel, each single-threaded (ops_fast.cpp). Every token's outputs
// are added in ascending expert order, as the loop adds them, so the result does not depend on the thread count.
void moe_experts_blas(float* out, const float* x, const int32_t* ids, const float* weights, const MoeExpertsShape& s,
                      Activations act = Activations::F32);

// PLE: out[n] = (context[n] + token[n]) · 2^-1/2 (out may alias either input).
void ple_mix(float* out, const float* context, const float* token, int64_t n);
// PLE gate of layer l: out[T, P] = gate[T, P] ⊙ inputs[:, l, :] of inputs[T, L, P] (gate already through gelu).
void ple_gate(float* out, const float* gate, const float* inputs, int T, int L, int P, int l);

// Text self-attention after the projections (eager_attention_forward, scale 1.0): for query t and head h, p = softmax
// over the S keys of q·k where the mask allows (mask.h), −inf elsewhere; out[t, h] = Σ p · v. GQA: head h reads KV
// head h / (H / Hkv). q[T, H, Dh], k and v[S, Hkv, Dh], q_pos[T], k_pos[S]; q_block[T] and k_block[S] are image-run
// indices (−1 = text) or both nullptr when no image blocks apply. out[T, H·Dh]; weights[H, T, S] when not nullptr.
// A query with every key masked gives zeros.
struct AttentionShape {
    int T = 0, S = 0, H = 0, Hkv = 0, Dh = 0;
    int window = 0;  // 0: full (global) layer
};
void attention(float* out, float* weights, const float* q, const float* k, const float* v, const int64_t* q_pos,
               const int64_t* k_pos, const int32_t* q_block, const int32_t* k_block, ImageMask rule, const AttentionShape& s);
// The same with two sgemms per head and block of queries (ops_fast.cpp; BlasBackend). Equal within kNmseBlasVsRef.
void attention_blas(float* out, float* weights, const float* q, const float* k, const float* v, const int64_t* q_pos,
                    const int64_t* k_pos, const int32_t* q_block, const int32_t* k_block, ImageMask rule, const AttentionShape& s);

// Vision 2-D RoPE in place on x[N, H, Dh] (apply_multidimensional_rope): the first Dh/2 values rotated by pos_x[n],
// the second by pos_y[n]; inside each half rotate-half RoPE with pairs (i, i + Dh/4) turned by pos · inv_freq[i].
void rope_2d(float* x, int N, int H, int Dh, const int32_t* pos_x, const int32_t* pos_y, const float* inv_freq);
// Vision pooler (_avg_pool_by_positions): patch n of x[N, Dv] adds x[n] / k² to cell pos_x/k + (cols/k)·(pos_y/k), in
// patch order, then × √Dv → out[G, Dv]. A cell outside [0, G) throws.
void vision_pool(float* out, const float* x, int N, int Dv, const int32_t* pos_x, const int32_t* pos_y, int cols, int k, int G);

// One audio subsampling stage (Gemma4AudioSubSampleConvProjectionLayer) on channel-last x[T, F, Cin]: rows with
// row_valid[t] == 0 read as zeros; Conv2d 3×3 stride 2 padding 1 without bias (w [Cout, Cin, 3, 3]) →
// [⌈T/2⌉, ⌈F/2⌉, Cout]; LayerNorm over the channels (weight norm_w, no bias; mean and variance in double); ReLU.
void conv2d_subsample(float* out, const float* x, const uint8_t* row_valid, int T, int F, int Cin, int Cout, const float* w,
                      const float* norm_w, float eps);

// Audio chunked local self-attention (Gemma4AudioAttention after the projections and q/k scales). Queries in blocks
// of C; block b sees the W = C + P + Fr context keys b·C − P … (zero outside the clip); logit = cap·tanh((q·k +
// q·R[rel]) / cap) with R = rel_k [W/2 + 1, H·Dh] placed by Transformer-XL's rel_shift; keys that are padding
// (key_valid == 0) or outside the window (0 ≤ q − k < P, or 0 < k − q < Fr) get `invalid`; softmax over the W slots.
// q, k, v [T, H, Dh] → out [T, H·Dh]; weights [H, T, P] (self + P − 1 previous keys) when not nullptr.
struct AudioAttentionShape {
    int T = 0, H = 0, Dh = 0;
    int C = 0, P = 0, Fr = 0;  // chunk, left context − 1, right context
    float cap = 0, invalid = 0;
};
void audio_attention(float* out, float* weights, const float* q, const float* k, const float* v, const float* rel_k,
                     const uint8_t* key_valid, const AudioAttentionShape& s);

}  // namespace gemma4
