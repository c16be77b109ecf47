// audio_tower.cpp — the audio encoder (audio_tower.h), top to bottom in the order transformers 5.23 runs it
// (modeling_gemma4.py: Gemma4AudioModel.forward → Gemma4AudioSubSampleConvProjection → Gemma4AudioLayer ×L →
// output_proj; then Gemma4MultimodalEmbedder). Each step names the HF class or line it mirrors. Loops are the plain
// definition (OpenMP on the outer loop where it pays); the big matmuls go through ops.h, so --backend blas speeds them up.
#include "audio_tower.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "error.h"
#include "safetensors.h"

namespace gemma4 {

namespace {

// The named buffers of one encode() call; A = mel frames, A' = steps after subsampling, shapes in the comments.
struct AudioActivations {
    int steps = 0;                        // A'
    std::vector<uint8_t> step_valid;      // [A'] mask[::2][::2]
    std::vector<float> sscp0;             // [⌈A/2⌉, 64, C0]  stage 0: conv → LayerNorm → ReLU (time, freq, channel)
    std::vector<float> sscp1;             // [A', 32, C1]     stage 1
    std::vector<float> x;                 // [A', Da]  residual stream
    std::vector<float> norm;              // [A', Da]  input of the current block after its pre-norm
    std::vector<float> linear_in;         // clamped input of a clippable linear (widest: [A', 4Da])
    std::vector<float> ffn_hidden;        // [A', 4Da] silu(ffw_layer_1)
    std::vector<float> ffn_out;           // [A', Da]  ffw_layer_2 → post-norm
    std::vector<float> attn_q, attn_k, attn_v;  // [A', H, Dh] after the q / k scales
    std::vector<float> attn_weights;      // [H, A', P]  the probabilities of self + P−1 previous keys (probe layout)
    std::vector<float> attn_ctx;          // [A', H·Dh]  probabilities × V, heads concatenated (post's input)
    std::vector<float> attn_post;         // [A', Da]    post → clamp → norm_post_attn
    std::vector<float> lconv_start;       // [A', 2Da]   linear_start
    std::vector<float> lconv_glu;         // [A', Da]    GLU
    std::vector<float> lconv_conv;        // [A', Da]    causal depthwise conv → clamp → conv_norm → SiLU
    std::vector<float> lconv_out;         // [A', Da]    linear_end
    std::vector<float> encoder_out;       // [A', 1536]
    std::vector<float> embed_norm;        // [M, 1536]   weightless RMSNorm of the valid steps
    std::vector<float> soft_tokens;       // [M, D]
};

TensorView view(const std::vector<float>& buf, std::vector<int64_t> shape) { return TensorView{buf.data(), std::move(shape)}; }



float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }  // F.softplus (threshold 20)



// mask[::2]
std::vector<uint8_t> every_other(const std::vector<uint8_t>& mask) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i < mask.size(); i += 2) out.push_back(mask[i]);
    return out;
}

struct Ctx {
    const AudioConfig& cfg;
    Backend& be;
    ProbeSink* probes;
    float eps, grad_clip;
};

// Gemma4AudioFeedForward, in place on a.x: x + residual_weight · post_norm(clamp(W2 · silu(W1 · pre_norm(clamp(x))))).
void ffn_forward(const Ctx& c, const AudioFfnWeights& fw, AudioActivations& a) {
    const int T = a.steps, Da = c.cfg.hidden_size, I = 4 * Da;
    const int64_t TD = int64_t(T) * Da;
    c.be.clamp(a.norm.data(), a.x.data(), TD, -c.grad_clip, c.grad_clip);
    c.be.rms_norm(a.norm.data(), a.norm.data(), fw.pre_layer_norm.data(), T, Da, c.eps);
    clippable_linear(a.ffn_hidden.data(), a.norm.data(), fw.ffw_layer_1, T, a.linear_in, c.be);
    c.be.silu(a.ffn_hidden.data(), int64_t(T) * I);
    clippable_linear(a.ffn_out.data(), a.ffn_hidden.data(), fw.ffw_layer_2, T, a.linear_in, c.be);
    c.be.clamp(a.ffn_out.data(), a.ffn_out.data(), TD, -c.grad_clip, c.grad_clip);
    c.be.rms_norm(a.ffn_out.data(), a.ffn_out.data(), fw.post_layer_norm.data(), T, Da, c.eps);
    const float residual_weight = static_cast<float>(c.cfg.residual_weight);
    c.be.add_scaled(a.x.data(), a.x.data(), a.ffn_out.data(), residual_weight, TD);  // hidden *= post_layer_scale; hidden += residual
}

