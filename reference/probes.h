// probes.h — named observation points ("probes") in the forward passes, one table shared by the goldens, traces,
// the inspector and the notebooks (design §4). This header is the table and the hook; what is *done* with a probed
// tensor (saving, plotting, comparing) lives with the listener. `gemma4 probes` prints the table.
//
// Full names are `tower.layer.point` (`text.7.attn_weights`) or `tower.point` for points outside the layers
// (`text.logits`). The enum order is execution order within a tower, which is the order `gemma4 check` reports in.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gemma4 {

// X-macro: (enum id, tower, per-layer?, point, shape, meaning). Shapes use the legend of ops.h:
// T tokens, S keys (cached + new), D width, H heads, Hkv kv heads, Dh head dim, F MLP width of the layer,
// E experts, K experts per token, L layers, P PLE width, V vocab, N patches, Dv vision width, G pooled cells,
// A mel frames, A' audio steps after subsampling, Da audio width.
#define GEMMA4_PROBE_TABLE(X)                                                                                          \
    /* ---- text decoder, before the layers ---- */                                                                  \
    X(text_embed, "text", false, "embed", "T,D", "token embeddings x sqrt(D), soft tokens merged in")                 \
    X(text_ple_token, "text", false, "ple_token", "T,L,P", "PLE token part: per-layer table rows x sqrt(P)")          \
    X(text_ple_context, "text", false, "ple_context", "T,L,P",                                                        \
      "PLE context part: projection of the embeddings x D^-1/2, RMSNorm over P")                                      \
    X(text_ple_inputs, "text", false, "ple_inputs", "T,L,P", "(context + token) x 2^-1/2: what layer l receives")     \
    /* ---- text decoder, per layer, in the order text_forward_layer() runs ---- */                                  \
    X(text_rope_inv_freq, "text", true, "rope_inv_freq", "Dh/2",                                                     \
      "RoPE inverse frequency of each dimension pair (0 = pass-through pair under p-RoPE)")                           \
    X(text_attn_norm, "text", true, "attn_norm", "T,D", "input_layernorm output")                                     \
    X(text_attn_q, "text", true, "attn_q", "T,H,Dh", "q_proj output")                                                 \
    X(text_attn_q_normed, "text", true, "attn_q_normed", "T,H,Dh", "q after q_norm")                                  \
    X(text_attn_q_rope, "text", true, "attn_q_rope", "T,H,Dh", "q after RoPE / p-RoPE")                               \
    X(text_attn_k, "text", true, "attn_k", "T,Hkv,Dh", "k_proj output (absent on KV-shared layers)")                  \
    X(text_attn_k_normed, "text", true, "attn_k_normed", "T,Hkv,Dh", "k after k_norm (absent on KV-shared layers)")   \
    X(text_attn_k_rope, "text", true, "attn_k_rope", "T,Hkv,Dh", "k after RoPE (absent on KV-shared layers)")         \
    X(text_attn_v, "text", true, "attn_v", "T,Hkv,Dh",                                                                \
      "v after the weightless v_norm; with K=V it comes from k_proj (absent on KV-shared layers)")                   \
    X(text_attn_weights, "text", true, "attn_weights", "H,T,S", "softmax attention probabilities after the mask")    \
    X(text_attn_out, "text", true, "attn_out", "T,H*Dh", "probabilities x V, heads concatenated (o_proj input)")      \
    X(text_attn_o, "text", true, "attn_o", "T,D", "o_proj output")                                                    \
    X(text_attn_post_norm, "text", true, "attn_post_norm", "T,D", "post_attention_layernorm output")                  \
    X(text_attn_residual, "text", true, "attn_residual", "T,D", "residual stream after attention")                    \
    X(text_mlp_norm, "text", true, "mlp_norm", "T,D", "pre_feedforward_layernorm output")                             \
    X(text_mlp_gate, "text", true, "mlp_gate", "T,F", "gate_proj output")                                             \
    X(text_mlp_up, "text", true, "mlp_up", "T,F", "up_proj output")                                                   \
    X(text_mlp_act, "text", true, "mlp_act", "T,F", "gelu_tanh(gate) * up (down_proj input)")                         \
    X(text_mlp_out, "text", true, "mlp_out", "T,D", "down_proj output (dense MLP; the shared expert on MoE layers)")  \
    X(text_moe_router_logits, "text", true, "moe_router_logits", "T,E", "router logits (MoE layers)")                \
    X(text_moe_router_probs, "text", true, "moe_router_probs", "T,E", "softmax over all experts (MoE layers)")       \
    X(text_moe_topk_ids, "text", true, "moe_topk_ids", "T,K", "chosen experts, largest probability first")           \
    X(text_moe_topk_weights, "text", true, "moe_topk_weights", "T,K",                                                 \
      "top-k weights renormalised to sum 1, times per_expert_scale")                                                  \
    X(text_moe_experts_in, "text", true, "moe_experts_in", "T,D", "pre_feedforward_layernorm_2 output (expert input)")\
    X(text_moe_experts_out, "text", true, "moe_experts_out", "T,D", "weighted sum of the chosen experts' outputs")    \
    X(text_moe_dense_post, "text", true, "moe_dense_post", "T,D", "post_feedforward_layernorm_1 of the dense branch") \
    X(text_moe_experts_post, "text", true, "moe_experts_post", "T,D", "post_feedforward_layernorm_2 of the experts") \
    X(text_mlp_post_norm, "text", true, "mlp_post_norm", "T,D", "post_feedforward_layernorm output")                  \
    X(text_ffn_residual, "text", true, "ffn_residual", "T,D", "residual stream after the MLP / MoE")                  \
    X(text_ple_gate, "text", true, "ple_gate", "T,P", "gelu_tanh(per_layer_input_gate(x)) (PLE layers)")              \
    X(text_ple_gated, "text", true, "ple_gated", "T,P", "gate x this layer's PLE input")                              \
    X(text_ple_out, "text", true, "ple_out", "T,D", "per_layer_projection then post_per_layer_input_norm")            \
    X(text_layer_out, "text", true, "layer_out", "T,D", "layer output, after the PLE residual and layer_scalar")      \
    /* ---- text decoder, after the layers ---- */                                                                   \
    X(text_final_norm, "text", false, "final_norm", "T,D", "final RMSNorm output")                                    \
    X(text_logits, "text", false, "logits", "T,V", "tied lm_head output after the final soft-cap")                    \
    /* ---- vision tower ---- */                                                                                     \
    X(vision_patches, "vision", false, "patches", "N,768", "patch pixels in [0,1], row-major over the patch grid")     \
    X(vision_patch_grid, "vision", false, "patch_grid", "2", "patch grid rows, cols (int)")                           \
    X(vision_patch_embed, "vision", false, "patch_embed", "N,Dv", "input_proj(2x-1) + 2-D position embeddings")       \
    X(vision_attn_norm, "vision", true, "attn_norm", "N,Dv", "input_layernorm output")                                \
    X(vision_attn_q_rope, "vision", true, "attn_q_rope", "N,H,Dh", "q after q_norm and 2-D RoPE")                     \
    X(vision_attn_k_rope, "vision", true, "attn_k_rope", "N,H,Dh", "k after k_norm and 2-D RoPE")                     \
    X(vision_attn_v, "vision", true, "attn_v", "N,H,Dh", "v after the weightless v_norm")                             \
    X(vision_attn_weights, "vision", true, "attn_weights", "H,N,N", "bidirectional attention probabilities")         \
    X(vision_attn_o, "vision", true, "attn_o", "N,Dv", "o_proj output")                                               \
    X(vision_attn_residual, "vision", true, "attn_residual", "N,Dv", "residual stream after attention")               \
    X(vision_mlp_out, "vision", true, "mlp_out", "N,Dv", "down_proj output")                                          \
    X(vision_layer_out, "vision", true, "layer_out", "N,Dv", "encoder layer output")                                  \
    X(vision_pooled, "vision", false, "pooled", "G,Dv", "3x3 average pool x sqrt(Dv), padding cells stripped")       \
    X(vision_soft_tokens, "vision", false, "soft_tokens", "G,D", "embed_vision projection: the image's soft tokens")  \
    /* ---- audio tower ---- */                                                                                      \
    X(audio_mel, "audio", false, "mel", "A,128", "log-mel features (invalid frames zeroed)")                         \
    X(audio_subsample, "audio", false, "subsample", "A',Da", "conv subsampling then input_proj_linear")               \
    X(audio_ffn1_out, "audio", true, "ffn1_out", "A',Da", "after the first half-step feed-forward")                   \
    X(audio_attn_weights, "audio", true, "attn_weights", "H,A',12",                                                   \
      "chunked local attention probabilities over each query's context slots")                                        \
    X(audio_attn_out, "audio", true, "attn_out", "A',Da", "after the attention block residual")                       \
    X(audio_conv_out, "audio", true, "conv_out", "A',Da", "after the light convolution block")                        \
    X(audio_layer_out, "audio", true, "layer_out", "A',Da", "Conformer layer output (after norm_out)")               \
    X(audio_encoder_out, "audio", false, "encoder_out", "A',1536", "output_proj (with bias)")                        \
    X(audio_soft_tokens, "audio", false, "soft_tokens", "M,D", "embed_audio projection of the valid steps")

