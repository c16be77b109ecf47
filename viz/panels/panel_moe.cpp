// panel_moe.cpp — the MoE routing panel (design §7, issue 7 item 4): per layer, which experts each token was
// sent to and with what weight, the expert load (this layer and the whole prompt), the top-k weights after
// renormalisation, the router's entropy per token and the shared (dense) vs routed contribution norms. The
// numbers come from viz/recording.* (moe_stats, moe_total_load); the routing itself is reference/moe.*.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "panels.h"
#include "widgets.h"

namespace gemma4::viz {
namespace {

constexpr float kMinCellPx = 2.0f;
constexpr ImU32 kSharedColor = IM_COL32(240, 200, 80, 255);
constexpr ImU32 kRoutedColor = IM_COL32(240, 90, 90, 255);
constexpr ImU32 kTextColor = IM_COL32(200, 200, 200, 255);

// Derived data of one layer, rebuilt when the recording or the layer changes.
struct MoeState {
    const Recording* recording = nullptr;
    int layer = -1;
    std::optional<MoeLayerStats> stats;
    std::vector<float> dense;         // [T, E] weight of each chosen expert, 0 elsewhere
    std::vector<float> load_f;        // [E] this layer
    std::vector<float> total_load_f;  // [E] every MoE layer
    std::vector<float> mean_by_rank;  // [K] mean top-k weight by rank
    float max_weight = 0;
    bool fit_y = false;
    // the heatmap tile at the panel's resolution
    int tile_rows = 0, tile_cols = 0;
    std::vector<float> tile;       // [rows, cols] mean weight over the tokens of each row block
    std::vector<int> tile_chosen;  // [rows, cols] how many (token, expert) choices fell in each block
    float tile_max = 0;
};

MoeState& state() {
    static MoeState st;
    return st;
}



void rebuild(MoeState& st, const Recording& r, int layer) {
    const bool new_recording = st.recording != &r;
    if (new_recording) {
        st = MoeState{};
        st.recording = &r;
        const std::vector<int> total = moe_total_load(r);
        st.total_load_f.assign(total.begin(), total.end());
    }
    if (!new_recording && st.layer == layer) return;
    st.layer = layer;
    st.stats = moe_stats(r, layer);
    st.tile_rows = st.tile_cols = 0;
    if (!st.stats) return;
    const MoeLayerStats& m = *st.stats;
    st.dense.assign(static_cast<size_t>(m.T) * m.E, 0.0f);
    st.mean_by_rank.assign(m.K, 0.0f);
    st.max_weight = 0;
    for (int t = 0; t < m.T; ++t)
        for (int k = 0; k < m.K; ++k) {
            const int e = m.ids[static_cast<size_t>(t) * m.K + k];
            const float w = m.weights[static_cast<size_t>(t) * m.K + k];
            if (e >= 0 && e < m.E) st.dense[static_cast<size_t>(t) * m.E + e] = w;
            st.mean_by_rank[k] += w / std::max(1, m.T);
            st.max_weight = std::max(st.max_weight, w);
        }
    st.load_f.assign(m.load.begin(), m.load.end());
}

// The token × expert map down-sampled to rows × cols (max of each block).
void update_tile(MoeState& st, int rows, int cols) {
    if (st.tile_rows == rows && st.tile_cols == cols) return;
    const MoeLayerStats& m = *st.stats;
    st.tile_rows = rows, st.tile_cols = cols;
    // A block of several tokens shows their mean weight (a max would colour every expert any token of the
    // block chose, as if all were busy); columns that merge experts add them up.
    st.tile.assign(static_cast<size_t>(rows) * cols, 0.0f);
    st.tile_chosen.assign(static_cast<size_t>(rows) * cols, 0);
    std::vector<int> tokens_in_row(rows, 0);
    for (int t = 0; t < m.T; ++t) {
        const int i = static_cast<int>(int64_t(t) * rows / m.T);
        ++tokens_in_row[i];
        for (int k = 0; k < m.K; ++k) {
            const int e = m.ids[static_cast<size_t>(t) * m.K + k];
            if (e < 0 || e >= m.E) continue;
            const size_t cell = static_cast<size_t>(i) * cols + static_cast<size_t>(int64_t(e) * cols / m.E);
            st.tile[cell] += m.weights[static_cast<size_t>(t) * m.K + k];
            ++st.tile_chosen[cell];
        }
    }
    st.tile_max = 0;
    for (int i = 0; i < rows; ++i)
        for (int j = 0; j < cols; ++j) {
            float& v = st.tile[static_cast<size_t>(i) * cols + j];
            v /= std::max(1, tokens_in_row[i]);
            st.tile_max = std::max(st.tile_max, v);
        }
}

// Like widgets' heatmap() on [0, hi], but zero cells (experts not chosen: most of the map) are one background
// rectangle, so a long prompt over 128 experts costs about tokens × top-k rectangles.
HeatmapHover sparse_heatmap(const char* id, const std::vector<float>& values, int rows, int cols, ImVec2 size,
                            float hi) {
    HeatmapHover hover;
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton(id, ImVec2(std::max(size.x, 1.0f), std::max(size.y, 1.0f)));
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->AddRectFilled(p0, ImVec2(p0.x + size.x, p0.y + size.y), ramp_color(0.0f));
    const float cw = size.x / static_cast<float>(cols), ch = size.y / static_cast<float>(rows);
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) {
            const float v = values[static_cast<size_t>(r) * cols + c];
            if (v == 0.0f) continue;
            const ImVec2 a(p0.x + c * cw, p0.y + r * ch);
            dl->AddRectFilled(a, ImVec2(a.x + cw, a.y + ch), ramp_color(v / hi));
        }
    if (ImGui::IsItemHovered()) {
        const ImVec2 m = ImGui::GetMousePos();
        hover.col = std::clamp(static_cast<int>((m.x - p0.x) / cw), 0, cols - 1);
        hover.row = std::clamp(static_cast<int>((m.y - p0.y) / ch), 0, rows - 1);
    }
    return hover;
}

// A horizontal line across the last drawn plot at value v of [0, top].
void mark_level(float v, float top, ImU32 color, const char* label) {
    const ImVec2 a = ImGui::GetItemRectMin(), b = ImGui::GetItemRectMax();
    if (top <= 0) return;
    const float y = b.y - std::clamp(v / top, 0.0f, 1.0f) * (b.y - a.y);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->AddLine(ImVec2(a.x, y), ImVec2(b.x, y), color, 1.0f);
    dl->AddText(ImVec2(b.x - ImGui::CalcTextSize(label).x - 2, y - ImGui::GetFontSize() - 1), color, label);
}

// Per-token series on a fixed [0, top] axis (so a flat, near-maximal entropy reads as such), the chosen token
// marked; hovering names the token, a click selects it. b may be null.
void token_plot(const char* id, const Recording& r, const std::vector<float>& a, const std::vector<float>* b,
                float bottom, float top, PanelState& s, ImVec2 size) {
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton(id, size);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const int n = static_cast<int>(a.size());
    dl->AddRect(p0, ImVec2(p0.x + size.x, p0.y + size.y), IM_COL32(90, 90, 90, 255));
    if (n == 0 || top <= bottom) return;
    auto x_of = [&](int t) { return p0.x + (n > 1 ? static_cast<float>(t) / (n - 1) : 0.5f) * size.x; };
    auto y_of = [&](float v) {
        return p0.y + size.y - std::clamp((v - bottom) / (top - bottom), 0.0f, 1.0f) * size.y;
    };
    if (s.token >= 0 && s.token < n)
        dl->AddLine(ImVec2(x_of(s.token), p0.y), ImVec2(x_of(s.token), p0.y + size.y),
                    IM_COL32(255, 255, 255, 90));
    auto series = [&](const std::vector<float>& v, ImU32 color) {
        // more tokens than pixels: one vertical min-max segment per pixel column instead of one line per
        // token
        const int columns = static_cast<int>(size.x);
        if (n > 2 * columns) {
            for (int c = 0; c < columns; ++c) {
                const int t0 = static_cast<int>(int64_t(c) * n / columns),
                          t1 = static_cast<int>(int64_t(c + 1) * n / columns);
                float lo = v[t0], hi = v[t0];
                for (int t = t0; t < t1; ++t) lo = std::min(lo, v[t]), hi = std::max(hi, v[t]);
                dl->AddLine(ImVec2(p0.x + c, y_of(lo)), ImVec2(p0.x + c, y_of(hi) - 1), color);
            }
            return;
        }
        for (int t = 1; t < n; ++t)
            dl->AddLine(ImVec2(x_of(t - 1), y_of(v[t - 1])), ImVec2(x_of(t), y_of(v[t])), color, 1.5f);
        if (n == 1) dl->AddCircleFilled(ImVec2(x_of(0), y_of(v[0])), 3, color);
    };
    series(a, kSharedColor);
    if (b) series(*b, kRoutedColor);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", top);
    dl->AddText(ImVec2(p0.x + 2, p0.y + 1), kTextColor, buf);
    std::snprintf(buf, sizeof buf, "%.3g", bottom);
    dl->AddText(ImVec2(p0.x + 2, p0.y + size.y - ImGui::GetFontSize() - 1), kTextColor, buf);
    if (ImGui::IsItemHovered()) {
        const int t = std::clamp(
            static_cast<int>(std::lround((ImGui::GetMousePos().x - p0.x) / size.x * (n - 1))), 0, n - 1);
        if (b)
            ImGui::SetTooltip("token %d '%s': %.4g / %.4g", t, short_label(token_label(r, t), 24).c_str(),
                              a[t], (*b)[t]);
        else
            ImGui::SetTooltip("token %d '%s': %.4g", t, short_label(token_label(r, t), 24).c_str(), a[t]);
        if (ImGui::IsItemClicked()) s.token = t;
    }
}

void legend_item(ImU32 color, const char* text) {
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float h = ImGui::GetFontSize();
    ImGui::GetWindowDrawList()->AddRectFilled(ImVec2(p.x, p.y + h * 0.35f), ImVec2(p.x + h, p.y + h * 0.65f),
                                              color);
    ImGui::Dummy(ImVec2(h + 2, h));
    ImGui::SameLine(0, 4);
    ImGui::TextUnformatted(text);
}

}  // namespace

