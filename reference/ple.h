// ple.h — Per-Layer Embeddings (E2B / E4B): a second, layer-sliced embedding table whose row for each token, mixed
// with a projection of the main embedding, feeds a small gated residual at the end of every layer. The table stays
// memory-mapped; only the rows of the prompt's tokens are read. Source: Gemma4TextModel.get_per_layer_inputs /
// project_per_layer_inputs and the PLE block of Gemma4TextDecoderLayer.forward.
#pragma once

#include "text_model.h"

namespace gemma4 {

// Before the layers: a.ple_inputs[T, L, P] = (context + token) · 2^-1/2 with
//   token   = embed_tokens_per_layer[id] · √P           (placeholder positions use the pad id 0)
//   context = RMSNorm_P(per_layer_model_projection(a.x) · D^-1/2)   (a.x: embeddings, soft tokens merged)
void ple_compute_inputs(const TextConfig& cfg, const TextWeights& w, const TextInput& input, TextActivations& a,
                        const ForwardOptions& opts);

// In layer l, after the feed-forward residual: a.x += post_per_layer_input_norm(per_layer_projection(
//   gelu_tanh(per_layer_input_gate(a.x)) ⊙ a.ple_inputs[:, l, :])).
void ple_layer_forward(const TextConfig& cfg, const TextLayerWeights& lw, int l, TextActivations& a, const ForwardOptions& opts);

}  // namespace gemma4
