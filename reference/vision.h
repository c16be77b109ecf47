// vision.h — the Gemma 4 vision tower in float32: patch embedding (+ 2-D learned positions) → encoder layers with
// sandwich norms, q/k/v RMSNorms and 2-D RoPE → 3×3 average pooling × √Dv → standardize (26B / 31B) → embed_vision.
// One image at a time, real patches only (transformers pads to the budget and masks the padding; the padding changes
// nothing for the real rows). Source: transformers 5.23 modeling_gemma4.py (Gemma4VisionModel and its parts,
// Gemma4MultimodalEmbedder); spec gemma4-vision-audio.md §2. Pixels come from image.h.
#pragma once

#include <vector>

#include "checkpoint.h"
#include "clippable.h"
#include "image.h"
#include "ops.h"
#include "probes.h"

namespace gemma4 {

struct VisionLayerWeights {  // Gemma4VisionEncoderLayer
    std::vector<float> input_layernorm, post_attention_layernorm, pre_feedforward_layernorm, post_feedforward_layernorm;  // [Dv]
    ClippableLinear q_proj, k_proj, v_proj, o_proj;
    std::vector<float> q_norm, k_norm;  // [Dh]; v_norm has no weight
    ClippableLinear gate_proj, up_proj, down_proj;
};

struct VisionWeights {
    WeightView input_proj;              // [Dv, 3·p·p] patch_embedder.input_proj
    const TensorRef* position_table = nullptr;  // [2, 10240, Dv], rows read where used (only N of them per image)
    std::vector<VisionLayerWeights> layers;
    std::vector<float> std_bias, std_scale;     // [Dv], empty unless config.standardize
    WeightView embed_vision;            // [D, Dv] embed_vision.embedding_projection
};

class VisionTower {
public:
    // Binds model.vision_tower.* and model.embed_vision.*; Error if the checkpoint has no vision tower. The checkpoint
    // must outlive the tower (weights stay mapped).
    explicit VisionTower(const Checkpoint& ck);

    // Encodes one image's patches: returns the soft tokens [plan.soft_tokens, text hidden] (after embed_vision:
    // weightless RMSNorm then Linear). Positions come from img.pos_x / pos_y; the pooled grid from their extent.
    // Probes: every vision.* point (vision.patch_grid as float rows, cols).
    std::vector<float> encode(const PatchedImage& img, ProbeSink* probes, Backend& backend = ref_backend()) const;

    const VisionConfig& config() const { return cfg_; }
    int text_hidden() const { return text_hidden_; }

private:
    VisionConfig cfg_;
    int text_hidden_ = 0;
    VisionWeights w_;
    std::vector<float> rope_inv_freq_;  // [Dh/4] one frequency set, used by both axes
};

}  // namespace gemma4
