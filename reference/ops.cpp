// ops.cpp — the primitive ops (ops.h). Plain loops first; the OpenBLAS matmul sits beside its reference twin.
// OpenMP parallelises outer loops only; each loop body reads as the formula it implements.
#include "ops.h"

#include <algorithm>
#include <bit>
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

// Elementwise loops over at least this many values are split across the OpenMP threads (the transcendental ones:
// gelu, soft-cap; a logits row of 262 144 tanh is milliseconds on one core). Below it a fork/join costs more.
static constexpr int64_t kParallelElems = 1 << 15;

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

void matmul(float* out, const float* x, const WeightView& W, int T, MatmulBackend backend) {
    if (backend == MatmulBackend::Blas) matmul_blas(out, x, W, T);
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
#pragma omp parallel for if (n >= kParallelElems) schedule(static)
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
#pragma omp parallel for if (n >= kParallelElems) schedule(static)
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

// ---- model-structure ops ------------------------------------------------------------------------------------------

void gelu_mul(float* out, const float* gate, const float* up, int64_t n) {
#pragma omp parallel for if (n >= kParallelElems) schedule(static)
    for (int64_t i = 0; i < n; ++i) out[i] = gelu_tanh(gate[i]) * up[i];
}

void gelu_mul_halves(float* out, const float* gate_up, int64_t rows, int I) {
#pragma omp parallel for collapse(2) if (rows * I >= kParallelElems) schedule(static)
    for (int64_t r = 0; r < rows; ++r)
        for (int i = 0; i < I; ++i) out[r * I + i] = gelu_tanh(gate_up[r * 2 * I + i]) * gate_up[r * 2 * I + I + i];
}

void silu(float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void clamp(float* out, const float* x, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; ++i) out[i] = std::min(std::max(x[i], lo), hi);
}

void glu(float* out, const float* in, int64_t rows, int n) {
    for (int64_t r = 0; r < rows; ++r) {
        const float* row = in + r * 2 * n;
        for (int d = 0; d < n; ++d) out[r * n + d] = row[d] * (1.0f / (1.0f + std::exp(-row[n + d])));
    }
}

void causal_dwconv(float* out, const float* x, const float* w, int T, int C, int K) {
    for (int t = 0; t < T; ++t)
        for (int c = 0; c < C; ++c) {
            float acc = 0;
            for (int k = 0; k < K; ++k) {
                const int src = t - (K - 1) + k;
                if (src >= 0) acc += w[int64_t(c) * K + k] * x[int64_t(src) * C + c];
            }
            out[int64_t(t) * C + c] = acc;
        }
}

void mul_cols(float* x, int64_t rows, int n, const float* w, float s) {
    for (int64_t r = 0; r < rows; ++r)
        for (int i = 0; i < n; ++i) x[r * n + i] = x[r * n + i] * w[i] * s;
}

void add_scaled(float* out, const float* a, const float* b, float s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i] * s;
}

void add_rows(float* x, int64_t rows, int n, const float* bias) {
    for (int64_t r = 0; r < rows; ++r)
        for (int i = 0; i < n; ++i) x[r * n + i] += bias[i];
}

void standardize(float* x, int64_t rows, int n, const float* bias, const float* scale_) {
    for (int64_t r = 0; r < rows; ++r)
        for (int i = 0; i < n; ++i) x[r * n + i] = (x[r * n + i] - bias[i]) * scale_[i];
}

void embed_rows(float* out, const WeightView& table, const int32_t* ids, int T, float s) {
    for (int t = 0; t < T; ++t) {
        if (ids[t] < 0 || ids[t] >= table.rows)
            throw Error("embed_rows: id " + std::to_string(ids[t]) + " is outside the table's " + std::to_string(table.rows) + " rows");
        float* row = out + int64_t(t) * table.cols;
        weight_row_f32(table, ids[t], row);
        scale(row, table.cols, s);
    }
}

