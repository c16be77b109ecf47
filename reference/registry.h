// registry.h — the one list of every parameter of a Gemma 4 model: Hugging Face name, shape, tower, layer and role.
// Loading, validation (missing / unexpected / wrong-shape tensors), parameter counting, memory estimates and the
// synthetic-checkpoint writer all walk it; nobody writes tensor names or offsets by hand elsewhere.
// Names and shapes: transformers' modeling_gemma4.py module attributes (spec §8; vision/audio spec §6).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config.h"

namespace gemma4 {

enum class Tower : uint8_t { Text, Vision, Audio };

// What a tensor is for; parameter counts and the inspector's weight browser group by it.
enum class Role : uint8_t {
    TokenEmbedding,  // embed_tokens (tied with the LM head)
    LmHead,          // only when tie_word_embeddings is false
    PleTable,        // embed_tokens_per_layer: big, looked up by row, can stay on disk
    Ple,             // the rest of PLE: model projection, its norm, per-layer gate / projection / norm
    Attention,       // q/k/v/o projections
    Mlp,             // dense MLP (the shared expert on MoE layers)
    MoeRouter,       // router projection and scales
    MoeExperts,      // the 3-D expert tensors; only top_k / num_experts of them are active per token
    Norm,            // RMSNorm weights and layer scalars
    VisionTower,
    AudioTower,
    Projector,       // embed_vision / embed_audio
};
const char* role_name(Role r);

struct TensorSpec {
    std::string name;             // full Hugging Face name, e.g. "model.language_model.layers.3.self_attn.q_proj.weight"
    std::vector<int64_t> shape;   // PyTorch layout [out, in]; {} for a 0-d buffer
    Tower tower = Tower::Text;
    Role role = Role::Attention;
    int layer = -1;               // decoder / encoder layer, -1 for tensors outside the layers
    int64_t numel() const;
};

// Calls fn for every tensor of the model, in a stable order (text, then vision, then audio, then projectors).
void for_each_tensor(const ModelConfig& cfg, const std::function<void(const TensorSpec&)>& fn);
std::vector<TensorSpec> list_tensors(const ModelConfig& cfg);

// Tensors a checkpoint may carry that transformers ignores on load (its _keys_to_ignore_on_load_unexpected): the
// k/v projections and norms of KV-shared layers, which some released files still hold.
bool is_ignored_on_load(const ModelConfig& cfg, const std::string& name);

// Parameter counts computed from the registry (every element counted once; the tied LM head is not stored).
struct ParamCounts {
    int64_t total = 0;            // everything in the checkpoint
    int64_t token_embedding = 0;  // embed_tokens
    int64_t ple_table = 0;        // embed_tokens_per_layer
    int64_t ple_other = 0;
    int64_t text_layers = 0;      // attention + MLP + MoE + norms of the decoder layers and the final norm
    int64_t moe_experts = 0;      // part of text_layers
    int64_t vision = 0;           // tower + projector
    int64_t audio = 0;            // tower + projector
    int64_t text_total() const { return total - vision - audio; }
    // Text decoder parameters one token touches: experts counted at top_k / num_experts, and the PLE table at one
    // row (it is a lookup). Towers are not included.
    int64_t active_per_token = 0;
    // "Effective" size as Google counts it for E2B/E4B: everything but the PLE table.
    int64_t effective() const { return total - ple_table; }
};
ParamCounts count_params(const ModelConfig& cfg);

}  // namespace gemma4
