// audio_tower.h — the E2B/E4B audio encoder in float32: conv subsampling (SSCP) → 12 Conformer layers (half-step FFN,
// chunked local attention with relative positions, light convolution, half-step FFN) → output_proj → embed_audio.
// One clip at a time, no streaming cache. Source: transformers 5.23 modeling_gemma4.py (Gemma4AudioModel and its
// parts, Gemma4MultimodalEmbedder); spec gemma4-vision-audio.md §5. Features come from audio.h.
#pragma once

#include <cmath>
#include <vector>

#include "audio.h"
#include "checkpoint.h"
#include "clippable.h"
#include "ops.h"
#include "probes.h"

namespace gemma4 {

// Gemma4ClippableLinear: y = clamp(clamp(x, in_min, in_max) · Wᵀ, out_min, out_max). The bounds are 0-d tensors in the
// checkpoint; without use_clipped_linears they are ±inf.
struct AudioFfnWeights {  // Gemma4AudioFeedForward
    ClippableLinear ffw_layer_1, ffw_layer_2;
    std::vector<float> pre_layer_norm, post_layer_norm;
};

struct AudioLayerWeights {  // Gemma4AudioLayer
    AudioFfnWeights ffn1, ffn2;
    std::vector<float> norm_pre_attn, norm_post_attn, norm_out;
    ClippableLinear q_proj, k_proj, v_proj, post;
    std::vector<float> rel_k;            // [13, H·Dh] relative_k_proj applied to the sinusoid table (weights only: precomputed)
    std::vector<float> q_scale;          // [Dh] Dh^-½ / ln 2 · softplus(per_dim_scale)
    ClippableLinear linear_start, linear_end;
    std::vector<float> depthwise_conv;   // [Da, K] causal depthwise kernel
    std::vector<float> lconv_pre_norm, conv_norm;
};

struct AudioWeights {
    std::vector<float> sscp_conv0, sscp_conv1;   // [C0, 1, 3, 3], [C1, C0, 3, 3]
    std::vector<float> sscp_norm0, sscp_norm1;   // [C0], [C1] LayerNorm weights (no bias)
    WeightView input_proj;                       // [Da, F/4 · C1]
    std::vector<AudioLayerWeights> layers;
    WeightView output_proj;                      // [1536, Da]
    std::vector<float> output_proj_bias;         // [1536]
    WeightView embed_audio;                      // [D, 1536]
};

class AudioTower {
public:
    // Binds model.audio_tower.* and model.embed_audio.*; Error if the checkpoint has no audio tower. The checkpoint
    // must outlive the tower (weights stay mapped).
    explicit AudioTower(const Checkpoint& ck);

    // Returns the soft tokens of the valid steps [M, text hidden] (after embed_audio: weightless RMSNorm then Linear),
    // M = the valid steps after subsampling (= audio_soft_tokens() for an unpadded clip). Probes: every audio.* point.
    std::vector<float> encode(const MelFeatures& mel, ProbeSink* probes, Backend& backend = ref_backend()) const;

    const AudioConfig& config() const { return cfg_; }
    int text_hidden() const { return text_hidden_; }

private:
    AudioConfig cfg_;
    int text_hidden_ = 0;
    AudioWeights w_;
};

}  // namespace gemma4