void gather_rows(float* out, const float* x, const int32_t* rows, int n, int D) {
    for (int i = 0; i < n; ++i) std::copy_n(x + int64_t(rows[i]) * D, D, out + int64_t(i) * D);
}

void scatter_add_rows(float* out, const float* y, const int32_t* rows, const float* weights, int n, int D) {
    for (int i = 0; i < n; ++i)
        for (int d = 0; d < D; ++d) out[int64_t(rows[i]) * D + d] += y[int64_t(i) * D + d] * weights[i];
}

void moe_route(const float* probs_all, int T, int E, int K, const float* per_expert_scale, int32_t* ids_all, float* weights_all) {
    std::vector<int32_t> order(static_cast<size_t>(E));
    for (int t = 0; t < T; ++t) {
        const float* probs = probs_all + int64_t(t) * E;
        int32_t* ids = ids_all + int64_t(t) * K;
        float* weights = weights_all + int64_t(t) * K;
        for (int e = 0; e < E; ++e) order[e] = e;
        std::partial_sort(order.begin(), order.begin() + K, order.end(),
                          [&](int32_t a, int32_t b) { return probs[a] > probs[b] || (probs[a] == probs[b] && a < b); });
        float sum = 0.0f;
        for (int j = 0; j < K; ++j) sum += probs[order[j]];
        for (int j = 0; j < K; ++j) {
            ids[j] = order[j];
            weights[j] = probs[order[j]] / sum * per_expert_scale[order[j]];
        }
    }
}

void ple_mix(float* out, const float* context, const float* token, int64_t n) {
    const float mix = static_cast<float>(std::pow(2.0, -0.5));
    for (int64_t i = 0; i < n; ++i) out[i] = (context[i] + token[i]) * mix;
}

void ple_gate(float* out, const float* gate, const float* inputs, int T, int L, int P, int l) {
    for (int t = 0; t < T; ++t)
        for (int p = 0; p < P; ++p) out[int64_t(t) * P + p] = gate[int64_t(t) * P + p] * inputs[(int64_t(t) * L + l) * P + p];
}

void attention(float* out_all, float* weights, const float* q_all, const float* k_all, const float* v_all, const int64_t* q_pos,
               const int64_t* k_pos, const int32_t* q_block, const int32_t* k_block, ImageMask rule, const AttentionShape& sh) {
    const int T = sh.T, S = sh.S, H = sh.H, Hkv = sh.Hkv, Dh = sh.Dh, window = sh.window;
    const int group = H / Hkv;  // GQA: query head h reads KV head h / group
#pragma omp parallel
    {
        std::vector<float> scores(static_cast<size_t>(S));
#pragma omp for collapse(2) schedule(static)
        for (int h = 0; h < H; ++h) {
            for (int t = 0; t < T; ++t) {
                const float* q = q_all + (int64_t(t) * H + h) * Dh;
                const int kvh = h / group;
                // scores = q·k (scale 1.0) where the mask allows, −inf elsewhere; softmax in float32
                for (int s = 0; s < S; ++s) {
                    const bool allowed = q_block ? attention_allowed(q_pos[t], k_pos[s], window, q_block[t] >= 0 && q_block[t] == k_block[s], rule)
                                                 : attention_allowed(q_pos[t], k_pos[s], window);
                    if (!allowed) {
                        scores[s] = -std::numeric_limits<float>::infinity();
                        continue;
                    }
                    const float* k = k_all + (int64_t(s) * Hkv + kvh) * Dh;
                    float dot = 0.0f;
                    for (int d = 0; d < Dh; ++d) dot += q[d] * k[d];
                    scores[s] = dot;
                }
                softmax(scores.data(), S);
                // out[t, h] = Σ_s p[s] · v[s, kvh]
                float* out = out_all + (int64_t(t) * H + h) * Dh;
                std::fill(out, out + Dh, 0.0f);
                for (int s = 0; s < S; ++s) {
                    if (scores[s] == 0.0f) continue;
                    const float* v = v_all + (int64_t(s) * Hkv + kvh) * Dh;
                    for (int d = 0; d < Dh; ++d) out[d] += scores[s] * v[d];
                }
                if (weights) std::copy(scores.begin(), scores.end(), weights + (int64_t(h) * T + t) * S);
            }
        }
    }
}

