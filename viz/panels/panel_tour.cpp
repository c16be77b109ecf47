// panel_tour.cpp — the guided tour: next / previous steps following the lunch-and-learn outline of ../shared/seeds/
// (variants → sliding window → global layers → GQA → K=V → p-RoPE → MoE → PLE → vision → audio). Each step brings the
// right panel forward (PanelState::focus), selects a fitting layer, and explains the idea in one paragraph in the
// seeds' plain language. Every number in the text is formatted from the loaded config or the recording, never taken
// from the seeds (which are loose in places: ../shared/seeds/ERRATA.md).
#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <string>
#include <vector>

#include "audio.h"
#include "image.h"
#include "panels.h"
#include "widgets.h"

namespace gemma4::viz {
namespace {

struct TourStep {
    std::string title;
    std::string panel;  // the panel it opens
    int layer = -1;     // the layer it selects (−1: leave as is)
    std::string text;
};

std::string fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* format, ...) {
    char buf[2048];
    va_list args;
    va_start(args, format);
    std::vsnprintf(buf, sizeof buf, format, args);
    va_end(args);
    return buf;
}

std::string join_ints(const std::vector<int>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s;
}

std::string ratio(int q, int kv) { return kv > 0 ? std::to_string(q / kv) + ":1" : "?"; }

std::vector<TourStep> build_steps(const Recording& r) {
    const ModelConfig& cfg = r.config();
    const TextConfig& t = cfg.text;
    const std::vector<LayerInfo>& layers = r.layers();
    const int L = static_cast<int>(layers.size());
    std::vector<int> globals, slidings;
    for (const LayerInfo& l : layers) (l.global ? globals : slidings).push_back(l.index);
    const LayerInfo* first_sliding = slidings.empty() ? nullptr : &layers[slidings.front()];
    const LayerInfo* first_global = globals.empty() ? nullptr : &layers[globals.front()];
    int shared = 0;
    for (const LayerInfo& l : layers) shared += l.kv_shared;

    std::vector<TourStep> steps;
    // 1. the variant
    {
        std::string kind = t.enable_moe_block ? fmt("a mixture-of-experts model (%d experts, %d chosen per token)", t.num_experts, t.top_k_experts)
                                              : std::string("a dense model (every token goes through the same MLP)");
        std::string extras;
        if (t.has_ple()) extras += fmt(" Every layer also receives a %d-wide per-layer embedding of each token (PLE), the trick "
                                       "that makes the small E models effectively small.", t.hidden_size_per_layer_input);
        extras += cfg.vision ? (cfg.audio ? " It has both a vision and an audio tower." : " It has a vision tower (no audio).")
                             : " It is text only.";
        steps.push_back({"Four variants, one progression", "architecture", -1,
                         fmt("Gemma 4 comes as E2B and E4B (small, dense, with per-layer embeddings, for devices), 31B (dense) "
                             "and 26B-A4B (mixture of experts). The model loaded here is %s: %s with %d decoder layers of width "
                             "%d and a vocabulary of %d tokens.%s The strip shows its layers in order; click one to follow it "
                             "through every panel.",
                             cfg.name.c_str(), kind.c_str(), L, t.hidden_size, t.vocab_size, extras.c_str())});
    }
    // 2. sliding window
    if (first_sliding != nullptr) {
        steps.push_back({"Sliding-window attention", "attention", first_sliding->index,
                         fmt("Attention compares every token with every earlier one, so its cost grows with the square of the "
                             "prompt. Local layers look only at a window: here %zu of the %d layers are sliding-window layers "
                             "and token q sees keys k with q - %d < k <= q, the last %d tokens. The heatmap of layer %d shows "
                             "the band; everything left of it is masked out.",
                             slidings.size(), L, first_sliding->window, first_sliding->window, first_sliding->index)});
    }
    // 3. global layers
    if (first_global != nullptr) {
        const bool last_global = layers.back().global;
        steps.push_back({"Global layers see everything", "attention", first_global->index,
                         fmt("A local-only model would never connect distant tokens, so global (full-attention) layers are "
                             "interleaved: layers %s of this model see every earlier token. %s The heatmap of layer %d is a full "
                             "lower triangle instead of a band.",
                             join_ints(globals).c_str(),
                             last_global ? fmt("The final layer (%d) is global, so the last word sees the whole prompt.", L - 1).c_str()
                                         : "",
                             first_global->index)});
    }
    // 4. GQA
    {
        const LayerInfo* g = first_global != nullptr ? first_global : &layers.front();
        const LayerInfo* s = first_sliding != nullptr ? first_sliding : &layers.front();
        steps.push_back({"GQA: shared keys and values", "attention", g->index,
                         fmt("Grouped-query attention lets several query heads share one key/value head, which shrinks the "
                             "KV cache. In this model sliding layers have %d query heads and %d KV heads (%s); global layers "
                             "have %d query heads and %d KV heads (%s). Global heads are %d wide against %d on sliding layers, "
                             "recovering some of the capacity the sharing gives up.",
                             s->q_heads, s->kv_heads, ratio(s->q_heads, s->kv_heads).c_str(), g->q_heads, g->kv_heads,
                             ratio(g->q_heads, g->kv_heads).c_str(), g->head_dim, s->head_dim)});
    }
    // 5. K = V (and KV sharing)
    {
        std::string text = t.attention_k_eq_v
                               ? fmt("On global layers this model has no value projection: the keys double as values (K=V), "
                                     "halving what those layers keep in the KV cache. Layers with K=V here: %s.",
                                     join_ints(globals).c_str())
                               : std::string("This variant keeps separate keys and values on every layer; in the family, "
                                             "K=V (keys doubling as values on global layers) is used by 26B-A4B and 31B.");
        if (shared > 0)
            text += fmt(" The last %d layers go further and reuse the keys and values of earlier layers (KV sharing, the "
                        "arrows under the strip), so they add nothing to the cache.",
                        shared);
        steps.push_back({"K equals V", "architecture", first_global != nullptr ? first_global->index : -1, text});
    }
    // 6. p-RoPE
    {
        const LayerInfo* g = first_global != nullptr ? first_global : &layers.front();
        const LayerInfo* s = first_sliding != nullptr ? first_sliding : &layers.front();
        steps.push_back({"p-RoPE: position on some pairs only", "rope", g->index,
                         fmt("RoPE encodes position by rotating pairs of dimensions of q and k, each pair at its own "
                             "frequency. Sliding layers use theta = %.0f and rotate all %d pairs. Global layers use theta = %.0f "
                             "and rotate only %d of their %d pairs (the fastest ones); the other %d pass through unrotated, "
                             "carrying meaning that does not fade with distance over long contexts.",
                             s->rope_theta, s->rotated_pairs, g->rope_theta, g->rotated_pairs, g->rope_pairs,
                             g->rope_pairs - g->rotated_pairs)});
    }
    // 7. MoE
    steps.push_back({"Mixture of experts", "moe", 0,
                     t.enable_moe_block
                         ? fmt("Instead of one big MLP, each layer has %d small experts (width %d) and a router that picks %d "
                               "of them per token, weighting them by renormalised router probabilities. A dense MLP of width "
                               "%d runs beside them in every layer. Only the chosen experts' weights are used per token: "
                               "sparse capacity.",
                               t.num_experts, t.moe_intermediate_size, t.top_k_experts, t.intermediate_size)
                         : fmt("This variant is dense: every token uses the same MLP of width %d. Open the bundled tiny-26b-a4b "
                               "(-m tiny-26b-a4b) to see experts and routing.",
                               t.intermediate_size)});
    // 8. PLE
    steps.push_back({"Per-layer embeddings", "ple", 0,
                     t.has_ple()
                         ? fmt("Besides the usual token embedding, every token looks up a %d-wide vector for each of the %d "
                               "layers (a table of %d rows). Each layer gates its vector with the residual stream and adds "
                               "the result back. The tables can live in slow memory, which is why E2B and E4B count as "
                               "'effective' sizes. Toggle a layer off in the panel to see how the next-token distribution moves.",
                               t.hidden_size_per_layer_input, L, t.vocab_size_per_layer_input)
                         : std::string("This variant has no per-layer embeddings; they belong to E2B and E4B (open tiny-e2b).")});
    // 9. vision
    if (cfg.vision) {
        const VisionConfig& v = *cfg.vision;
        std::string budgets;
        for (int b : kImageBudgets) budgets += (budgets.empty() ? "" : ", ") + std::to_string(b);
        const int cell = v.patch_size * v.pooling_kernel_size;
        std::string seen;
        if (auto grid = vision_grid(r))
            seen = fmt(" The recorded image became %dx%d patches, pooled to %dx%d = %d soft tokens.", grid->patch_rows, grid->patch_cols,
                       grid->cells_rows, grid->cells_cols, grid->cells_rows * grid->cells_cols);
        steps.push_back({"Images become tokens", "vision", -1,
                         fmt("The vision tower (%d layers, width %d) cuts the image into %d-pixel patches without distorting "
                             "its aspect ratio, gives them 2-D positions, and pools each %dx%d block of patches (%d px) into one "
                             "soft token. A budget of %s soft tokens trades detail for speed.%s",
                             v.num_hidden_layers, v.hidden_size, v.patch_size, v.pooling_kernel_size, v.pooling_kernel_size, cell,
                             budgets.c_str(), seen.c_str())});
    } else {
        steps.push_back({"Images become tokens", "vision", -1, "This checkpoint has no vision tower."});
    }
    // 10. audio
    if (cfg.audio) {
        const AudioConfig& a = *cfg.audio;
        const double frame_ms = 1000.0 * kMelHop / kAudioSampleRate;
        std::string seen;
        if (auto s = audio_summary(r)) seen = fmt(" The recorded clip gave %d mel frames, %d steps and %d soft tokens.", s->mel_frames, s->steps, s->soft_tokens);
        steps.push_back({"Audio", "audio", -1,
                         fmt("The small models also hear. Audio becomes %d-bin log-mel frames every %.0f ms; two stride-2 "
                             "convolutions keep one step per %.0f ms (about %.0f soft tokens per second, at most %d). A "
                             "%d-layer Conformer of width %d attends in chunks of %d steps with %d steps of left context.%s",
                             kMelBins, frame_ms, 4 * frame_ms, 1000.0 / (4 * frame_ms), kAudioMaxSoftTokens, a.num_hidden_layers,
                             a.hidden_size, a.attention_chunk_size, a.attention_context_left, seen.c_str())});
    } else {
        steps.push_back({"Audio", "audio", -1, "This checkpoint has no audio tower; only E2B and E4B hear (open tiny-e2b)."});
    }
    return steps;
}

void go_to(const std::vector<TourStep>& steps, PanelState& s, int step, int layers) {
    s.tour_step = std::clamp(step, 0, static_cast<int>(steps.size()) - 1);
    const TourStep& t = steps[s.tour_step];
    s.focus = t.panel;
    if (t.layer >= 0 && t.layer < layers) s.layer = t.layer;
}

// The layers a step is about, for the mini strip (every layer for the variant step).
bool step_highlights(int step, const LayerInfo& l) {
    switch (step) {
        case 1: return !l.global;
        case 2: case 3: case 5: return l.global;
        case 4: return l.k_eq_v || l.kv_shared;
        case 6: return l.moe;
        case 7: return l.ple;
        default: return step == 0;
    }
}

// A small picture of the step: the layer strip with the step's layers lit, and for the attention steps the mask of
// the selected layer (which query sees which key) or the GQA grouping.
void step_diagram(const Recording& r, const PanelState& s, int step) {
    const std::vector<LayerInfo>& layers = r.layers();
    const int L = static_cast<int>(layers.size());
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float avail = ImGui::GetContentRegionAvail().x;
    const float cell = std::clamp(avail / static_cast<float>(L), 12.0f, 48.0f);
    const ImVec2 o = ImGui::GetCursorScreenPos();
    for (int l = 0; l < L; ++l) {
        const bool lit = step_highlights(step, layers[l]);
        const ImU32 c = !lit ? IM_COL32(60, 60, 66, 255) : layers[l].global ? IM_COL32(214, 120, 48, 255) : IM_COL32(56, 110, 170, 255);
        dl->AddRectFilled(ImVec2(o.x + l * cell, o.y), ImVec2(o.x + (l + 1) * cell - 2, o.y + 34), c, 3.0f);
        char label[16];  // any int fits ("%d" of INT_MIN is 11 characters)
        std::snprintf(label, sizeof label, "%d", l);
        dl->AddText(ImVec2(o.x + l * cell + 3, o.y + 3), IM_COL32(255, 255, 255, 255), label);
        if (l == s.layer) dl->AddRect(ImVec2(o.x + l * cell - 1, o.y - 1), ImVec2(o.x + (l + 1) * cell - 1, o.y + 35), IM_COL32(255, 255, 255, 255), 3.0f, 0, 2.0f);
    }
    ImGui::Dummy(ImVec2(L * cell, 40));
    if (s.layer < 0 || s.layer >= L) return;
    const LayerInfo& layer = layers[s.layer];
    if (step == 1 || step == 2) {
        // the attention mask of the selected layer over the first positions of the prompt
        const int n = std::clamp(r.tokens(), 2, 32);
        const float px = std::min(10.0f, 320.0f / n);
        const ImVec2 m = ImGui::GetCursorScreenPos();
        for (int q = 0; q < n; ++q)
            for (int k = 0; k < n; ++k)
                dl->AddRectFilled(ImVec2(m.x + k * px, m.y + q * px), ImVec2(m.x + (k + 1) * px - 1, m.y + (q + 1) * px - 1),
                                  mask_allows(layer, q, k) ? IM_COL32(240, 200, 80, 255) : IM_COL32(45, 45, 52, 255));
        ImGui::Dummy(ImVec2(n * px, n * px));
        ImGui::TextDisabled("layer %d mask over %d positions: row = query, column = key, yellow = may attend", layer.index, n);
    } else if (step == 3) {
        // query heads → the KV head they read
        const std::vector<int> group = kv_head_of_query_heads(layer);
        const ImVec2 g = ImGui::GetCursorScreenPos();
        const float w = 26.0f, gap = 8.0f;
        for (int h = 0; h < static_cast<int>(group.size()); ++h) {
            const ImVec2 q(g.x + h * (w + gap), g.y);
            dl->AddRectFilled(q, ImVec2(q.x + w, q.y + 20), IM_COL32(56, 110, 170, 255), 3.0f);
            const float kv_x = g.x + (group[h] + 0.5f) * (w + gap) * static_cast<float>(group.size()) / std::max(1, layer.kv_heads) - w / 2;
            dl->AddLine(ImVec2(q.x + w / 2, q.y + 20), ImVec2(kv_x + w / 2, g.y + 60), IM_COL32(200, 200, 200, 255), 1.5f);
        }
        for (int k = 0; k < layer.kv_heads; ++k) {
            const float kv_x = g.x + (k + 0.5f) * (w + gap) * static_cast<float>(group.size()) / std::max(1, layer.kv_heads) - w / 2;
            dl->AddRectFilled(ImVec2(kv_x, g.y + 60), ImVec2(kv_x + w, g.y + 80), IM_COL32(214, 120, 48, 255), 3.0f);
        }
        ImGui::Dummy(ImVec2(group.size() * (w + gap), 84));
        ImGui::TextDisabled("layer %d: %d query heads (blue) read %d KV heads (orange)", layer.index, layer.q_heads, layer.kv_heads);
    }
}

}  // namespace