// Gemma4AudioAttention on a.norm → a.attn_ctx (before `post`). Queries are cut into blocks of C; block b sees the
// W = C + P + Fr context slots of key positions b·C − P … b·C + C + Fr − 1 (P = context_left − 1, Fr = context_right),
// zero outside the clip. logit = softcap(q·k + q·R[rel]) with R the projected sinusoid table placed by rel_shift;
// keys that are padding or outside the sliding window (0 ≤ q − k < P, or 0 < k − q < Fr) get the invalid-logit value;
// softmax over all W slots.
void attention_forward(const Ctx& c, const AudioLayerWeights& lw, int l, AudioActivations& a) {
    const AudioConfig& cfg = c.cfg;
    const int T = a.steps, H = cfg.num_attention_heads, Dh = cfg.head_dim();
    const int C = cfg.attention_chunk_size, P = cfg.attention_context_left - 1, Fr = cfg.attention_context_right;
    const float cap = static_cast<float>(cfg.attention_logit_cap);
    const float invalid = static_cast<float>(cfg.attention_invalid_logits_value);
    const float q_scale = static_cast<float>(std::pow(Dh, -0.5) / std::log(2.0));
    const float k_scale = static_cast<float>(std::log(1.0 + M_E) / std::log(2.0));

    clippable_linear(a.attn_q.data(), a.norm.data(), lw.q_proj, T, a.linear_in, c.be);
    clippable_linear(a.attn_k.data(), a.norm.data(), lw.k_proj, T, a.linear_in, c.be);
    clippable_linear(a.attn_v.data(), a.norm.data(), lw.v_proj, T, a.linear_in, c.be);
    // query_states * q_scale * softplus(per_dim_scale); key_states * k_scale
    c.be.scale(a.attn_q.data(), int64_t(T) * H * Dh, q_scale);
    c.be.mul_cols(a.attn_q.data(), int64_t(T) * H, Dh, lw.q_scale.data(), 1.0f);
    c.be.scale(a.attn_k.data(), int64_t(T) * H * Dh, k_scale);

    const bool want_weights = c.probes && c.probes->wants(Probe::audio_attn_weights, l);
    if (want_weights) {
        a.attn_weights.assign(size_t(H) * T * P, 0.0f);
        c.be.on_alloc(a.attn_weights);
    }
    const AudioAttentionShape shape{T, H, Dh, C, P, Fr, cap, invalid};
    c.be.audio_attention(a.attn_ctx.data(), want_weights ? a.attn_weights.data() : nullptr, a.attn_q.data(), a.attn_k.data(),
                         a.attn_v.data(), lw.rel_k.data(), a.step_valid.data(), shape);
    if (want_weights) G4_PROBE_BE(c.be, c.probes, Probe::audio_attn_weights, l, view(a.attn_weights, {H, T, P}));
}