void rope_2d(float* x, int N, int H, int Dh, const int32_t* pos_x, const int32_t* pos_y, const float* inv_freq) {
    const int m = Dh / 2, pairs = m / 2;
#pragma omp parallel for
    for (int n = 0; n < N; ++n)
        for (int axis = 0; axis < 2; ++axis) {
            const float pos = static_cast<float>(axis == 0 ? pos_x[n] : pos_y[n]);
            for (int i = 0; i < pairs; ++i) {
                const float angle = pos * inv_freq[i];  // float32 products, as torch
                const float c = std::cos(angle), s = std::sin(angle);
                for (int h = 0; h < H; ++h) {
                    float* half = x + (int64_t(n) * H + h) * Dh + axis * m;
                    const float a = half[i], b = half[i + pairs];
                    half[i] = a * c - b * s;          // x·cos + rotate_half(x)·sin (recomposition lays cos as [x, x, y, y])
                    half[i + pairs] = b * c + a * s;
                }
            }
        }
}

void vision_pool(float* out, const float* x, int N, int Dv, const int32_t* pos_x, const int32_t* pos_y, int cols, int k, int G) {
    std::fill_n(out, int64_t(G) * Dv, 0.0f);
    const float cell_weight = 1.0f / float(k * k);
    for (int n = 0; n < N; ++n) {
        const int64_t cell = pos_x[n] / k + int64_t(cols / k) * (pos_y[n] / k);
        if (cell < 0 || cell >= G)
            throw Error("vision_pool: patch " + std::to_string(n) + " falls in cell " + std::to_string(cell) + " of " + std::to_string(G));
        float* o = out + cell * Dv;
        const float* row = x + int64_t(n) * Dv;
        for (int d = 0; d < Dv; ++d) o[d] += cell_weight * row[d];
    }
    scale(out, int64_t(G) * Dv, static_cast<float>(std::sqrt(double(Dv))));
}

void conv2d_subsample(float* out, const float* x, const uint8_t* row_valid, int T, int F, int Cin, int Cout, const float* w,
                      const float* norm_w, float eps) {
    const int T2 = (T - 1) / 2 + 1, F2 = (F - 1) / 2 + 1;
    // Weights reordered to [kt, kf, Cin, Cout] so the innermost loop runs over contiguous output channels.
    std::vector<float> wt(size_t(9) * Cin * Cout);
    for (int co = 0; co < Cout; ++co)
        for (int ci = 0; ci < Cin; ++ci)
            for (int k = 0; k < 9; ++k) wt[(size_t(k) * Cin + ci) * Cout + co] = w[(size_t(co) * Cin + ci) * 9 + k];
    std::fill_n(out, int64_t(T2) * F2 * Cout, 0.0f);
#pragma omp parallel for schedule(static)
    for (int t2 = 0; t2 < T2; ++t2) {
        for (int f2 = 0; f2 < F2; ++f2) {
            float* o = out + (int64_t(t2) * F2 + f2) * Cout;
            for (int kt = 0; kt < 3; ++kt) {
                const int t = 2 * t2 + kt - 1;
                if (t < 0 || t >= T || !row_valid[t]) continue;  // zero padding, and masked rows (hidden_states * mask)
                for (int kf = 0; kf < 3; ++kf) {
                    const int f = 2 * f2 + kf - 1;
                    if (f < 0 || f >= F) continue;
                    const float* in = x + (int64_t(t) * F + f) * Cin;
                    const float* wk = wt.data() + size_t(kt * 3 + kf) * Cin * Cout;
                    for (int ci = 0; ci < Cin; ++ci)
                        for (int co = 0; co < Cout; ++co) o[co] += in[ci] * wk[size_t(ci) * Cout + co];
                }
            }
            // nn.LayerNorm(Cout, bias=False) over the channels of this (time, freq) cell, then ReLU.
            double mean = 0;
            for (int c = 0; c < Cout; ++c) mean += o[c];
            mean /= Cout;
            double var = 0;
            for (int c = 0; c < Cout; ++c) var += (o[c] - mean) * (o[c] - mean);
            var /= Cout;
            const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
            for (int c = 0; c < Cout; ++c) o[c] = std::max(0.0f, (o[c] - static_cast<float>(mean)) * inv * norm_w[c]);
        }
    }
}

