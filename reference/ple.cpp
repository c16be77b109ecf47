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
    Backend& be = *opts.backend;

    // Token part: one table row per token (a lookup: the table is never read whole), × √P. Soft-token placeholders
    // and ids beyond the PLE vocabulary read the pad row.
    std::vector<int32_t> ids(input.tokens);
    for (int t = 0; t < T; ++t)
        if (ids[t] >= cfg.vocab_size_per_layer_input) ids[t] = cfg.pad_token_id;
    for (int t : input.soft_positions) ids[t] = cfg.pad_token_id;
    std::vector<float>& token_part = a.ple_token;
    be.embed_rows(token_part.data(), w.embed_tokens_per_layer, ids.data(), T, static_cast<float>(std::sqrt(static_cast<double>(P))));
    G4_PROBE_BE(be, probes, Probe::text_ple_token, -1, probe_view(token_part, {T, L, P}));

    // Context part: project the (scaled, merged) embeddings, × D^-1/2, RMSNorm over each layer's P values.
    std::vector<float>& context = a.ple_context;
    be.matmul(context.data(), a.x.data(), w.per_layer_model_projection, T);
    be.scale(context.data(), T * LP, static_cast<float>(std::pow(static_cast<double>(D), -0.5)));
    be.rms_norm(context.data(), context.data(), w.per_layer_projection_norm.data(), int64_t(T) * L, P, static_cast<float>(cfg.rms_norm_eps));
    G4_PROBE_BE(be, probes, Probe::text_ple_context, -1, probe_view(context, {T, L, P}));

    be.ple_mix(a.ple_inputs.data(), context.data(), token_part.data(), T * LP);
    G4_PROBE_BE(be, probes, Probe::text_ple_inputs, -1, probe_view(a.ple_inputs, {T, L, P}));
}

void ple_layer_forward(const TextConfig& cfg, const TextLayerWeights& lw, int l, TextActivations& a, const ForwardOptions& opts) {
    const int T = a.T, D = cfg.hidden_size, L = cfg.num_hidden_layers, P = cfg.hidden_size_per_layer_input;
    ProbeSink* probes = opts.probes;
    Backend& be = *opts.backend;
    be.matmul(a.ple_gate.data(), a.x.data(), lw.per_layer_input_gate, T);
    be.gelu(a.ple_gate.data(), int64_t(T) * P);
    G4_PROBE_BE(be, probes, Probe::text_ple_gate, l, probe_view(a.ple_gate, {T, P}));
    be.ple_gate(a.ple_gated.data(), a.ple_gate.data(), a.ple_inputs.data(), T, L, P, l);
    G4_PROBE_BE(be, probes, Probe::text_ple_gated, l, probe_view(a.ple_gated, {T, P}));
    be.matmul(a.ple_out.data(), a.ple_gated.data(), lw.per_layer_projection, T);
    be.rms_norm(a.ple_out.data(), a.ple_out.data(), lw.post_per_layer_input_norm.data(), T, D, static_cast<float>(cfg.rms_norm_eps));
    G4_PROBE_BE(be, probes, Probe::text_ple_out, l, probe_view(a.ple_out, {T, D}));
    be.add(a.x.data(), a.x.data(), a.ple_out.data(), int64_t(T) * D);
}

}  // namespace gemma4