// Gemma4AudioLightConv1d, in place on a.x: x + linear_end(silu(conv_norm(clamp(causal_dwconv(glu(linear_start(pre_norm(x))))))))
void lconv_forward(const Ctx& c, const AudioLayerWeights& lw, AudioActivations& a) {
    const int T = a.steps, Da = c.cfg.hidden_size, K = c.cfg.conv_kernel_size;
    const int64_t TD = int64_t(T) * Da;
    c.be.rms_norm(a.norm.data(), a.x.data(), lw.lconv_pre_norm.data(), T, Da, c.eps);
    clippable_linear(a.lconv_start.data(), a.norm.data(), lw.linear_start, T, a.linear_in, c.be);
    // nn.functional.glu: first half · sigmoid(second half)
    c.be.glu(a.lconv_glu.data(), a.lconv_start.data(), T, Da);
    // Gemma4AudioCausalConv1d: left-pad K − 1 zeros, depthwise (groups = Da), no bias
    c.be.causal_dwconv(a.lconv_conv.data(), a.lconv_glu.data(), lw.depthwise_conv.data(), T, Da, K);
    c.be.clamp(a.lconv_conv.data(), a.lconv_conv.data(), TD, -c.grad_clip, c.grad_clip);
    c.be.rms_norm(a.lconv_conv.data(), a.lconv_conv.data(), lw.conv_norm.data(), T, Da, c.eps);
    c.be.silu(a.lconv_conv.data(), TD);
    clippable_linear(a.lconv_out.data(), a.lconv_conv.data(), lw.linear_end, T, a.linear_in, c.be);
    c.be.add(a.x.data(), a.x.data(), a.lconv_out.data(), TD);
}

// Gemma4AudioLayer.forward
void layer_forward(const Ctx& c, const AudioLayerWeights& lw, int l, AudioActivations& a) {
    const int T = a.steps, Da = c.cfg.hidden_size;
    const int64_t TD = int64_t(T) * Da;

    // Macaron half step: x = x + ½ · FFN1(x)
    ffn_forward(c, lw.ffn1, a);
    G4_PROBE_BE(c.be, c.probes, Probe::audio_ffn1_out, l, view(a.x, {T, Da}));

    // Attention block: x = x + norm_post_attn(clamp(post(attn(norm_pre_attn(clamp(x))))))
    c.be.clamp(a.norm.data(), a.x.data(), TD, -c.grad_clip, c.grad_clip);
    c.be.rms_norm(a.norm.data(), a.norm.data(), lw.norm_pre_attn.data(), T, Da, c.eps);
    attention_forward(c, lw, l, a);
    clippable_linear(a.attn_post.data(), a.attn_ctx.data(), lw.post, T, a.linear_in, c.be);
    c.be.clamp(a.attn_post.data(), a.attn_post.data(), TD, -c.grad_clip, c.grad_clip);
    c.be.rms_norm(a.attn_post.data(), a.attn_post.data(), lw.norm_post_attn.data(), T, Da, c.eps);
    c.be.add(a.x.data(), a.x.data(), a.attn_post.data(), TD);
    G4_PROBE_BE(c.be, c.probes, Probe::audio_attn_out, l, view(a.x, {T, Da}));

    // Light convolution block (its own residual)
    lconv_forward(c, lw, a);
    G4_PROBE_BE(c.be, c.probes, Probe::audio_conv_out, l, view(a.x, {T, Da}));

    // Second half step, then norm_out(clamp(x))
    ffn_forward(c, lw.ffn2, a);
    c.be.clamp(a.x.data(), a.x.data(), TD, -c.grad_clip, c.grad_clip);
    c.be.rms_norm(a.x.data(), a.x.data(), lw.norm_out.data(), T, Da, c.eps);
    G4_PROBE_BE(c.be, c.probes, Probe::audio_layer_out, l, view(a.x, {T, Da}));
}

}  // namespace

