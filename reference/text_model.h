// text_model.h — the Gemma 4 text decoder in float32: embeddings → PLE inputs → layers → final norm → tied LM head →
// soft-cap. One named buffer per step of a layer (TextActivations), reused from layer to layer, so a probe or a
// debugger shows the real value of each step. Attention, MoE and PLE have their own files; the vision and audio towers
// and the OpenCL backend live elsewhere. Source: transformers' modeling_gemma4.py (Gemma4TextModel and friends).
#pragma once

#include <cstdint>
#include <vector>

#include "backend.h"
#include "checkpoint.h"
#include "kv_cache.h"
#include "ops.h"
#include "probes.h"
#include "text_weights.h"

namespace gemma4 {

struct ForwardOptions {
    Backend* backend = &ref_backend();  // who runs the ops (backend.h)
    ImageMask image_mask = ImageMask::transformers;
    ProbeSink* probes = nullptr;  // nullptr: nobody listens
    bool all_logits = true;       // false: only the last token's logits (generation)
    std::vector<uint8_t> ple_ablated;  // [L] nonzero: skip that layer's PLE contribution (the inspector's ablation)
};

// What one step sends in: token ids, and optionally embeddings that replace some rows (image / audio soft tokens).
struct TextInput {
    std::vector<int32_t> tokens;          // [T]
    std::vector<float> soft_embeddings;   // [n_soft, D], written over the rows listed in soft_positions
    std::vector<int> soft_positions;      // indices into tokens (their ids are placeholders)
    std::vector<int32_t> image_blocks;    // [T] index of the image run a position belongs to, −1 elsewhere (empty: none)
};

// The named buffers of one step, sized for the step's T and the widest layer. Shapes in the comments.
struct TextActivations {
    int T = 0;
    std::vector<float> x;                 // [T, D]   residual stream
    std::vector<float> ple_inputs;        // [T, L, P] per-layer inputs (PLE)
    // attention
    std::vector<float> attn_norm;         // [T, D]
    std::vector<float> attn_q;            // [T, H, Dh]
    std::vector<float> attn_k;            // [T, Hkv, Dh]
    std::vector<float> attn_v;            // [T, Hkv, Dh]
    std::vector<float> attn_weights;      // [H, T, S]   filled only when a probe wants it
    std::vector<float> attn_out;          // [T, H·Dh]
    std::vector<float> attn_o;            // [T, D]
    std::vector<float> attn_post_norm;    // [T, D]
    // dense MLP
    std::vector<float> mlp_norm;          // [T, D]
    std::vector<float> mlp_gate;          // [T, F]
    std::vector<float> mlp_up;            // [T, F]
    std::vector<float> mlp_out;           // [T, D]
    std::vector<float> mlp_post_norm;     // [T, D]
    // mixture of experts
    std::vector<float> moe_router_in;     // [T, D]
    std::vector<float> moe_router_logits; // [T, E]
    std::vector<float> moe_router_probs;  // [T, E]
    std::vector<int32_t> moe_topk_ids;    // [T, K]
    std::vector<float> moe_topk_ids_f32;  // [T, K]  the same ids as floats, for probes
    std::vector<float> moe_topk_weights;  // [T, K]
    std::vector<float> moe_experts_in;    // [T, D]
    std::vector<float> moe_u;             // [T, D]   one expert's tokens (gathered rows)
    std::vector<float> moe_gate_up;       // [T, 2I]  their gate_up projection
    std::vector<float> moe_hidden;        // [T, I]   gelu_tanh(gate) ⊙ up
    std::vector<float> moe_y;             // [T, D]   the expert's output, before the weighted scatter
    std::vector<float> moe_experts_out;   // [T, D]
    std::vector<float> moe_dense_post;    // [T, D]
    std::vector<float> moe_experts_post;  // [T, D]
    std::vector<float> moe_combined;      // [T, D]
    // per-layer embeddings
    std::vector<float> ple_token;         // [T, L, P] token part (table rows × √P)
    std::vector<float> ple_context;       // [T, L, P] context part (projection, RMSNorm)
    std::vector<float> ple_gate;          // [T, P]
    std::vector<float> ple_gated;         // [T, P]
    std::vector<float> ple_out;           // [T, D]
    // after the layers
    std::vector<float> final_norm;        // [T, D]

    // Sizes every buffer for T tokens and tells the backend (Backend::on_alloc) that their contents are new.
    void resize(const TextConfig& cfg, int T, Backend& be);
};

class TextModel {
public:
    // Binds the checkpoint's text weights; the checkpoint must outlive the model.
    explicit TextModel(const Checkpoint& ck);

    const TextConfig& config() const { return cfg_; }
    const TextWeights& weights() const { return w_; }

    // Runs the new tokens through the decoder at positions cache.length …, appends their K/V to the cache, and
    // writes logits: [T, V] with all_logits, else [1, V] for the last token.
    void forward(const TextInput& input, KvCache& cache, std::vector<float>& logits, const ForwardOptions& opts);

private:
    const Checkpoint& ck_;
    const TextConfig& cfg_;
    TextWeights w_;
    TextActivations a_;
};

// One decoder layer, in the model's own order (Gemma4TextDecoderLayer.forward). Reads and writes a.x.
void text_forward_layer(const TextConfig& cfg, const TextWeights& w, int l, TextActivations& a, KvCache& cache,
                        const int64_t* positions, const ForwardOptions& opts);

// The dense gated MLP: a.mlp_out = down(gelu_tanh(gate(a.mlp_norm)) ⊙ up(a.mlp_norm)).
void mlp_forward(const TextConfig& cfg, const TextLayerWeights& lw, int l, TextActivations& a, const ForwardOptions& opts);

// Helper for probes: a view of the first numel elements of a buffer with the given shape.
TensorView probe_view(const std::vector<float>& buf, std::vector<int64_t> shape);

}  // namespace gemma4