void draw_moe(const Recording& r, PanelState& s) {
    const TextConfig& text = r.config().text;
    if (!text.enable_moe_block) {
        int64_t narrow = text.intermediate_size, wide = text.intermediate_size;
        for (const LayerInfo& l : r.layers())
            narrow = std::min(narrow, l.mlp_width), wide = std::max(wide, l.mlp_width);
        char widths[96];
        if (wide != narrow)
            std::snprintf(widths, sizeof widths, "width %lld, %lld on the KV-shared layers",
                          static_cast<long long>(narrow), static_cast<long long>(wide));
        else
            std::snprintf(widths, sizeof widths, "width %lld", static_cast<long long>(narrow));
        ImGui::TextWrapped(
            "This model has no Mixture-of-Experts block: every layer runs one dense MLP (%s). Open the "
            "26B-A4B structure (e.g. the bundled tiny-26b-a4b) to see expert routing.",
            widths);
        return;
    }
    const auto& layers = r.layers();
    if (layers.empty()) return;
    s.layer = std::clamp(s.layer, 0, static_cast<int>(layers.size()) - 1);
    MoeState& st = state();
    rebuild(st, r, s.layer);
    const float font = ImGui::GetFontSize();

    ImGui::Text(
        "%d experts, %d chosen per token (expert width %d) + the shared dense MLP (width %d), in every layer",
        text.num_experts, text.top_k_experts, text.moe_intermediate_size, text.intermediate_size);
    {
        char help[520];
        std::snprintf(help, sizeof help,
                      "Mixture of Experts: instead of one big feed-forward network, each layer has %d small "
                      "ones (experts). A router scores them for every token and only the best %d run, so "
                      "most parameters sit idle for any one token. Beside them a dense MLP (often called the "
                      "shared expert) always runs on every token.",
                      text.num_experts, text.top_k_experts);
        help_marker(help);
    }
    ImGui::SetNextItemWidth(font * 12);
    ImGui::SliderInt("layer", &s.layer, 0, static_cast<int>(layers.size()) - 1);
    help_marker(
        "The decoder layer whose routing is shown (every layer of this model has its own router and "
        "experts).");
    rebuild(st, r, s.layer);
    if (!st.stats) {
        ImGui::TextColored(ImVec4(1.0f, 0.8f, 0.4f, 1.0f), "The routing of layer %d was not recorded.",
                           s.layer);
        ImGui::TextWrapped(
            "Record it with:  gemma4 trace ... --probes 'text.*.moe_*'  (the chosen experts and weights are "
            "text.<l>.moe_topk_ids / moe_topk_weights; the entropy needs moe_router_probs).");
        return;
    }
    const MoeLayerStats& m = *st.stats;
    if (m.T <= 0 || m.E <= 0) {
        ImGui::TextUnformatted("No tokens routed on this layer.");
        return;
    }
    if (s.token < 0 || s.token >= m.T) s.token = m.T - 1;
    ImGui::SameLine(0, 16);
    ImGui::SetNextItemWidth(font * 12);
    ImGui::SliderInt("token", &s.token, 0, m.T - 1);
    help_marker("The token whose chosen experts and weights are listed on the right.");

    // ---- token × expert heatmap (left) and the chosen token's experts (right) ----
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float side_w = font * 16.0f;
    const float map_w = std::max(120.0f, avail.x - side_w - font * 6.0f);
    const float map_h = std::clamp(m.T * font, font * 6.0f, std::max(font * 6.0f, avail.y * 0.42f));
    const bool row_labels = map_h / m.T >= font;
    const float margin = row_labels ? font * 5.5f : font * 2.5f;
    const int rows = std::max(1, std::min(m.T, static_cast<int>(map_h / kMinCellPx)));
    const int cols = std::max(1, std::min(m.E, static_cast<int>(map_w / kMinCellPx)));
    update_tile(st, rows, cols);
    if (rows < m.T)
        ImGui::Text("token x expert: weight of each chosen expert (mean over blocks of about %d tokens)",
                    (m.T + rows - 1) / rows);
    else
        ImGui::TextUnformatted("token x expert: weight of each chosen expert");
    help_marker(
        "One row per token, one column per expert. A coloured cell means the router sent the token to that "
        "expert, brighter = larger weight; every row has exactly top-k coloured cells, the rest are zero.");
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    ImGui::SetCursorScreenPos(ImVec2(origin.x + margin, origin.y));
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    const HeatmapHover hover =
        sparse_heatmap("##moe_map", st.tile, rows, cols, ImVec2(map_w, map_h), std::max(st.tile_max, 1e-6f));
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float cell_h = map_h / m.T;
    dl->AddRect(p0, ImVec2(p0.x + map_w, p0.y + map_h), IM_COL32(110, 110, 110, 255));
    dl->AddRect(ImVec2(p0.x, p0.y + s.token * cell_h),
                ImVec2(p0.x + map_w, p0.y + std::max((s.token + 1) * cell_h, s.token * cell_h + 2)),
                IM_COL32(255, 255, 255, 220));
    if (hover.row >= 0 && rows < m.T) {
        const int t_first = static_cast<int>((int64_t(hover.row) * m.T + rows - 1) / rows);
        const int t_last = static_cast<int>((int64_t(hover.row + 1) * m.T + rows - 1) / rows) - 1;
        const int e_first = static_cast<int>((int64_t(hover.col) * m.E + cols - 1) / cols);
        const int e_last = static_cast<int>((int64_t(hover.col + 1) * m.E + cols - 1) / cols) - 1;
        const size_t cell = static_cast<size_t>(hover.row) * cols + hover.col;
        if (e_first == e_last)
            ImGui::SetTooltip("tokens %d ... %d, expert %d: chosen by %d of %d tokens, mean weight %.4f",
                              t_first, t_last, e_first, st.tile_chosen[cell], t_last - t_first + 1,
                              st.tile[cell]);
        else
            ImGui::SetTooltip("tokens %d ... %d, experts %d ... %d: %d choices, mean weight per token %.4f",
                              t_first, t_last, e_first, e_last, st.tile_chosen[cell], st.tile[cell]);
        if (ImGui::IsItemClicked()) s.token = std::clamp(t_first, 0, m.T - 1);
    } else if (hover.row >= 0) {
        const int t = std::clamp(static_cast<int>(int64_t(hover.row) * m.T / rows), 0, m.T - 1);
        const int e = std::clamp(static_cast<int>(int64_t(hover.col) * m.E / cols), 0, m.E - 1);
        int rank = -1;
        for (int k = 0; k < m.K; ++k)
            if (m.ids[static_cast<size_t>(t) * m.K + k] == e) rank = k;
        if (rank >= 0)
            ImGui::SetTooltip("token %d '%s', expert %d: choice %d of %d, weight %.4f", t,
                              short_label(token_label(r, t), 24).c_str(), e, rank + 1, m.K,
                              m.weights[static_cast<size_t>(t) * m.K + rank]);
        else
            ImGui::SetTooltip("token %d '%s', expert %d: not chosen", t,
                              short_label(token_label(r, t), 24).c_str(), e);
        if (ImGui::IsItemClicked()) s.token = t;
    }
    char buf[64];
    if (row_labels) {
        for (int t = 0; t < m.T; ++t) {
            const std::string lab = short_label(token_label(r, t), 7);
            dl->AddText(ImVec2(p0.x - ImGui::CalcTextSize(lab.c_str()).x - 4,
                               p0.y + t * cell_h + (cell_h - font) / 2),
                        t == s.token ? IM_COL32(255, 255, 120, 255) : kTextColor, lab.c_str());
        }
    } else {
        dl->AddText(ImVec2(origin.x, p0.y), kTextColor, "0");
        std::snprintf(buf, sizeof buf, "%d", m.T - 1);
        dl->AddText(ImVec2(origin.x, p0.y + map_h - font), kTextColor, buf);
    }
    dl->AddText(ImVec2(p0.x, p0.y + map_h + 1), kTextColor, "expert 0");
    std::snprintf(buf, sizeof buf, "%d", m.E - 1);
    dl->AddText(ImVec2(p0.x + map_w - ImGui::CalcTextSize(buf).x, p0.y + map_h + 1), kTextColor, buf);

    // the chosen token's experts, largest first
    ImGui::SetCursorScreenPos(ImVec2(p0.x + map_w + font, origin.y));
    ImGui::BeginGroup();
    ImGui::Text("token %d '%s':", s.token, short_label(token_label(r, s.token), 12).c_str());
    float weight_sum = 0;
    for (int k = 0; k < m.K; ++k) {
        const int e = m.ids[static_cast<size_t>(s.token) * m.K + k];
        const float w = m.weights[static_cast<size_t>(s.token) * m.K + k];
        weight_sum += w;
        ImGui::Text("e%-3d", e);
        ImGui::SameLine();
        const ImVec2 p = ImGui::GetCursorScreenPos();
        const float bw = font * 8.0f;
        ImGui::Dummy(ImVec2(bw, font));
        dl->AddRectFilled(
            p, ImVec2(p.x + bw * std::clamp(w / std::max(st.max_weight, 1e-6f), 0.0f, 1.0f), p.y + font),
            ramp_color(w / std::max(st.max_weight, 1e-6f)));
        dl->AddRect(p, ImVec2(p.x + bw, p.y + font), IM_COL32(90, 90, 90, 255));
        ImGui::SameLine();
        ImGui::Text("%.3f", w);
    }
    ImGui::Text("sum %.3f", weight_sum);
    help_marker(
        "The top-k weights after renormalisation: the chosen experts' router probabilities are rescaled to "
        "sum to 1, then multiplied by each expert's learned scale, so the sum can differ a little from 1.");
    ImGui::EndGroup();
    ImGui::SetCursorScreenPos(ImVec2(origin.x, p0.y + map_h + font + 6));

    // ---- loads ----
    const float half = (ImGui::GetContentRegionAvail().x - font) / 2;
    const float plot_h =
        std::max(font * 5.0f, std::min(font * 8.0f, (ImGui::GetContentRegionAvail().y - font * 8.0f) / 2));
    const float uniform = static_cast<float>(m.T) * m.K / m.E;
    ImGui::BeginGroup();
    ImGui::Text("expert load, layer %d (sum %d = %d tokens x %d)", s.layer, m.T * m.K, m.T, m.K);
    help_marker(
        "How many tokens of the prompt each expert processed on this layer. The line is a perfectly even "
        "spread (tokens x top-k / experts); a few tall bars mean the router favours a few experts.");
    bar_chart("##load_layer", st.load_f, ImVec2(half, plot_h));
    std::snprintf(buf, sizeof buf, "even %.1f", uniform);
    mark_level(uniform, *std::max_element(st.load_f.begin(), st.load_f.end()), IM_COL32(140, 230, 140, 220),
               buf);
    ImGui::EndGroup();
    ImGui::SameLine(0, font);
    ImGui::BeginGroup();
    ImGui::TextUnformatted("expert load, every layer of the prompt");
    help_marker(
        "The same count summed over all MoE layers. Expert numbers are per layer (expert 3 of one layer has "
        "nothing to do with expert 3 of another), so this shows the overall balance, not one shared expert "
        "pool.");
    if (st.total_load_f.empty())
        ImGui::TextDisabled("(not recorded)");
    else
        bar_chart("##load_total", st.total_load_f, ImVec2(half, plot_h));
    ImGui::EndGroup();

    // ---- per token: router entropy, shared vs routed ----
    ImGui::Checkbox("fit y axes to the data", &st.fit_y);
    help_marker(
        "Stretch the two per-token plots to their data's range to see small differences between tokens; off, "
        "they start at 0 (entropy ends at its maximum) so sizes compare honestly.");
    ImGui::BeginGroup();
    const float max_entropy = std::log(static_cast<float>(m.E));
    ImGui::Text("router entropy per token (max ln %d = %.2f nats)", m.E, max_entropy);
    help_marker(
        "How spread out the router's probabilities over all experts are: near 0 means one expert clearly "
        "wins, near the maximum means the router cannot tell them apart.");
    if (m.entropy.empty()) {
        ImGui::TextDisabled("needs text.<l>.moe_router_probs: --probes 'text.*.moe_router_probs'");
    } else {
        const auto [lo, hi] = std::minmax_element(m.entropy.begin(), m.entropy.end());
        const float pad = 0.05f * std::max(*hi - *lo, 1e-6f);
        if (st.fit_y)
            token_plot("##entropy", r, m.entropy, nullptr, *lo - pad, *hi + pad, s, ImVec2(half, plot_h));
        else
            token_plot("##entropy", r, m.entropy, nullptr, 0.0f, max_entropy, s, ImVec2(half, plot_h));
        ImGui::Text("from %.3f to %.3f nats (token %d: %.3f)", *lo, *hi, s.token, m.entropy[s.token]);
    }
    ImGui::EndGroup();
    ImGui::SameLine(0, font);
    ImGui::BeginGroup();
    ImGui::TextUnformatted("contribution norm per token:");
    help_marker(
        "The size (L2 norm) of what each branch adds to the token after its own post-norm: the shared dense "
        "MLP that always runs vs the weighted sum of the chosen experts.");
    ImGui::SameLine();
    legend_item(kSharedColor, "shared");
    ImGui::SameLine();
    legend_item(kRoutedColor, "routed");
    if (m.shared_norm.empty() || m.routed_norm.empty()) {
        ImGui::TextDisabled("needs moe_dense_post and moe_experts_post: --probes 'text.*.moe_*'");
    } else {
        float top = 0, bottom = std::numeric_limits<float>::max();
        for (int t = 0; t < m.T; ++t) {
            top = std::max({top, m.shared_norm[t], m.routed_norm[t]});
            bottom = std::min({bottom, m.shared_norm[t], m.routed_norm[t]});
        }
        const float pad = 0.05f * std::max(top - bottom, 1e-6f);
        token_plot("##norms", r, m.shared_norm, &m.routed_norm, st.fit_y ? bottom - pad : 0.0f, top + pad, s,
                   ImVec2(half, plot_h));
    }
    if (!m.shared_norm.empty() && !m.routed_norm.empty()) {
        double shared = 0, routed = 0;
        for (int t = 0; t < m.T; ++t) shared += m.shared_norm[t], routed += m.routed_norm[t];
        ImGui::Text("mean: shared %.3g, routed %.3g (token %d: %.3g vs %.3g)", shared / m.T, routed / m.T,
                    s.token, m.shared_norm[s.token], m.routed_norm[s.token]);
    }
    ImGui::EndGroup();

    // mean weight by rank
    ImGui::TextUnformatted("mean weight by rank:");
    help_marker(
        "The average weight of the router's first, second, ... choice over the prompt: how much the top "
        "expert dominates the others.");
    for (int k = 0; k < m.K; ++k) {
        ImGui::SameLine();
        ImGui::Text("#%d %.3f", k + 1, st.mean_by_rank[k]);
    }
}

}  // namespace gemma4::viz