AudioTower::AudioTower(const Checkpoint& ck) {
    if (!ck.config.audio) throw Error("checkpoint '" + ck.dir + "' has no audio tower (config.json has no audio_config)");
    if (ck.config.text_only_layout) throw Error("checkpoint '" + ck.dir + "' is a text-only (Gemma4ForCausalLM) checkpoint: no audio tower");
    cfg_ = *ck.config.audio;
    text_hidden_ = ck.config.text.hidden_size;
    if (cfg_.hidden_act != "silu" && cfg_.hidden_act != "swish")
        throw Error("checkpoint '" + ck.dir + "': audio hidden_act '" + cfg_.hidden_act + "' is not supported (expected silu)");
    const std::string p = "model.audio_tower.";
    const bool clip = cfg_.use_clipped_linears;
    const int Da = cfg_.hidden_size, H = cfg_.num_attention_heads, Dh = cfg_.head_dim();

    w_.sscp_conv0 = load_f32(ck.tensor(p + "subsample_conv_projection.layer0.conv.weight"));
    w_.sscp_norm0 = load_f32(ck.tensor(p + "subsample_conv_projection.layer0.norm.weight"));
    w_.sscp_conv1 = load_f32(ck.tensor(p + "subsample_conv_projection.layer1.conv.weight"));
    w_.sscp_norm1 = load_f32(ck.tensor(p + "subsample_conv_projection.layer1.norm.weight"));
    w_.input_proj = weight_view(ck.tensor(p + "subsample_conv_projection.input_proj_linear.weight"));
    w_.output_proj = weight_view(ck.tensor(p + "output_proj.weight"));
    w_.output_proj_bias = load_f32(ck.tensor(p + "output_proj.bias"));
    w_.embed_audio = weight_view(ck.tensor("model.embed_audio.embedding_projection.weight"));

    // Gemma4AudioRelPositionalEncoding: rows for distances n_rel − 1 … 0, [sin(d·τ_i) | cos(d·τ_i)],
    // τ_i = exp(−i · ln(10⁴) / (Da/2 − 1)) — float32 like torch (the increment itself is a Python double).
    const int W = cfg_.attention_chunk_size + cfg_.attention_context_left - 1 + cfg_.attention_context_right;
    const int n_rel = W / 2 + 1, half = Da / 2;
    const double log_increment = std::log(10000.0) / std::max(half - 1, 1);
    std::vector<float> rel_table(size_t(n_rel) * Da);
    for (int p_row = 0; p_row < n_rel; ++p_row) {
        const float d = static_cast<float>(n_rel - 1 - p_row);
        for (int i = 0; i < half; ++i) {
            const float inv_timescale = std::exp(static_cast<float>(i) * static_cast<float>(-log_increment));
            const float angle = d * inv_timescale;
            rel_table[size_t(p_row) * Da + i] = std::sin(angle);
            rel_table[size_t(p_row) * Da + half + i] = std::cos(angle);
        }
    }

    w_.layers.resize(cfg_.num_hidden_layers);
    for (int l = 0; l < cfg_.num_hidden_layers; ++l) {
        AudioLayerWeights& lw = w_.layers[l];
        const std::string lp = p + "layers." + std::to_string(l) + ".";
        AudioFfnWeights* ffns[2] = {&lw.ffn1, &lw.ffn2};
        const char* ffn_names[2] = {"feed_forward1.", "feed_forward2."};
        for (int f = 0; f < 2; ++f) {
            const std::string fp = lp + ffn_names[f];
            ffns[f]->ffw_layer_1 = bind_clippable_linear(ck, fp + "ffw_layer_1", clip);
            ffns[f]->ffw_layer_2 = bind_clippable_linear(ck, fp + "ffw_layer_2", clip);
            ffns[f]->pre_layer_norm = load_f32(ck.tensor(fp + "pre_layer_norm.weight"));
            ffns[f]->post_layer_norm = load_f32(ck.tensor(fp + "post_layer_norm.weight"));
        }
        lw.norm_pre_attn = load_f32(ck.tensor(lp + "norm_pre_attn.weight"));
        lw.norm_post_attn = load_f32(ck.tensor(lp + "norm_post_attn.weight"));
        lw.norm_out = load_f32(ck.tensor(lp + "norm_out.weight"));
        lw.q_proj = bind_clippable_linear(ck, lp + "self_attn.q_proj", clip);
        lw.k_proj = bind_clippable_linear(ck, lp + "self_attn.k_proj", clip);
        lw.v_proj = bind_clippable_linear(ck, lp + "self_attn.v_proj", clip);
        lw.post = bind_clippable_linear(ck, lp + "self_attn.post", clip);
        // relative_k_proj depends only on weights: project the table once. [n_rel, H·Dh]
        lw.rel_k.assign(size_t(n_rel) * H * Dh, 0.0f);
        matmul_ref(lw.rel_k.data(), rel_table.data(), weight_view(ck.tensor(lp + "self_attn.relative_k_proj.weight")), n_rel);
        lw.q_scale = load_f32(ck.tensor(lp + "self_attn.per_dim_scale"));
        for (float& s : lw.q_scale) s = softplus(s);
        lw.linear_start = bind_clippable_linear(ck, lp + "lconv1d.linear_start", clip);
        lw.linear_end = bind_clippable_linear(ck, lp + "lconv1d.linear_end", clip);
        lw.depthwise_conv = load_f32(ck.tensor(lp + "lconv1d.depthwise_conv1d.weight"));
        lw.lconv_pre_norm = load_f32(ck.tensor(lp + "lconv1d.pre_layer_norm.weight"));
        lw.conv_norm = load_f32(ck.tensor(lp + "lconv1d.conv_norm.weight"));
    }
}

