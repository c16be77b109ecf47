// cl_backend.cpp — the OpenCL Backend (cl_backend.h): each op forwards to its host wrapper in cl_ops.h /
// cl_ops_audio.h; the checks here decide when an op must fall back to the reference on the host.
#include "cl_backend.h"

#include <algorithm>
#include <cstdio>

#include "cl_ops_audio.h"
#include "error.h"

namespace gemma4::cl {

ClBackend::ClBackend(const ClBackendOptions& options)
    : cl_(std::make_unique<ClContext>(options.device)), resident_(std::make_unique<ClResidency>(*cl_)), strict_(options.strict) {
    cl_->set_io(resident_.get());
}

ClBackend::~ClBackend() {
    if (cl_) cl_->set_io(nullptr);
}

void ClBackend::copy(float* dst, const float* src, int64_t n) {
    if (n > 0) resident_->copy(dst, src, static_cast<size_t>(n) * sizeof(float));
}

void ClBackend::fallback(const std::string& op, const std::string& why) {
    if (strict_)
        throw Error("--strict-device: op '" + op + "' cannot run on " + cl_->info().name + " (" + why + ") and would run on the host");
    if (fallbacks_.insert(op).second)
        std::fprintf(stderr, "opencl: op '%s' runs on the host (%s); logged once\n", op.c_str(), why.c_str());
}

const ClWeight& ClBackend::resident(const WeightView& W) {
    auto key = std::make_tuple(W.data, W.rows, W.cols, static_cast<int>(W.dtype));
    auto it = weights_.find(key);
    if (it == weights_.end()) {
        auto weight = std::make_unique<ClWeight>(*cl_, W);
        resident_bytes_ += weight->bytes();
        it = weights_.emplace(key, std::move(weight)).first;
    }
    return *it->second;
}

namespace {
bool has_matmul_kernel(DType d) { return d == DType::F32 || d == DType::BF16 || d == DType::F16; }
}  // namespace

void ClBackend::matmul(float* out, const float* x, const WeightView& W, int T) {
    if (!has_matmul_kernel(W.dtype)) {
        fallback("matmul", std::string("weight dtype ") + dtype_name(W.dtype) + " has no kernel");
        to_host(x, int64_t(T) * W.cols);
        host_.matmul(out, x, W, T);
        return from_host(out, int64_t(T) * W.rows);
    }
    if (T <= 0 || W.rows == 0) return;
    cl_matmul(*cl_, out, x, resident(W), T);
}

void ClBackend::matmul_nt(float* out, const float* a, const float* b, int M, int N, int K) {
    // b larger than one allocation goes up in row blocks from the host copy (cl_matmul_nt), which must be current.
    if (uint64_t(N) * uint64_t(K) * sizeof(float) > cl_->max_alloc_bytes()) to_host(b, int64_t(N) * K);
    cl_matmul_nt(*cl_, out, a, b, M, N, K);
}
void ClBackend::rms_norm(float* out, const float* x, const float* w, int64_t rows, int n, float eps) { cl_rms_norm(*cl_, out, x, w, rows, n, eps); }
void ClBackend::rope(float* x, int T, int heads, int Dh, const int64_t* positions, const float* inv_freq) {
    cl_rope(*cl_, x, T, heads, Dh, positions, inv_freq);
}
void ClBackend::softmax_rows(float* x, int64_t rows, int n) { cl_softmax_rows(*cl_, x, rows, n); }
void ClBackend::soft_cap(float* x, int64_t n, float cap) { cl_soft_cap(*cl_, x, n, cap); }
void ClBackend::gelu(float* x, int64_t n) { cl_gelu_tanh(*cl_, x, n); }
void ClBackend::gelu_mul(float* out, const float* gate, const float* up, int64_t n) { cl_gelu_mul(*cl_, out, gate, up, n); }
void ClBackend::gelu_mul_halves(float* out, const float* gate_up, int64_t rows, int I) { cl_gelu_mul_halves(*cl_, out, gate_up, rows, I); }
void ClBackend::silu(float* x, int64_t n) { cl_silu(*cl_, x, n); }
void ClBackend::clamp(float* out, const float* x, int64_t n, float lo, float hi) { cl_clamp(*cl_, out, x, n, lo, hi); }
void ClBackend::glu(float* out, const float* in, int64_t rows, int n) { cl_glu(*cl_, out, in, rows, n); }
void ClBackend::causal_dwconv(float* out, const float* x, const float* w, int T, int C, int K) { cl_causal_dwconv(*cl_, out, x, w, T, C, K); }
void ClBackend::add(float* out, const float* a, const float* b, int64_t n) { cl_add(*cl_, out, a, b, n); }
void ClBackend::add_scaled(float* out, const float* a, const float* b, float s, int64_t n) { cl_add_scaled(*cl_, out, a, b, s, n); }
void ClBackend::add_rows(float* x, int64_t rows, int n, const float* bias) { cl_add_rows(*cl_, x, rows, n, bias); }
void ClBackend::scale(float* x, int64_t n, float s) { cl_scale(*cl_, x, n, s); }
void ClBackend::mul_cols(float* x, int64_t rows, int n, const float* w, float s) { cl_mul_cols(*cl_, x, rows, n, w, s); }
void ClBackend::standardize(float* x, int64_t rows, int n, const float* bias, const float* sc) { cl_standardize(*cl_, x, rows, n, bias, sc); }

void ClBackend::embed_rows(float* out, const WeightView& table, const int32_t* ids, int T, float s) {
    if (!has_matmul_kernel(table.dtype)) {
        fallback("embed_rows", std::string("table dtype ") + dtype_name(table.dtype) + " has no kernel");
        host_.embed_rows(out, table, ids, T, s);
        return from_host(out, int64_t(T) * table.cols);
    }
    cl_embed_rows(*cl_, table, ids, T, s, out);
}

void ClBackend::gather_rows(float* out, const float* x, const int32_t* rows, int n, int D) { cl_gather_rows(*cl_, out, x, rows, n, D); }
void ClBackend::scatter_add_rows(float* out, const float* y, const int32_t* rows, const float* w, int n, int D) {
    cl_scatter_add_rows(*cl_, out, y, rows, w, n, D);
}
void ClBackend::moe_route(const float* probs, int T, int E, int K, const float* pes, int32_t* ids, float* weights) {
    cl_moe_route(*cl_, probs, T, E, K, pes, ids, weights);
}
void ClBackend::ple_mix(float* out, const float* context, const float* token, int64_t n) { cl_ple_mix(*cl_, out, context, token, n); }
void ClBackend::ple_gate(float* out, const float* gate, const float* inputs, int T, int L, int P, int l) {
    cl_ple_gate(*cl_, out, gate, inputs, T, L, P, l);
}
void ClBackend::attention(float* out, float* weights, const float* q, const float* k, const float* v, const int64_t* q_pos,
                          const int64_t* k_pos, const int32_t* q_block, const int32_t* k_block, ImageMask rule, const AttentionShape& s) {
    // cl_attention needs q, k and v each in one buffer, and the scores of one query row [H, S] within its scratch.
    const uint64_t limit = cl_->max_alloc_bytes();
    const uint64_t q_bytes = uint64_t(s.T) * s.H * s.Dh * sizeof(float), kv_bytes = uint64_t(s.S) * s.Hkv * s.Dh * sizeof(float);
    const uint64_t row_bytes = uint64_t(s.H) * s.S * sizeof(float);
    if (q_bytes > limit || kv_bytes > limit || row_bytes > std::min<uint64_t>(limit, kAttentionScratchBytes)) {
        fallback("attention", "q, k / v or one query's scores [H, S] are over the device's largest allocation");
        to_host(q, int64_t(s.T) * s.H * s.Dh);
        to_host(k, int64_t(s.S) * s.Hkv * s.Dh);
        to_host(v, int64_t(s.S) * s.Hkv * s.Dh);
        host_.attention(out, weights, q, k, v, q_pos, k_pos, q_block, k_block, rule, s);
        from_host(out, int64_t(s.T) * s.H * s.Dh);
        if (weights) from_host(weights, int64_t(s.H) * s.T * s.S);
        return;
    }
    cl_attention(*cl_, out, weights, q, k, v, q_pos, k_pos, q_block, k_block, rule, s);
    if (weights) from_host(weights, int64_t(s.H) * s.T * s.S);  // read straight into the host buffer
}
void ClBackend::rope_2d(float* x, int N, int H, int Dh, const int32_t* pos_x, const int32_t* pos_y, const float* inv_freq) {
    cl_rope_2d(*cl_, x, N, H, Dh, pos_x, pos_y, inv_freq);
}
void ClBackend::vision_pool(float* out, const float* x, int N, int Dv, const int32_t* pos_x, const int32_t* pos_y, int cols, int k, int G) {
    cl_vision_pool(*cl_, out, x, N, Dv, pos_x, pos_y, cols, k, G);
}
void ClBackend::conv2d_subsample(float* out, const float* x, const uint8_t* row_valid, int T, int F, int Cin, int Cout, const float* w,
                                 const float* norm_w, float eps) {
    cl_conv2d_subsample(*cl_, out, x, row_valid, T, F, Cin, Cout, w, norm_w, eps);
}
void ClBackend::audio_attention(float* out, float* weights, const float* q, const float* k, const float* v, const float* rel_k,
                                const uint8_t* key_valid, const AudioAttentionShape& s) {
    cl_audio_attention(*cl_, out, weights, q, k, v, rel_k, key_valid, s);
}

}  // namespace gemma4::cl
