// cl_ops_audio.cpp — host wrappers for kernels/audio.cl: check the shape, upload, set arguments, enqueue, download.
// The kernel file's header describes the versions; the work-group size of conv2d_subsample's LayerNorm is chosen here.
#include "cl_ops_audio.h"

#include <algorithm>
#include <string>
#include <vector>

#include "cl_launch.h"
#include "error.h"

namespace gemma4::cl {

using namespace launch;

namespace {

// A mask of n uchar flags on the device: `mask` as given, or all ones when it is nullptr.
Buffer upload_mask(ClContext& cl, const uint8_t* mask, int n, const std::string& what) {
    if (mask) return cl.upload(mask, static_cast<size_t>(n), what);
    const std::vector<uint8_t> ones(static_cast<size_t>(n), 1);
    return cl.upload(ones.data(), ones.size(), what);
}

}  // namespace

void cl_causal_dwconv(ClContext& cl, float* out, const float* x, const float* w, int T, int C, int K) {
    if (T <= 0 || C <= 0) return;
    if (K < 1) throw Error("cl_causal_dwconv: kernel size K = " + std::to_string(K) + " is not positive");
    const size_t count = bytes_of(int64_t(T) * C);
    const Buffer x_buf = cl.in(x, count, "causal_dwconv x[T, C]");
    const Buffer w_buf = cl.upload(w, bytes_of(int64_t(C) * K), "causal_dwconv w[C, K]");
    const Buffer out_buf = cl.out(out, count, "causal_dwconv out[T, C]");
    cl_kernel k = cl.kernel("audio", "causal_dwconv");
    set_args(k, out_buf, x_buf, w_buf, cl_int(T), cl_int(C), cl_int(K));
    const size_t global[2] = {static_cast<size_t>(C), static_cast<size_t>(T)};
    run(cl, k, 2, global, nullptr);
    cl.done(out_buf, out, count);
}

void cl_conv2d_subsample(ClContext& cl, float* out, const float* x, const uint8_t* row_valid, int T, int F, int Cin, int Cout,
                         const float* w, const float* norm_w, float eps) {
    if (T <= 0 || F <= 0 || Cout <= 0) return;
    if (Cin < 1) throw Error("cl_conv2d_subsample: input channels Cin = " + std::to_string(Cin) + " is not positive");
    const int T2 = (T - 1) / 2 + 1, F2 = (F - 1) / 2 + 1;
    // Lanes per cell: a power of two, no more than the reduction group and no more than Cout rounded up.
    size_t lanes = 1;
    while (lanes < static_cast<size_t>(Cout) && lanes * 2 <= reduction_group(cl)) lanes *= 2;
    const Buffer x_buf = cl.in(x, bytes_of(int64_t(T) * F * Cin), "conv2d_subsample x[T, F, Cin]");
    const Buffer valid_buf = upload_mask(cl, row_valid, T, "conv2d_subsample row_valid[T]");
    const Buffer w_buf = cl.upload(w, bytes_of(int64_t(Cout) * Cin * 9), "conv2d_subsample w[Cout, Cin, 3, 3]");
    const Buffer norm_buf = cl.upload(norm_w, bytes_of(Cout), "conv2d_subsample norm_w[Cout]");
    const size_t out_bytes = bytes_of(int64_t(T2) * F2 * Cout);
    const Buffer out_buf = cl.out(out, out_bytes, "conv2d_subsample out[T2, F2, Cout]");
    cl_kernel k = cl.kernel("audio", "conv2d_subsample");
    set_args(k, out_buf, x_buf, valid_buf, w_buf, norm_buf, LocalBytes{lanes * sizeof(float)}, cl_int(T), cl_int(F), cl_int(Cin),
             cl_int(Cout), cl_float(eps));
    const size_t global[3] = {lanes, static_cast<size_t>(F2), static_cast<size_t>(T2)};
    const size_t local[3] = {lanes, 1, 1};
    run(cl, k, 3, global, local);
    cl.done(out_buf, out, out_bytes);
}

void cl_audio_attention(ClContext& cl, float* out, float* weights, const float* q, const float* k, const float* v, const float* rel_k,
                        const uint8_t* key_valid, const AudioAttentionShape& s) {
    if (s.T <= 0 || s.H <= 0 || s.Dh <= 0) return;
    if (s.C < 1) throw Error("cl_audio_attention: chunk size C = " + std::to_string(s.C) + " is not positive");
    if (s.P < 0 || s.Fr < 0)
        throw Error("cl_audio_attention: negative context (left P = " + std::to_string(s.P) + ", right Fr = " + std::to_string(s.Fr) + ")");
    if (s.cap == 0.0f) throw Error("cl_audio_attention: logit cap is 0 (the logits are cap · tanh(x / cap))");
    const int64_t W = int64_t(s.C) + s.P + s.Fr, n_rel = W / 2 + 1;
    check_int_range(W, "context slots W = C + P + Fr");
    check_int_range(int64_t(s.H) * s.Dh, "H·Dh");
    const int64_t rows = int64_t(s.T) * s.H;
    const size_t qkv_bytes = bytes_of(rows * s.Dh);
    const Buffer q_buf = cl.in(q, qkv_bytes, "audio_attention q[T, H, Dh]");
    const Buffer k_buf = cl.in(k, qkv_bytes, "audio_attention k[T, H, Dh]");
    const Buffer v_buf = cl.in(v, qkv_bytes, "audio_attention v[T, H, Dh]");
    const Buffer rel_buf = cl.upload(rel_k, bytes_of(n_rel * s.H * s.Dh), "audio_attention rel_k[W/2 + 1, H·Dh]");
    const Buffer valid_buf = upload_mask(cl, key_valid, s.T, "audio_attention key_valid[T]");
    const Buffer scores_buf = cl.alloc(bytes_of(rows * W), "audio_attention scores[H, T, W]");
    const Buffer out_buf = cl.out(out, qkv_bytes, "audio_attention out[T, H·Dh]");

    const size_t T = static_cast<size_t>(s.T), H = static_cast<size_t>(s.H);
    cl_kernel logits = cl.kernel("audio", "audio_attn_logits");
    set_args(logits, scores_buf, q_buf, k_buf, rel_buf, valid_buf, cl_int(s.T), cl_int(s.H), cl_int(s.Dh), cl_int(s.C), cl_int(s.P),
             cl_int(s.Fr), cl_float(s.cap), cl_float(s.invalid));
    const size_t logits_global[3] = {static_cast<size_t>(W), T, H};
    run(cl, logits, 3, logits_global, nullptr);

    cl_kernel softmax = cl.kernel("audio", "audio_attn_softmax");
    set_args(softmax, scores_buf, cl_int(s.T), cl_int(s.H), cl_int(W));
    const size_t softmax_global[2] = {T, H};
    run(cl, softmax, 2, softmax_global, nullptr);

    cl_kernel values = cl.kernel("audio", "audio_attn_values");
    set_args(values, out_buf, scores_buf, v_buf, cl_int(s.T), cl_int(s.H), cl_int(s.Dh), cl_int(s.C), cl_int(s.P), cl_int(s.Fr));
    const size_t values_global[3] = {static_cast<size_t>(s.Dh), T, H};
    run(cl, values, 3, values_global, nullptr);

    if (weights && s.P > 0) {
        const size_t weights_bytes = bytes_of(rows * s.P);
        const Buffer weights_buf = cl.out(weights, weights_bytes, "audio_attention weights[H, T, P]");
        cl_kernel copy = cl.kernel("audio", "audio_attn_weights");
        set_args(copy, weights_buf, scores_buf, cl_int(s.T), cl_int(s.H), cl_int(s.C), cl_int(s.P), cl_int(s.Fr));
        const size_t copy_global[3] = {static_cast<size_t>(s.P), T, H};
        run(cl, copy, 3, copy_global, nullptr);
        cl.done(weights_buf, weights, weights_bytes);
    }
    cl.done(out_buf, out, qkv_bytes);
}

}  // namespace gemma4::cl