void audio_attention(float* out_all, float* weights, const float* q_all, const float* k_all, const float* v_all, const float* rel_k,
                     const uint8_t* key_valid, const AudioAttentionShape& sh) {
    const int T = sh.T, H = sh.H, Dh = sh.Dh, C = sh.C, P = sh.P, Fr = sh.Fr;
    const int W = C + P + Fr;     // context slots per block
    const int n_rel = W / 2 + 1;  // rows of the relative table
#pragma omp parallel for collapse(2) schedule(static)
    for (int h = 0; h < H; ++h) {
        for (int t = 0; t < T; ++t) {
            const int b = t / C, i = t % C;
            const float* q = q_all + (int64_t(t) * H + h) * Dh;
            std::vector<float> logits(W);
            for (int j = 0; j < W; ++j) {
                const int key = b * C - P + j;
                const bool in_clip = key >= 0 && key < T;
                float ac = 0;  // matrix_ac: q · k (keys outside the clip are zero padding)
                if (in_clip) {
                    const float* k = k_all + (int64_t(key) * H + h) * Dh;
                    for (int d = 0; d < Dh; ++d) ac += q[d] * k[d];
                }
                // matrix_bd after _rel_shift: entry (i, j) is flat index i·W + j of the [C, W + 1] matrix whose row r is
                // q_r · R[0..n_rel) followed by zeros (Transformer-XL appendix B). Here R[p] is distance n_rel − 1 − p.
                const int flat = i * W + j, r = flat / (W + 1), p = flat % (W + 1);
                float bd = 0;
                if (p < n_rel && b * C + r < T) {
                    const float* qr = q_all + ((int64_t(b) * C + r) * H + h) * Dh;
                    const float* R = rel_k + (int64_t(p) * H + h) * Dh;
                    for (int d = 0; d < Dh; ++d) bd += qr[d] * R[d];
                }
                const float logit = std::tanh((ac + bd) / sh.cap) * sh.cap;
                // sliding_window_mask_function((P, Fr)) AND the padding mask of the keys (create_bidirectional_mask)
                const int dist = t - key;
                const bool in_window = (dist >= 0 && dist < P) || (dist < 0 && -dist < Fr);
                logits[j] = in_clip && key_valid[key] && in_window ? logit : sh.invalid;
            }
            softmax(logits.data(), W);
            float* out = out_all + (int64_t(t) * H + h) * Dh;
            std::fill_n(out, Dh, 0.0f);
            for (int j = 0; j < W; ++j) {
                const int key = b * C - P + j;
                if (key < 0 || key >= T) continue;  // zero-padded values
                const float* v = v_all + (int64_t(key) * H + h) * Dh;
                for (int d = 0; d < Dh; ++d) out[d] += logits[j] * v[d];
            }
            // Probe layout: slot m ↔ key t − (P − 1) + m, i.e. context slot j = i + 1 + m (m = P − 1 is the query itself).
            if (weights)
                for (int m = 0; m < P; ++m) weights[(size_t(h) * T + t) * P + m] = logits[i + 1 + m];
        }
    }
}

}  // namespace gemma4