std::vector<float> AudioTower::encode(const MelFeatures& mel, ProbeSink* probes, Backend& be) const {
    const int A = mel.frames;
    if (A <= 0) throw Error("audio encode: no mel frames (the clip needs at least 161 samples at 16 kHz)");
    if (mel.mel.size() != size_t(A) * kMelBins || mel.valid.size() != size_t(A))
        throw Error("audio encode: mel features should be [" + std::to_string(A) + ", 128] with " + std::to_string(A) +
                    " validity flags; got " + std::to_string(mel.mel.size()) + " values and " + std::to_string(mel.valid.size()) + " flags");
    const AudioConfig& cfg = cfg_;
    const int Da = cfg.hidden_size, C0 = cfg.subsampling_conv_channels[0], C1 = cfg.subsampling_conv_channels[1];
    const int out_dims = cfg.output_proj_dims, D = text_hidden_;
    const Ctx c{cfg, be, probes, static_cast<float>(cfg.rms_norm_eps),
                static_cast<float>(std::min(cfg.gradient_clipping, double(FLT_MAX)))};
    AudioActivations a;

    G4_PROBE(probes, Probe::audio_mel, -1, view(mel.mel, {A, kMelBins}));

    // Gemma4AudioSubSampleConvProjection: two (mask, conv, LayerNorm, ReLU, mask[::2]) stages on [time, freq, channel],
    // then flatten (freq, channel) → input_proj_linear.
    const int A1 = (A - 1) / 2 + 1, F1 = (kMelBins - 1) / 2 + 1;
    a.sscp0.assign(size_t(A1) * F1 * C0, 0.0f);
    be.on_alloc(a.sscp0);
    be.from_host(mel.mel);  // the input, written by the host
    be.conv2d_subsample(a.sscp0.data(), mel.mel.data(), mel.valid.data(), A, kMelBins, 1, C0, w_.sscp_conv0.data(), w_.sscp_norm0.data(), c.eps);
    const std::vector<uint8_t> mask1 = every_other(mel.valid);
    a.steps = (A1 - 1) / 2 + 1;
    const int F2 = (F1 - 1) / 2 + 1, T = a.steps;
    a.sscp1.assign(size_t(T) * F2 * C1, 0.0f);
    be.on_alloc(a.sscp1);
    be.conv2d_subsample(a.sscp1.data(), a.sscp0.data(), mask1.data(), A1, F1, C0, C1, w_.sscp_conv1.data(), w_.sscp_norm1.data(), c.eps);
    a.step_valid = every_other(mask1);
    if (int64_t(F2) * C1 != w_.input_proj.cols)
        throw Error("audio encode: subsampling gives " + std::to_string(F2) + " × " + std::to_string(C1) + " features per step, input_proj_linear expects " +
                    std::to_string(w_.input_proj.cols));

    const int64_t TD = int64_t(T) * Da;
    for (auto* buf : {&a.x, &a.norm, &a.ffn_out, &a.attn_q, &a.attn_k, &a.attn_v, &a.attn_ctx, &a.attn_post, &a.lconv_glu, &a.lconv_conv,
                      &a.lconv_out})
        buf->assign(TD, 0.0f);
    a.ffn_hidden.assign(4 * TD, 0.0f);
    a.lconv_start.assign(2 * TD, 0.0f);
    for (auto* buf : {&a.x, &a.norm, &a.ffn_out, &a.attn_q, &a.attn_k, &a.attn_v, &a.attn_ctx, &a.attn_post, &a.lconv_glu, &a.lconv_conv,
                      &a.lconv_out, &a.ffn_hidden, &a.lconv_start})
        be.on_alloc(*buf);
    be.matmul(a.x.data(), a.sscp1.data(), w_.input_proj, T);
    G4_PROBE_BE(be, probes, Probe::audio_subsample, -1, view(a.x, {T, Da}));

    for (int l = 0; l < cfg.num_hidden_layers; ++l) layer_forward(c, w_.layers[l], l, a);

    // output_proj: Linear(Da → 1536) with bias, every step (padding steps included, as HF returns them).
    a.encoder_out.assign(size_t(T) * out_dims, 0.0f);
    be.on_alloc(a.encoder_out);
    be.matmul(a.encoder_out.data(), a.x.data(), w_.output_proj, T);
    be.add_rows(a.encoder_out.data(), T, out_dims, w_.output_proj_bias.data());
    G4_PROBE_BE(be, probes, Probe::audio_encoder_out, -1, view(a.encoder_out, {T, out_dims}));

    // embed_audio (Gemma4MultimodalEmbedder): weightless RMSNorm, then Linear(1536 → D); only the valid steps are kept
    // (get_audio_features → audio_features[mask]). The norm and projection are per row, so selecting first is the same.
    int M = 0;
    for (int t = 0; t < T; ++t) M += a.step_valid[t] != 0;
    a.embed_norm.assign(size_t(M) * out_dims, 0.0f);
    be.on_alloc(a.embed_norm);
    for (int t = 0, m = 0; t < T; ++t)
        if (a.step_valid[t]) be.copy(a.embed_norm.data() + size_t(m++) * out_dims, a.encoder_out.data() + size_t(t) * out_dims, out_dims);
    be.rms_norm(a.embed_norm.data(), a.embed_norm.data(), nullptr, M, out_dims, c.eps);
    a.soft_tokens.assign(size_t(M) * D, 0.0f);
    be.on_alloc(a.soft_tokens);
    if (M > 0) be.matmul(a.soft_tokens.data(), a.embed_norm.data(), w_.embed_audio, M);
    G4_PROBE_BE(be, probes, Probe::audio_soft_tokens, -1, view(a.soft_tokens, {M, D}));
    be.to_host(a.soft_tokens);  // the caller merges them into the text embeddings on the host
    for (auto* buf : {&a.sscp0, &a.sscp1, &a.x, &a.norm, &a.linear_in, &a.ffn_hidden, &a.ffn_out, &a.attn_q, &a.attn_k, &a.attn_v,
                      &a.attn_weights, &a.attn_ctx, &a.attn_post, &a.lconv_start, &a.lconv_glu, &a.lconv_conv, &a.lconv_out, &a.encoder_out,
                      &a.embed_norm, &a.soft_tokens})
        be.on_free(*buf);
    be.on_free(mel.mel);
    return std::move(a.soft_tokens);
}

}  // namespace gemma4