enum class Probe : uint16_t {
#define GEMMA4_PROBE_ENUM(id, tower, layered, point, shape, meaning) id,
    GEMMA4_PROBE_TABLE(GEMMA4_PROBE_ENUM)
#undef GEMMA4_PROBE_ENUM
};

struct ProbeInfo {
    Probe id;
    std::string_view tower;    // "text", "vision" or "audio"
    bool per_layer;            // true: named tower.L.point
    std::string_view point;    // "attn_q"
    std::string_view shape;    // symbolic shape, legend above
    std::string_view meaning;  // one line for `gemma4 probes` and the inspector's tooltips
};

inline constexpr ProbeInfo kProbeTable[] = {
#define GEMMA4_PROBE_INFO(id, tower, layered, point, shape, meaning) {Probe::id, tower, layered, point, shape, meaning},
    GEMMA4_PROBE_TABLE(GEMMA4_PROBE_INFO)
#undef GEMMA4_PROBE_INFO
};
inline constexpr size_t kProbeCount = sizeof(kProbeTable) / sizeof(kProbeTable[0]);
static_assert(static_cast<size_t>(Probe::audio_soft_tokens) + 1 == kProbeCount, "probe table and enum disagree");

inline const ProbeInfo& probe_info(Probe p) { return kProbeTable[static_cast<size_t>(p)]; }

