// panel_architecture.cpp — the architecture map: the variant's decoder layers as a strip (sliding / global, window,
// KV-shared arrows to their source layer, K=V, MoE and PLE badges) above the vision and audio towers; a click selects
// the layer every panel shows; the strip can be coloured by a runtime metric of the recording. Per-layer timing is
// not recorded by the probes, so it is not offered. All facts come from LayerInfo (recording.h), i.e. the config.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "panels.h"
#include "widgets.h"

namespace gemma4::viz {
namespace {

enum class MapColor { kind, activation_norm, golden_error, time };

// Mean over tokens of ‖text.<l>.layer_out[t]‖: how large the residual stream is after each layer (NaN when absent).
std::vector<float> activation_norms(const Recording& r) {
    std::vector<float> out(r.layers().size(), NAN);
    for (size_t l = 0; l < r.layers().size(); ++l) {
        const Tensor* t = r.probe(Probe::text_layer_out, static_cast<int>(l));
        if (t == nullptr || t->shape.size() != 2 || t->shape[0] == 0) continue;
        const int64_t T = t->shape[0], D = t->shape[1];
        double sum = 0;
        for (int64_t i = 0; i < T; ++i) {
            double sq = 0;
            for (int64_t j = 0; j < D; ++j) sq += double(t->data[i * D + j]) * t->data[i * D + j];
            sum += std::sqrt(sq);
        }
        out[l] = static_cast<float>(sum / double(T));
    }
    return out;
}

// The largest NMSE of any text probe of each layer against the reference run (NaN when the layer has none).
std::vector<float> golden_errors(const Recording& r, const Recording& ref, double tol) {
    std::vector<float> out(r.layers().size(), NAN);
    const TraceDiff diff = compare_recordings(r, ref, tol);
    for (const ProbeDiff& p : diff.probes) {
        if (p.name.rfind("text.", 0) != 0) continue;
        const int l = layer_of_probe(p.name);
        if (l < 0 || l >= static_cast<int>(out.size())) continue;
        const float v = static_cast<float>(p.problem.empty() ? p.nmse : INFINITY);
        out[l] = std::isnan(out[l]) ? v : std::max(out[l], v);
    }
    return out;
}

// Per-frame work is cached: the metric is recomputed only when the recording, the reference or the choice changes.
struct MetricCache {
    const Recording* r = nullptr;
    const Recording* ref = nullptr;
    size_t tensors = 0;
    int metric = -1;
    std::vector<float> values;
};

const std::vector<float>& metric_values(const Recording& r, const PanelState& s, MapColor metric) {
    static MetricCache caches[4];
    MetricCache& cache = caches[static_cast<int>(metric)];
    if (cache.r != &r || cache.ref != s.reference || cache.tensors != r.tensors().size() || cache.metric != int(metric)) {
        cache = {&r, s.reference, r.tensors().size(), int(metric), {}};
        if (metric == MapColor::activation_norm) cache.values = activation_norms(r);
        if (metric == MapColor::golden_error && s.reference != nullptr) cache.values = golden_errors(r, *s.reference, s.tolerance);
        if (metric == MapColor::time)
            for (double t : r.layer_seconds) cache.values.push_back(static_cast<float>(t * 1e3));  // ms
    }
    return cache.values;
}

ImU32 kind_color(const LayerInfo& l) {
    return l.global ? IM_COL32(214, 120, 48, 255) : IM_COL32(56, 110, 170, 255);
}

void layer_tooltip(const LayerInfo& l, float metric, MapColor mode) {
    ImGui::BeginTooltip();
    ImGui::Text("layer %d: %s attention", l.index, l.global ? "global (full)" : "sliding-window");
    if (!l.global) ImGui::Text("window %d tokens", l.window);
    ImGui::Text("%d query heads, %d KV heads (%d:1), head dim %d", l.q_heads, l.kv_heads, l.kv_heads ? l.q_heads / l.kv_heads : 0,
                l.head_dim);
    ImGui::Text("RoPE theta %.0f, %d of %d pairs rotate", l.rope_theta, l.rotated_pairs, l.rope_pairs);
    if (l.kv_shared) ImGui::Text("reads the K/V of layer %d (KV sharing)", l.kv_source);
    if (l.k_eq_v) ImGui::TextUnformatted("K = V (no v_proj)");
    ImGui::Text("%s, MLP width %lld", l.moe ? "MoE + dense MLP" : "dense MLP", static_cast<long long>(l.mlp_width));
    if (l.ple) ImGui::TextUnformatted("per-layer embedding (PLE) added");
    if (mode == MapColor::activation_norm && !std::isnan(metric)) ImGui::Text("mean |layer_out| per token: %.4g", metric);
    if (mode == MapColor::golden_error && !std::isnan(metric)) ImGui::Text("largest NMSE vs reference: %.3g", metric);
    if (mode == MapColor::time && !std::isnan(metric)) ImGui::Text("%.3f ms in the live run", metric);
    ImGui::EndTooltip();
}

// A labelled box for a tower; returns true when clicked.
bool tower_box(const char* id, const std::string& title, const std::string& detail, ImVec2 size, ImU32 color) {
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const bool clicked = ImGui::InvisibleButton(id, size);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->AddRectFilled(p, ImVec2(p.x + size.x, p.y + size.y), color, 6.0f);
    if (ImGui::IsItemHovered()) dl->AddRect(p, ImVec2(p.x + size.x, p.y + size.y), IM_COL32(255, 255, 255, 255), 6.0f, 0, 2.0f);
    dl->AddText(ImVec2(p.x + 8, p.y + 6), IM_COL32(255, 255, 255, 255), title.c_str());
    dl->AddText(ImVec2(p.x + 8, p.y + 6 + ImGui::GetTextLineHeightWithSpacing()), IM_COL32(230, 230, 230, 255), detail.c_str());
    return clicked;
}

}  // namespace

void draw_architecture(const Recording& r, PanelState& s) {
    const ModelConfig& cfg = r.config();
    const std::vector<LayerInfo>& layers = r.layers();
    const int L = static_cast<int>(layers.size());
    if (L == 0) {
        ImGui::TextUnformatted("The recording has no decoder layers.");
        return;
    }
    int n_global = 0;
    for (const LayerInfo& l : layers) n_global += l.global;
    ImGui::Text("%s: %d decoder layers (%d sliding, %d global), width %d, %d tokens recorded", cfg.name.c_str(), L, L - n_global,
                n_global, cfg.text.hidden_size, r.tokens());

    static int color_mode = 0;
    const char* modes[] = {"layer kind", "activation norm", "golden error", "time"};
    ImGui::SetNextItemWidth(180);
    ImGui::Combo("colour by", &color_mode, modes, IM_ARRAYSIZE(modes));
    help_marker("Layer kind: blue = sliding-window (local) attention, orange = global (full) attention. Activation norm: "
                "how large the residual stream is after each layer (mean over tokens). Golden error: the largest NMSE of "
                "the layer's probes against the comparison run (a golden or another backend). Time: how long each layer took in "
                "the live run (global layers attend over every token, so they grow with the prompt).");
    const MapColor mode = static_cast<MapColor>(color_mode);
    if (mode == MapColor::golden_error && s.reference == nullptr) {
        ImGui::SameLine();
        ImGui::TextDisabled("no comparison run loaded (File > Open golden, or run the other backend)");
    }
    if (mode == MapColor::time && r.layer_seconds.empty()) {
        ImGui::SameLine();
        ImGui::TextDisabled("no timings: layer times are measured by live runs, not stored in traces");
    }
    const std::vector<float>& metric = metric_values(r, s, mode);
    float lo = INFINITY, hi = -INFINITY;
    const bool log_scale = mode == MapColor::golden_error;
    auto scaled = [&](float v) { return log_scale ? std::log10(std::max(v, 1e-30f)) : v; };
    for (float v : metric)
        if (std::isfinite(v)) lo = std::min(lo, scaled(v)), hi = std::max(hi, scaled(v));
    if (!(hi > lo)) hi = lo + 1.0f;

    // ---- the layer strip -------------------------------------------------------------------------------------
    ImGui::TextUnformatted("Decoder layers");
    help_marker("One box per decoder layer, in order. S = sliding window (its width is written under it), G = global. "
                "Badges: KV = reuses another layer's keys and values (arrow to it), K=V = keys double as values, "
                "MoE = mixture of experts, PLE = per-layer embedding. Click a layer to open it in every panel.");
    const float avail = ImGui::GetContentRegionAvail().x;
    const float cell = std::clamp((avail - 4) / static_cast<float>(L), 26.0f, 90.0f);
    const float box_h = 96.0f;
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float line = ImGui::GetTextLineHeight();
    int hovered = -1;
    for (int l = 0; l < L; ++l) {
        const LayerInfo& info = layers[l];
        const ImVec2 a(origin.x + l * cell, origin.y), b(a.x + cell - 3, a.y + box_h);
        ImGui::SetCursorScreenPos(a);
        ImGui::PushID(l);
        if (ImGui::InvisibleButton("layer", ImVec2(cell - 3, box_h))) s.layer = l;
        if (ImGui::IsItemHovered()) hovered = l;
        ImGui::PopID();
        ImU32 fill = kind_color(info);
        const float v = l < static_cast<int>(metric.size()) ? metric[l] : NAN;
        if (mode != MapColor::kind) fill = std::isnan(v) ? IM_COL32(90, 90, 90, 255) : ramp_color((scaled(v) - lo) / (hi - lo));
        dl->AddRectFilled(a, b, fill, 4.0f);
        if (mode != MapColor::kind) dl->AddRectFilled(a, ImVec2(b.x, a.y + 5), kind_color(info), 4.0f);  // kind stays visible
        char text[32];
        std::snprintf(text, sizeof text, "%d", l);
        const ImU32 ink = IM_COL32(255, 255, 255, 255);
        dl->AddText(ImVec2(a.x + 4, a.y + 6), ink, text);
        dl->AddText(ImVec2(a.x + 4, a.y + 6 + line), ink, info.global ? "G" : "S");
        if (!info.global) {
            std::snprintf(text, sizeof text, "%d", info.window);
            dl->AddText(ImVec2(a.x + 4, a.y + 6 + 2 * line), IM_COL32(220, 220, 255, 255), text);
        }
        float badge_y = a.y + 6 + 3 * line;
        auto badge = [&](const char* label, ImU32 color) {
            if (badge_y + line > b.y) return;
            dl->AddText(ImVec2(a.x + 4, badge_y), color, label);
            badge_y += line;
        };
        if (info.k_eq_v) badge("K=V", IM_COL32(255, 230, 120, 255));
        if (info.kv_shared) badge("KV", IM_COL32(160, 255, 160, 255));
        if (info.moe) badge("MoE", IM_COL32(255, 170, 220, 255));
        if (info.ple) badge("PLE", IM_COL32(170, 230, 255, 255));
        if (l == s.layer) dl->AddRect(ImVec2(a.x - 1, a.y - 1), ImVec2(b.x + 1, b.y + 1), IM_COL32(255, 255, 255, 255), 4.0f, 0, 3.0f);
    }
    // KV-sharing arrows under the strip: from each shared layer back to the layer whose cache it reads.
    float arrows_h = 0;
    for (int l = 0; l < L; ++l) {
        const LayerInfo& info = layers[l];
        if (!info.kv_shared || info.kv_source == l) continue;
        const float depth = 14.0f + 7.0f * static_cast<float>((l - info.kv_source) % 6);
        arrows_h = std::max(arrows_h, depth + 6);
        const float x0 = origin.x + l * cell + (cell - 3) * 0.5f, x1 = origin.x + info.kv_source * cell + (cell - 3) * 0.5f;
        const float y = origin.y + box_h + 2;
        const ImU32 c = info.global ? IM_COL32(230, 150, 90, 255) : IM_COL32(120, 170, 230, 255);
        dl->AddBezierCubic(ImVec2(x0, y), ImVec2(x0, y + depth), ImVec2(x1, y + depth), ImVec2(x1, y), c, 1.5f);
        dl->AddTriangleFilled(ImVec2(x1, y), ImVec2(x1 - 4, y + 7), ImVec2(x1 + 4, y + 7), c);
    }
    ImGui::SetCursorScreenPos(ImVec2(origin.x, origin.y + box_h + arrows_h + 8));
    if (hovered >= 0) layer_tooltip(layers[hovered], hovered < static_cast<int>(metric.size()) ? metric[hovered] : NAN, mode);
    if (mode != MapColor::kind && std::isfinite(lo)) {
        ImGui::Text("%s: %s%.3g (dark) ... %s%.3g (yellow)", modes[color_mode], log_scale ? "1e" : "", lo, log_scale ? "1e" : "", hi);
        help_marker("The colour scale of the strip; golden error is on a log scale (powers of ten). Grey: not recorded.");
    }

    // ---- towers ------------------------------------------------------------------------------------------------
    if (cfg.vision || cfg.audio) {
        ImGui::Spacing();
        ImGui::TextUnformatted("Towers (their soft tokens replace placeholder tokens of the prompt)");
        help_marker("The encoders that turn an image or an audio clip into 'soft tokens': vectors of the text width that "
                    "take the place of placeholder tokens in the prompt. Click a tower to open its panel.");
        const float w = std::min(360.0f, (ImGui::GetContentRegionAvail().x - 10) / 2);
        const ImVec2 size(w, 2.4f * ImGui::GetTextLineHeightWithSpacing() + 8);
        if (cfg.vision) {
            const VisionConfig& v = *cfg.vision;
            char detail[160];
            std::snprintf(detail, sizeof detail, "%d layers, width %d, %d px patches, pooled %dx%d", v.num_hidden_layers, v.hidden_size,
                          v.patch_size, v.pooling_kernel_size, v.pooling_kernel_size);
            if (tower_box("vision_tower", "Vision tower (ViT)", detail, size, IM_COL32(60, 130, 90, 255))) s.focus = "vision";
            if (cfg.audio) ImGui::SameLine();
        }
        if (cfg.audio) {
            const AudioConfig& a = *cfg.audio;
            char detail[160];
            std::snprintf(detail, sizeof detail, "%d Conformer layers, width %d, chunk %d", a.num_hidden_layers, a.hidden_size,
                          a.attention_chunk_size);
            if (tower_box("audio_tower", "Audio tower (Conformer)", detail, size, IM_COL32(130, 80, 150, 255))) s.focus = "audio";
        }
    }

    // ---- the selected layer ----------------------------------------------------------------------------------------
    if (s.layer >= 0 && s.layer < L) {
        const LayerInfo& l = layers[s.layer];
        ImGui::Spacing();
        ImGui::Separator();
        ImGui::Text("Layer %d", l.index);
        help_marker("The layer every per-layer panel (attention, p-RoPE, MoE, PLE) now shows.");
        if (ImGui::BeginTable("layer_facts", 2, ImGuiTableFlags_BordersInnerH | ImGuiTableFlags_SizingFixedFit)) {
            auto row = [](const char* k, const std::string& v) {
                ImGui::TableNextRow();
                ImGui::TableSetColumnIndex(0);
                ImGui::TextUnformatted(k);
                ImGui::TableSetColumnIndex(1);
                ImGui::TextUnformatted(v.c_str());
            };
            row("attention", l.global ? "global (sees every earlier token)" : "sliding window of " + std::to_string(l.window) + " tokens");
            row("heads", std::to_string(l.q_heads) + " query, " + std::to_string(l.kv_heads) + " KV, dim " + std::to_string(l.head_dim));
            row("RoPE", std::to_string(l.rotated_pairs) + " of " + std::to_string(l.rope_pairs) + " pairs rotate");
            row("K/V", l.kv_shared ? "shared from layer " + std::to_string(l.kv_source) : l.k_eq_v ? "K = V" : "own K and V");
            row("MLP", (l.moe ? std::string("MoE + dense, width ") : std::string("dense, width ")) + std::to_string(l.mlp_width));
            row("PLE", l.ple ? "yes" : "no");
            const std::vector<float>& norms = metric_values(r, s, MapColor::activation_norm);
            if (s.layer < static_cast<int>(norms.size()) && !std::isnan(norms[s.layer])) {
                char buf[64];
                std::snprintf(buf, sizeof buf, "%.4g", norms[s.layer]);
                row("mean |layer_out|", buf);
            }
            ImGui::EndTable();
        }
    }
}

}  // namespace gemma4::viz