void draw_tour(const Recording& r, PanelState& s) {
    if (r.layers().empty()) {
        ImGui::TextUnformatted("The recording has no decoder layers to tour.");
        return;
    }
    // The steps depend only on the recording: built once per recording, not per frame.
    static const Recording* built_for = nullptr;
    static size_t built_tensors = 0;
    static std::vector<TourStep> steps;
    if (built_for != &r || built_tensors != r.tensors().size()) {
        steps = build_steps(r);
        built_for = &r;
        built_tensors = r.tensors().size();
    }
    const int n = static_cast<int>(steps.size());
    s.tour_step = std::clamp(s.tour_step, 0, n - 1);
    const int layers = static_cast<int>(r.layers().size());

    if (ImGui::Button("< Previous") && s.tour_step > 0) go_to(steps, s, s.tour_step - 1, layers);
    ImGui::SameLine();
    if (ImGui::Button("Next >") && s.tour_step + 1 < n) go_to(steps, s, s.tour_step + 1, layers);
    ImGui::SameLine();
    if (ImGui::Button("Open its panel")) go_to(steps, s, s.tour_step, layers);
    help_marker("The tour follows the lunch-and-learn outline: variants, sliding window, global layers, GQA, K=V, p-RoPE, "
                "MoE, PLE, vision, audio. Each step opens the panel that shows it; every number is read from the loaded model.");
    ImGui::SameLine();
    ImGui::Text("step %d of %d", s.tour_step + 1, n);
    ImGui::Separator();

    // the outline on the left (a click jumps there), the step on the right
    ImGui::BeginChild("outline", ImVec2(250, 0), true);
    for (int i = 0; i < n; ++i) {
        char label[96];
        std::snprintf(label, sizeof label, "%2d. %s", i + 1, steps[i].title.c_str());
        if (ImGui::Selectable(label, i == s.tour_step)) go_to(steps, s, i, layers);
    }
    ImGui::EndChild();
    ImGui::SameLine();
    ImGui::BeginChild("step", ImVec2(0, 0), false);
    const TourStep& step = steps[s.tour_step];
    ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.8f, 0.45f, 1.0f));
    ImGui::TextUnformatted(step.title.c_str());
    ImGui::PopStyleColor();
    ImGui::Spacing();
    ImGui::PushTextWrapPos(0.0f);
    ImGui::TextUnformatted(step.text.c_str());
    ImGui::PopTextWrapPos();
    ImGui::Spacing();
    if (step.layer >= 0) ImGui::TextDisabled("shown in: %s panel, layer %d", step.panel.c_str(), step.layer);
    else ImGui::TextDisabled("shown in: %s panel", step.panel.c_str());
    ImGui::Spacing();
    step_diagram(r, s, s.tour_step);
    ImGui::EndChild();
}

}  // namespace gemma4::viz
