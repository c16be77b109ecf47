// vision.cpp — the vision tower (vision.h), top to bottom in the order transformers 5.23 runs it (modeling_gemma4.py:
// Gemma4VisionModel.forward → Gemma4VisionPatchEmbedder → Gemma4VisionEncoderLayer ×L → Gemma4VisionPooler →
// standardize; then Gemma4MultimodalEmbedder). Each step names the HF class or line it mirrors. The projections and
// the two attention products go through ops.h matmul (per head, with K and Vᵀ viewed as weights), so --backend blas
// speeds up the whole tower; everything else is a plain loop.
#include "vision.h"

#include <algorithm>
#include <cmath>

#include "error.h"
#include "safetensors.h"

namespace gemma4 {

namespace {

// The named buffers of one encode() call; N = real patches, G = pooled cells, shapes in the comments.
struct VisionActivations {
    std::vector<float> patch_in;         // [N, 3·p·p]  2·(pixels − 0.5)
    std::vector<float> x;                // [N, Dv]     residual stream (starts as the patch embedding)
    std::vector<float> norm;             // [N, Dv]     input_layernorm / pre_feedforward_layernorm output
    std::vector<float> linear_in;        // clamped input of a clippable linear (widest: [N, I])
    std::vector<float> attn_q, attn_k, attn_v;  // [N, H, Dh] after their norms (and RoPE for q, k)
    std::vector<float> head_q, head_k;   // [N, Dh]     one head's q and k, contiguous
    std::vector<float> head_vt;          // [Dh, N]     one head's v, transposed (the "weight" of probabilities × V)
    std::vector<float> head_ctx;         // [N, Dh]     one head's probabilities × V
    std::vector<float> head_probs;       // [N, N]      one head's softmax probabilities
    std::vector<float> attn_weights;     // [H, N, N]   every head's, kept only when the probe is wanted (6.5 GB at N = 10080)
    std::vector<float> attn_ctx;         // [N, H·Dh]   heads concatenated (o_proj input)
    std::vector<float> attn_o;           // [N, Dv]     o_proj output, then post_attention_layernorm in place
    std::vector<float> mlp_gate, mlp_up; // [N, I]
    std::vector<float> mlp_out;          // [N, Dv]     down_proj output, then post_feedforward_layernorm in place
    std::vector<float> pooled;           // [G, Dv]     3×3 mean × √Dv (then standardized in place)
    std::vector<float> embed_norm;       // [G, Dv]     weightless RMSNorm
    std::vector<float> soft_tokens;      // [G, D]
};

TensorView view(const std::vector<float>& buf, std::vector<int64_t> shape) { return TensorView{buf.data(), std::move(shape)}; }

}  // namespace

VisionTower::VisionTower(const Checkpoint& ck) {
    if (!ck.config.vision || ck.config.text_only_layout)
        throw Error(ck.dir + ": this checkpoint has no vision tower (config.json has no vision_config)");
    cfg_ = *ck.config.vision;
    text_hidden_ = ck.config.text.hidden_size;
    const std::string p = "model.vision_tower.";
    const bool clipped = cfg_.use_clipped_linears;
    w_.input_proj = weight_view(ck.tensor(p + "patch_embedder.input_proj.weight"));
    w_.position_table = &ck.tensor(p + "patch_embedder.position_embedding_table");
    for (int l = 0; l < cfg_.num_hidden_layers; ++l) {
        const std::string lp = p + "encoder.layers." + std::to_string(l) + ".";
        VisionLayerWeights lw;
        lw.input_layernorm = load_f32(ck.tensor(lp + "input_layernorm.weight"));
        lw.post_attention_layernorm = load_f32(ck.tensor(lp + "post_attention_layernorm.weight"));
        lw.pre_feedforward_layernorm = load_f32(ck.tensor(lp + "pre_feedforward_layernorm.weight"));
        lw.post_feedforward_layernorm = load_f32(ck.tensor(lp + "post_feedforward_layernorm.weight"));
        lw.q_proj = bind_clippable_linear(ck, lp + "self_attn.q_proj", clipped);
        lw.k_proj = bind_clippable_linear(ck, lp + "self_attn.k_proj", clipped);
        lw.v_proj = bind_clippable_linear(ck, lp + "self_attn.v_proj", clipped);
        lw.o_proj = bind_clippable_linear(ck, lp + "self_attn.o_proj", clipped);
        lw.q_norm = load_f32(ck.tensor(lp + "self_attn.q_norm.weight"));
        lw.k_norm = load_f32(ck.tensor(lp + "self_attn.k_norm.weight"));
        lw.gate_proj = bind_clippable_linear(ck, lp + "mlp.gate_proj", clipped);
        lw.up_proj = bind_clippable_linear(ck, lp + "mlp.up_proj", clipped);
        lw.down_proj = bind_clippable_linear(ck, lp + "mlp.down_proj", clipped);
        w_.layers.push_back(std::move(lw));
    }
    if (cfg_.standardize) {
        w_.std_bias = load_f32(ck.tensor(p + "std_bias"));
        w_.std_scale = load_f32(ck.tensor(p + "std_scale"));
    }
    w_.embed_vision = weight_view(ck.tensor("model.embed_vision.embedding_projection.weight"));
    // Gemma4VisionRotaryEmbedding.compute_axial_rope_parameters: θ^(−2i/m), m = Dh/2, for i < m/2 (both axes).
    rope_inv_freq_ = rope_inv_freq(cfg_.head_dim / 2, cfg_.rope_theta, cfg_.head_dim / 4, 1.0);
}

std::vector<float> VisionTower::encode(const PatchedImage& img, ProbeSink* probes, Backend& be) const {
    const int N = img.num_patches(), Dv = cfg_.hidden_size, H = cfg_.num_attention_heads, Dh = cfg_.head_dim;
    const int I = cfg_.intermediate_size, P = cfg_.patch_dim(), k = cfg_.pooling_kernel_size, D = text_hidden_;
    const float eps = static_cast<float>(cfg_.rms_norm_eps);
    if (N == 0) throw Error("vision encode: the image has no patches");
    if (img.patches.size() != size_t(N) * P || img.pos_y.size() != size_t(N))
        throw Error("vision encode: " + std::to_string(img.patches.size()) + " pixel values and " + std::to_string(img.pos_y.size()) +
                    " row positions for " + std::to_string(N) + " patches of " + std::to_string(P));
    if (cfg_.num_key_value_heads != H) throw Error("vision encode: the vision tower has no grouped-query attention (kv heads must equal heads)");
    // The patch grid from the positions, as Gemma4VisionPooler takes it (max_x + 1 columns).
    const int cols = *std::max_element(img.pos_x.begin(), img.pos_x.end()) + 1;
    const int rows = *std::max_element(img.pos_y.begin(), img.pos_y.end()) + 1;
    if (*std::min_element(img.pos_x.begin(), img.pos_x.end()) < 0 || *std::min_element(img.pos_y.begin(), img.pos_y.end()) < 0 ||
        cols > cfg_.position_embedding_size || rows > cfg_.position_embedding_size)
        throw Error("vision encode: patch positions must lie in [0, " + std::to_string(cfg_.position_embedding_size) + ")");
    if (rows % k != 0 || cols % k != 0 || int64_t(rows) * cols != N)
        throw Error("vision encode: a " + std::to_string(rows) + "x" + std::to_string(cols) + " patch grid with " + std::to_string(N) +
                    " patches cannot be pooled " + std::to_string(k) + "x" + std::to_string(k) + " (the grid must be full, multiples of " +
                    std::to_string(k) + ")");
    const int G = (rows / k) * (cols / k);

    VisionActivations a;
    const std::vector<float> grid = {float(rows), float(cols)};
    G4_PROBE(probes, Probe::vision_patches, -1, view(img.patches, {N, P}));
    G4_PROBE(probes, Probe::vision_patch_grid, -1, view(grid, {2}));

    // Gemma4VisionPatchEmbedder.forward: input_proj(2·(pixels − 0.5)) + table[0][x] + table[1][y].
    a.patch_in.resize(size_t(N) * P);
    for (size_t i = 0; i < a.patch_in.size(); ++i) a.patch_in[i] = 2.0f * (img.patches[i] - 0.5f);
    a.x.resize(size_t(N) * Dv);
    be.on_alloc(a.patch_in);  // written by the host above
    be.on_alloc(a.x);
    be.matmul(a.x.data(), a.patch_in.data(), w_.input_proj, N);
    {
        std::vector<float> ex(size_t(N) * Dv), ey(size_t(N) * Dv);
        be.on_alloc(ex);
        be.on_alloc(ey);
        be.embed_rows(ex.data(), expert_slice(*w_.position_table, 0), img.pos_x.data(), N, 1.0f);
        be.embed_rows(ey.data(), expert_slice(*w_.position_table, 1), img.pos_y.data(), N, 1.0f);
        be.add(ex.data(), ex.data(), ey.data(), int64_t(N) * Dv);
        be.add(a.x.data(), a.x.data(), ex.data(), int64_t(N) * Dv);  // hidden_states + (x_emb + y_emb)
        be.on_free(ex);
        be.on_free(ey);
    }
    G4_PROBE_BE(be, probes, Probe::vision_patch_embed, -1, view(a.x, {N, Dv}));

    a.norm.resize(size_t(N) * Dv);
    a.attn_q.resize(size_t(N) * H * Dh);
    a.attn_k.resize(a.attn_q.size());
    a.attn_v.resize(a.attn_q.size());
    a.head_q.resize(size_t(N) * Dh);
    a.head_k.resize(size_t(N) * Dh);
    a.head_vt.resize(size_t(N) * Dh);
    a.head_ctx.resize(size_t(N) * Dh);
    a.head_probs.resize(size_t(N) * N);
    a.attn_ctx.resize(size_t(N) * H * Dh);
    a.attn_o.resize(size_t(N) * Dv);
    a.mlp_gate.resize(size_t(N) * I);
    a.mlp_up.resize(size_t(N) * I);
    a.mlp_out.resize(size_t(N) * Dv);
    for (auto* buf : {&a.norm, &a.attn_q, &a.attn_k, &a.attn_v, &a.head_q, &a.head_k, &a.head_vt, &a.head_ctx, &a.head_probs, &a.attn_ctx,
                      &a.attn_o, &a.mlp_gate, &a.mlp_up, &a.mlp_out})
        be.on_alloc(*buf);

    for (int l = 0; l < cfg_.num_hidden_layers; ++l) {
        const VisionLayerWeights& lw = w_.layers[l];
        // Gemma4VisionEncoderLayer.forward: input_layernorm → attention → post_attention_layernorm → residual.
        be.rms_norm(a.norm.data(), a.x.data(), lw.input_layernorm.data(), N, Dv, eps);
        G4_PROBE_BE(be, probes, Probe::vision_attn_norm, l, view(a.norm, {N, Dv}));

        // Gemma4VisionAttention: q, k with weighted RMSNorm over Dh then 2-D RoPE; v with the weightless v_norm.
        clippable_linear(a.attn_q.data(), a.norm.data(), lw.q_proj, N, a.linear_in, be);
        be.rms_norm(a.attn_q.data(), a.attn_q.data(), lw.q_norm.data(), int64_t(N) * H, Dh, eps);
        be.rope_2d(a.attn_q.data(), N, H, Dh, img.pos_x.data(), img.pos_y.data(), rope_inv_freq_.data());
        G4_PROBE_BE(be, probes, Probe::vision_attn_q_rope, l, view(a.attn_q, {N, H, Dh}));
        clippable_linear(a.attn_k.data(), a.norm.data(), lw.k_proj, N, a.linear_in, be);
        be.rms_norm(a.attn_k.data(), a.attn_k.data(), lw.k_norm.data(), int64_t(N) * H, Dh, eps);
        be.rope_2d(a.attn_k.data(), N, H, Dh, img.pos_x.data(), img.pos_y.data(), rope_inv_freq_.data());
        G4_PROBE_BE(be, probes, Probe::vision_attn_k_rope, l, view(a.attn_k, {N, H, Dh}));
        clippable_linear(a.attn_v.data(), a.norm.data(), lw.v_proj, N, a.linear_in, be);
        be.rms_norm(a.attn_v.data(), a.attn_v.data(), nullptr, int64_t(N) * H, Dh, eps);
        G4_PROBE_BE(be, probes, Probe::vision_attn_v, l, view(a.attn_v, {N, H, Dh}));

        // eager_attention_forward with scaling 1.0 and a bidirectional mask over the real patches (all of them here):
        // per head, scores = q·kᵀ, softmax over the keys, context = probabilities · v.
        const bool want_weights = probes != nullptr && probes->wants(Probe::vision_attn_weights, l);
        if (want_weights) {
            a.attn_weights.resize(size_t(H) * N * N);
            be.on_alloc(a.attn_weights);
        }
        // The per-head split and merge are host loops: q, k, v come back once per layer, the heads go out.
        be.to_host(a.attn_q);
        be.to_host(a.attn_k);
        be.to_host(a.attn_v);
        for (int h = 0; h < H; ++h) {
            for (int n = 0; n < N; ++n)
                for (int d = 0; d < Dh; ++d) {
                    const size_t src = (size_t(n) * H + h) * Dh + d;
                    a.head_q[size_t(n) * Dh + d] = a.attn_q[src];
                    a.head_k[size_t(n) * Dh + d] = a.attn_k[src];
                    a.head_vt[size_t(d) * N + n] = a.attn_v[src];
                }
            be.from_host(a.head_q);
            be.from_host(a.head_k);
            be.from_host(a.head_vt);
            float* probs = a.head_probs.data();
            be.matmul_nt(probs, a.head_q.data(), a.head_k.data(), N, N, Dh);
            be.softmax_rows(probs, N, N);
            if (want_weights) {
                be.to_host(probs, int64_t(N) * N);
                std::copy_n(probs, size_t(N) * N, &a.attn_weights[size_t(h) * N * N]);
            }
            be.matmul_nt(a.head_ctx.data(), probs, a.head_vt.data(), N, Dh, N);
            be.to_host(a.head_ctx);
            for (int n = 0; n < N; ++n)
                std::copy_n(&a.head_ctx[size_t(n) * Dh], Dh, &a.attn_ctx[(size_t(n) * H + h) * Dh]);
        }
        be.from_host(a.attn_ctx);
        if (want_weights) be.from_host(a.attn_weights);
        if (want_weights) G4_PROBE_BE(be, probes, Probe::vision_attn_weights, l, view(a.attn_weights, {H, N, N}));
        clippable_linear(a.attn_o.data(), a.attn_ctx.data(), lw.o_proj, N, a.linear_in, be);
        G4_PROBE_BE(be, probes, Probe::vision_attn_o, l, view(a.attn_o, {N, Dv}));
        be.rms_norm(a.attn_o.data(), a.attn_o.data(), lw.post_attention_layernorm.data(), N, Dv, eps);
        be.add(a.x.data(), a.x.data(), a.attn_o.data(), int64_t(N) * Dv);
        G4_PROBE_BE(be, probes, Probe::vision_attn_residual, l, view(a.x, {N, Dv}));

        // pre_feedforward_layernorm → Gemma4VisionMLP: down(gelu_tanh(gate(x)) · up(x)) → post_feedforward_layernorm → residual.
        be.rms_norm(a.norm.data(), a.x.data(), lw.pre_feedforward_layernorm.data(), N, Dv, eps);
        clippable_linear(a.mlp_gate.data(), a.norm.data(), lw.gate_proj, N, a.linear_in, be);
        clippable_linear(a.mlp_up.data(), a.norm.data(), lw.up_proj, N, a.linear_in, be);
        be.gelu_mul(a.mlp_gate.data(), a.mlp_gate.data(), a.mlp_up.data(), int64_t(N) * I);
        clippable_linear(a.mlp_out.data(), a.mlp_gate.data(), lw.down_proj, N, a.linear_in, be);
        G4_PROBE_BE(be, probes, Probe::vision_mlp_out, l, view(a.mlp_out, {N, Dv}));
        be.rms_norm(a.mlp_out.data(), a.mlp_out.data(), lw.post_feedforward_layernorm.data(), N, Dv, eps);
        be.add(a.x.data(), a.x.data(), a.mlp_out.data(), int64_t(N) * Dv);
        G4_PROBE_BE(be, probes, Probe::vision_layer_out, l, view(a.x, {N, Dv}));
    }
    // No final norm: Gemma4VisionEncoder returns the last layer's output.

    // Gemma4VisionPooler._avg_pool_by_positions: patch (x, y) adds weight 1/k² to cell x/k + (cols/k)·(y/k), summed
    // in patch order; then × √Dv in float32.
    a.pooled.assign(size_t(G) * Dv, 0.0f);
    be.on_alloc(a.pooled);
    be.vision_pool(a.pooled.data(), a.x.data(), N, Dv, img.pos_x.data(), img.pos_y.data(), cols, k, G);
    G4_PROBE_BE(be, probes, Probe::vision_pooled, -1, view(a.pooled, {G, Dv}));

    // Gemma4VisionModel.forward: (h − std_bias) · std_scale on the large towers.
    if (cfg_.standardize) be.standardize(a.pooled.data(), G, Dv, w_.std_bias.data(), w_.std_scale.data());

    // Gemma4MultimodalEmbedder: embedding_projection(RMSNorm without scale (x)), eps = the vision rms_norm_eps.
    a.embed_norm.resize(size_t(G) * Dv);
    be.on_alloc(a.embed_norm);
    be.rms_norm(a.embed_norm.data(), a.pooled.data(), nullptr, G, Dv, eps);
    a.soft_tokens.resize(size_t(G) * D);
    be.on_alloc(a.soft_tokens);
    be.matmul(a.soft_tokens.data(), a.embed_norm.data(), w_.embed_vision, G);
    G4_PROBE_BE(be, probes, Probe::vision_soft_tokens, -1, view(a.soft_tokens, {G, D}));
    be.to_host(a.soft_tokens);  // the caller merges them into the text embeddings on the host
    for (auto* buf : {&a.patch_in, &a.x, &a.norm, &a.linear_in, &a.attn_q, &a.attn_k, &a.attn_v, &a.head_q, &a.head_k, &a.head_vt,
                      &a.head_ctx, &a.head_probs, &a.attn_weights, &a.attn_ctx, &a.attn_o, &a.mlp_gate, &a.mlp_up, &a.mlp_out, &a.pooled,
                      &a.embed_norm, &a.soft_tokens})
        be.on_free(*buf);
    return std::move(a.soft_tokens);
}

}  // namespace gemma4
