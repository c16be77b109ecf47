// text_weights.h — the text decoder's tensors bound by name (through the registry's naming) to views on the mapped
// checkpoint. Large matrices stay in their stored dtype; the small vectors (norm weights, scales, layer scalars) are
// copied to float32 once, since every token reads them.
#pragma once

#include <vector>

#include "checkpoint.h"
#include "ops.h"

namespace gemma4 {

struct TextLayerWeights {
    // Sandwich norms around attention and the MLP, and the scalar that multiplies the layer's output.
    std::vector<float> input_layernorm, post_attention_layernorm, pre_feedforward_layernorm, post_feedforward_layernorm;
    float layer_scalar = 1.0f;
    // Attention. k_proj/k_norm are absent (rows == 0) on KV-shared layers; v_proj also on K=V layers.
    WeightView q_proj, k_proj, v_proj, o_proj;
    std::vector<float> q_norm, k_norm;
    // Dense MLP (the shared expert on MoE layers).
    WeightView gate_proj, up_proj, down_proj;
    // Per-layer embeddings (PLE layers only).
    WeightView per_layer_input_gate, per_layer_projection;
    std::vector<float> post_per_layer_input_norm;
    // Mixture of experts (MoE layers only).
    WeightView router_proj;
    std::vector<float> router_scale, router_per_expert_scale;
    const TensorRef* experts_gate_up = nullptr;  // [E, 2I, D]
    const TensorRef* experts_down = nullptr;     // [E, D, I]
    std::vector<float> pre_feedforward_layernorm_2, post_feedforward_layernorm_1, post_feedforward_layernorm_2;
};

struct TextWeights {
    WeightView embed_tokens;               // [V, D], also the tied LM head
    WeightView embed_tokens_per_layer;     // [Vp, L·P] (PLE)
    WeightView per_layer_model_projection; // [L·P, D] (PLE)
    std::vector<float> per_layer_projection_norm;  // [P]
    std::vector<float> final_norm;         // [D]
    WeightView lm_head;                    // == embed_tokens when tied
    std::vector<TextLayerWeights> layers;
    std::vector<float> inv_freq_sliding;   // [Dh/2]
    std::vector<float> inv_freq_full;      // [Dh_full/2], zeros for the pass-through pairs
};

// Binds every text tensor of a validated checkpoint. Throws gemma4::Error for configurations the reference does not
// implement (attention biases, an activation other than gelu_pytorch_tanh).
TextWeights bind_text_weights(const Checkpoint& ck);

}  // namespace gemma4