// "text.7.attn_q" for per-layer probes, "text.logits" otherwise (layer ignored).
std::string probe_name(Probe p, int layer);

// Parses a full name back; false if it names no probe (layer is -1 for points outside the layers).
bool parse_probe_name(std::string_view name, Probe* probe, int* layer);

// Shell-style glob with '*' and '?' (a '*' also crosses dots: "text.*.attn_q" matches "text.7.attn_q").
bool glob_match(std::string_view pattern, std::string_view text);

// ---- the hook ------------------------------------------------------------------------------------------------

// A float32 tensor the forward pass lets a listener look at. The data belongs to the forward pass and is valid only
// during the record() call: a listener that keeps it copies it.
struct TensorView {
    const float* data = nullptr;
    std::vector<int64_t> shape;
    int64_t numel() const {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        return n;
    }
};

// Two-phase listener: wants() is asked first, and only a wanted tensor is handed over (and, on the OpenCL backend,
// downloaded). Both run on the thread that runs the forward pass.
class ProbeSink {
public:
    virtual ~ProbeSink() = default;
    virtual bool wants(Probe probe, int layer) const = 0;
    virtual void record(Probe probe, int layer, const TensorView& tensor) = 0;
};

// Keeps copies of every probe whose full name matches one of the globs, in the order they arrive (execution order).
class RecordingSink : public ProbeSink {
public:
    struct Entry {
        std::string name;
        std::vector<int64_t> shape;
        std::vector<float> data;
    };
    explicit RecordingSink(std::vector<std::string> globs) : globs_(std::move(globs)) {}
    bool wants(Probe probe, int layer) const override;
    void record(Probe probe, int layer, const TensorView& tensor) override;
    const std::vector<Entry>& entries() const { return entries_; }

private:
    std::vector<std::string> globs_;
    std::vector<Entry> entries_;
};

}  // namespace gemma4

// G4_PROBE(sink_ptr, Probe::text_attn_q, layer, TensorView{...}): with GEMMA4_PROBES=OFF this compiles to nothing but
// still type-checks its arguments; with it ON it costs one predictable branch when no sink is attached. The view
// expression is evaluated only when the sink wants the tensor.
#if GEMMA4_PROBES
#define G4_PROBE(sink, probe, layer, view)                                                    \
    do {                                                                                      \
        ::gemma4::ProbeSink* g4_probe_sink_ = (sink);                                         \
        if (g4_probe_sink_ != nullptr && g4_probe_sink_->wants((probe), (layer))) [[unlikely]] \
            g4_probe_sink_->record((probe), (layer), (view));                                 \
    } while (0)
#else
#define G4_PROBE(sink, probe, layer, view) \
    ((void)sizeof(((void)(::gemma4::ProbeSink*)(sink), (void)(probe), (void)(layer), (void)(view), 0)))
#endif
