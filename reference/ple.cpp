// ple.cpp — Per-Layer Embeddings (ple.h).
#include "ple.h"

#include <algorithm>
#include <cmath>

namespace gemma4 {

void ple_compute_inputs(const TextConfig& cfg, const TextWeights& w, const TextInput& input, TextActivations& a,
                        const ForwardOptions& opts) {
    const int T = a.T, D = cfg.hidden_size, L = cfg.num_hidden_layers, P = cfg.hidden_size_per_layer_input;
    const int64_t LP = int64_t(L) * P;
    ProbeSink* probes = opts.probes;

    // Token part: one table row per token (a lookup: the table is never read whole), × √P.
    std::vector<float> token_part(static_cast<size_t>(T * LP));
    const float row_scale = static_cast<float>(std::sqrt(static_cast<double>(P)));
    for (int t = 0; t < T; ++t) {
        int32_t id = input.tokens[t];
        if (std::find(input.soft_positions.begin(), input.soft_positions.end(), t) != input.soft_positions.end()) id = cfg.pad_token_id;
        if (id >= cfg.vocab_size_per_layer_input) id = cfg.pad_token_id;
        weight_row_f32(w.embed_tokens_per_layer, id, token_part.data() + t * LP);
        scale(token_part.data() + t * LP, LP, row_scale);
    }
    G4_PROBE(probes, Probe::text_ple_token, -1, probe_view(token_part, {T, L, P}));

    // Context part: project the (scaled, merged) embeddings, × D^-1/2, RMSNorm over each layer's P values.
    std::vector<float> context(static_cast<size_t>(T * LP));
    matmul(context.data(), a.x.data(), w.per_layer_model_projection, T, opts.backend);
    scale(context.data(), T * LP, static_cast<float>(std::pow(static_cast<double>(D), -0.5)));
    rms_norm(context.data(), context.data(), w.per_layer_projection_norm.data(), int64_t(T) * L, P, static_cast<float>(cfg.rms_norm_eps));
    G4_PROBE(probes, Probe::text_ple_context, -1, probe_view(context, {T, L, P}));

    const float mix = static_cast<float>(std::pow(2.0, -0.5));
    for (int64_t i = 0; i < T * LP; ++i) a.ple_inputs[i] = (context[i] + token_part[i]) * mix;
    G4_PROBE(probes, Probe::text_ple_inputs, -1, probe_view(a.ple_inputs, {T, L, P}));
}

void ple_layer_forward(const TextConfig& cfg, const TextLayerWeights& lw, int l, TextActivations& a, const ForwardOptions& opts) {
    const int T = a.T, D = cfg.hidden_size, L = cfg.num_hidden_layers, P = cfg.hidden_size_per_layer_input;
    ProbeSink* probes = opts.probes;
    matmul(a.ple_gate.data(), a.x.data(), lw.per_layer_input_gate, T, opts.backend);
    gelu_tanh(a.ple_gate.data(), int64_t(T) * P);
    G4_PROBE(probes, Probe::text_ple_gate, l, probe_view(a.ple_gate, {T, P}));
    for (int t = 0; t < T; ++t)
        for (int p = 0; p < P; ++p)
            a.ple_gated[int64_t(t) * P + p] = a.ple_gate[int64_t(t) * P + p] * a.ple_inputs[(int64_t(t) * L + l) * P + p];
    G4_PROBE(probes, Probe::text_ple_gated, l, probe_view(a.ple_gated, {T, P}));
    matmul(a.ple_out.data(), a.ple_gated.data(), lw.per_layer_projection, T, opts.backend);
    rms_norm(a.ple_out.data(), a.ple_out.data(), lw.post_per_layer_input_norm.data(), T, D, static_cast<float>(cfg.rms_norm_eps));
    G4_PROBE(probes, Probe::text_ple_out, l, probe_view(a.ple_out, {T, D}));
    add(a.x.data(), a.x.data(), a.ple_out.data(), int64_t(T) * D);
}

}  // namespace gemma4
