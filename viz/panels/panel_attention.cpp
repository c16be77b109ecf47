// panel_attention.cpp — the attention-windows panel (design §7, issue 7 item 2): one layer and head's
// attention weights as a heatmap with the layer's mask drawn over it, the GQA grouping, K=V and KV sharing, a
// query-token stepper. It leaves out the arithmetic (reference/attention.* computes the weights;
// viz/recording.* slices them or, when only queries and keys were recorded, computes the rows in view): long
// inputs are drawn from attention_tile() at the panel's pixel resolution, never one rectangle per cell of T×T, and
// a 32 k-token trace is never held as T×T weights.
#include <GL/gl.h>           // the tile texture (OpenGL 1.1 calls, exported by libGL itself)
#include <imgui_internal.h>  // SetItemUsingMouseWheel

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "panels.h"
#include "widgets.h"

namespace gemma4::viz {
namespace {

constexpr float kMinCellPx = 2.0f;  // tiles never get finer than this: bounds the rectangles drawn per frame
constexpr int kMinSpan = 4;         // smallest zoomed view, in tokens
// Computed weights (no attn_weights recorded): softmax rows made per tile, at most this many (spread over the
// blocks), so a zoomed-out 32 k-token global layer costs ~1 k rows of q·k, not 32 k.
constexpr int kComputedRowBudget = 1024;
constexpr ImU32 kCausalTint = IM_COL32(150, 40, 40, 150);
constexpr ImU32 kWindowTint = IM_COL32(40, 80, 170, 150);
constexpr ImU32 kCausalEdge = IM_COL32(255, 110, 110, 255);
constexpr ImU32 kWindowEdge = IM_COL32(120, 180, 255, 255);



// The view and the cached tile; reset when another recording is shown.
struct AttentionState {
    const Recording* recording = nullptr;
    int T = 0, S = 0;
    int t0 = 0, t1 = 0, s0 = 0, s1 = 0;  // visible queries [t0, t1), keys [s0, s1)
    bool log_colour = true;
    bool show_mask = true;
    bool play = false;
    double last_step_time = 0;
    // tile cache
    int tile_layer = -1, tile_head = -1, tile_rows = 0, tile_cols = 0;
    int tile_t0 = -1, tile_t1 = -1, tile_s0 = -1, tile_s1 = -1;
    bool tile_log = false, tile_has_weights = false;
    std::vector<float> tile;
    float tile_max = 0;
    // the tile's colours, uploaded as one texture when they change (texture_valid false)
    std::vector<ImU32> pixels;
    bool texture_valid = false;
};

AttentionState& state() {
    static AttentionState st;
    return st;
}

void reset_view(AttentionState& st) {
    st.t0 = 0, st.t1 = st.T, st.s0 = 0, st.s1 = st.S;
}

// Keeps [lo, hi) inside [0, n) with at least min(kMinSpan, n) tokens.
void clamp_range(int& lo, int& hi, int n) {
    const int span = std::clamp(hi - lo, std::min(kMinSpan, n), n);
    lo = std::clamp(lo, 0, n - span);
    hi = lo + span;
}

// Query row t is at position t + offset (a decode step records T = 1 query against S cached keys).
int query_offset(const AttentionState& st) {
    return std::max(0, st.S - st.T);
}

// Fills st.tile for the current view: the weights (max over each block; computed sources sample a few rows
// per block) or, without them, the mask itself. Recomputed only when the layer, head or view changes.
void update_tile(AttentionState& st, const std::optional<AttentionSource>& src, const LayerInfo& info, int head,
                 int rows, int cols) {
    const bool same = st.tile_layer == info.index && st.tile_head == head && st.tile_rows == rows &&
                      st.tile_cols == cols && st.tile_t0 == st.t0 && st.tile_t1 == st.t1 &&
                      st.tile_s0 == st.s0 && st.tile_s1 == st.s1 && st.tile_log == st.log_colour &&
                      st.tile_has_weights == src.has_value();
    if (same) return;
    st.tile_layer = info.index, st.tile_head = head, st.tile_rows = rows, st.tile_cols = cols;
    st.tile_t0 = st.t0, st.tile_t1 = st.t1, st.tile_s0 = st.s0, st.tile_s1 = st.s1;
    st.tile_log = st.log_colour, st.tile_has_weights = src.has_value();
    st.texture_valid = false;
    if (src) {
        const int per_block = src->computed ? std::max(1, kComputedRowBudget / rows) : 0;
        st.tile = attention_tile(*src, st.t0, st.t1, st.s0, st.s1, rows, cols, per_block);
        st.tile_max = 0;
        for (float& v : st.tile) {
            st.tile_max = std::max(st.tile_max, v);
            if (st.log_colour) v = std::log10(std::max(v, 1e-4f));
        }
        return;
    }
    // No weights: 1 where the mask lets the block's centre query see the block's centre key, else 0.
    st.tile.assign(static_cast<size_t>(rows) * cols, 0.0f);
    const int offset = query_offset(st);
    for (int i = 0; i < rows; ++i) {
        const int64_t q = st.t0 + (int64_t(st.t1 - st.t0) * (2 * i + 1)) / (2 * rows) + offset;
        for (int j = 0; j < cols; ++j) {
            const int64_t k = st.s0 + (int64_t(st.s1 - st.s0) * (2 * j + 1)) / (2 * cols);
            st.tile[static_cast<size_t>(i) * cols + j] = mask_allows(info, q, k) ? 1.0f : 0.0f;
        }
    }
    st.tile_max = 1;
}

// The GL texture the heatmap is drawn from: one per process, kept across recordings (AttentionState is reset
// when another recording is shown; the texture name is not).
GLuint tile_texture(int rows, int cols, const std::vector<ImU32>& pixels) {
    static GLuint texture = 0;
    if (texture == 0) {
        glGenTextures(1, &texture);
        glBindTexture(GL_TEXTURE_2D, texture);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
    }
    if (!pixels.empty()) {
        glBindTexture(GL_TEXTURE_2D, texture);
        glPixelStorei(GL_UNPACK_ALIGNMENT, 4);
        // ImU32 is 0xAABBGGRR: in memory R, G, B, A, which is GL_RGBA / GL_UNSIGNED_BYTE
        glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, cols, rows, 0, GL_RGBA, GL_UNSIGNED_BYTE, pixels.data());
    }
    return texture;
}

// Draws st.tile like widgets' heatmap() (same hover contract), as one textured quad: the tile (at most one cell per
// kMinCellPx pixels) is uploaded as a rows × cols RGBA texture when it changes, so a frame costs one rectangle
// however long the input and however noisy the weights.
HeatmapHover texture_heatmap(const char* id, AttentionState& st, int rows, int cols, ImVec2 size, float lo,
                             float hi) {
    GLuint texture = tile_texture(0, 0, {});
    if (!st.texture_valid) {
        st.pixels.resize(static_cast<size_t>(rows) * cols);
        const float span = hi > lo ? hi - lo : 1.0f;
        for (size_t i = 0; i < st.pixels.size(); ++i) {
            const float v = st.tile[i];
            st.pixels[i] = v == v ? ramp_color((v - lo) / span) : IM_COL32(128, 128, 128, 255);
        }
        texture = tile_texture(rows, cols, st.pixels);
        st.texture_valid = true;
    }
    HeatmapHover hover;
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton(id, ImVec2(std::max(size.x, 1.0f), std::max(size.y, 1.0f)));
    ImGui::GetWindowDrawList()->AddImage(reinterpret_cast<ImTextureID>(static_cast<intptr_t>(texture)), p0,
                                         ImVec2(p0.x + size.x, p0.y + size.y));
    if (ImGui::IsItemHovered()) {
        const ImVec2 m = ImGui::GetMousePos();
        const float cw = size.x / static_cast<float>(cols), ch = size.y / static_cast<float>(rows);
        hover.col = std::clamp(static_cast<int>((m.x - p0.x) / cw), 0, cols - 1);
        hover.row = std::clamp(static_cast<int>((m.y - p0.y) / ch), 0, rows - 1);
    }
    return hover;
}

// A strip of every decoder layer (S = sliding, G = global); a click selects the layer.
void layer_strip(const Recording& r, PanelState& s) {
    const auto& layers = r.layers();
    const float cell = ImGui::GetFontSize() * 1.3f;
    const float avail = ImGui::GetContentRegionAvail().x;
    const int per_row = std::max(1, static_cast<int>(avail / cell));
    const int rows = (static_cast<int>(layers.size()) + per_row - 1) / per_row;
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton("##layer_strip",
                           ImVec2(std::max(1.0f, std::min(avail, cell * layers.size())), cell * rows));
    ImDrawList* dl = ImGui::GetWindowDrawList();
    int hovered = -1;
    for (size_t l = 0; l < layers.size(); ++l) {
        const LayerInfo& info = layers[l];
        const ImVec2 a(p0.x + (l % per_row) * cell, p0.y + (l / per_row) * cell);
        const ImVec2 b(a.x + cell - 2, a.y + cell - 2);
        const ImU32 fill = info.global ? IM_COL32(200, 120, 40, 255) : IM_COL32(50, 110, 170, 255);
        dl->AddRectFilled(a, b, fill, 2.0f);
        if (static_cast<int>(l) == s.layer)
            dl->AddRect(ImVec2(a.x - 1, a.y - 1), ImVec2(b.x + 1, b.y + 1), IM_COL32(255, 255, 255, 255),
                        2.0f, 0, 2.0f);
        const char* tag = info.global ? "G" : "S";
        dl->AddText(ImVec2(a.x + (cell - 2 - ImGui::CalcTextSize(tag).x) / 2,
                           a.y + (cell - 2 - ImGui::GetFontSize()) / 2),
                    IM_COL32(255, 255, 255, 230), tag);
        const ImVec2 m = ImGui::GetMousePos();
        if (m.x >= a.x && m.x < a.x + cell && m.y >= a.y && m.y < a.y + cell) hovered = static_cast<int>(l);
    }
    if (ImGui::IsItemHovered() && hovered >= 0) {
        const LayerInfo& info = layers[hovered];
        if (info.global)
            ImGui::SetTooltip("layer %d: global (full causal attention)%s%s", hovered,
                              info.k_eq_v ? ", K=V" : "", info.kv_shared ? ", KV-shared" : "");
        else
            ImGui::SetTooltip("layer %d: sliding window of %d tokens%s", hovered, info.window,
                              info.kv_shared ? ", KV-shared" : "");
        if (ImGui::IsItemClicked()) s.layer = hovered;
    }
}

// The query heads as buttons grouped by the KV head they read; a click selects the head.
void gqa_buttons(const LayerInfo& info, PanelState& s) {
    const std::vector<int> kv_of = kv_head_of_query_heads(info);
    const float right = ImGui::GetWindowPos().x + ImGui::GetWindowContentRegionMax().x;
    for (int g = 0; g < info.kv_heads; ++g) {
        const float hue = info.kv_heads > 1 ? static_cast<float>(g) / info.kv_heads : 0.55f;
        char group_label[32];
        std::snprintf(group_label, sizeof group_label, "KV %d:", g);
        int members = 0;
        for (int h = 0; h < info.q_heads; ++h) members += kv_of[h] == g;
        const float group_w =
            ImGui::CalcTextSize(group_label).x + members * (ImGui::GetFontSize() * 2.2f) + 16;
        if (g > 0) {
            ImGui::SameLine(0, 14);
            if (ImGui::GetCursorScreenPos().x + group_w > right) ImGui::NewLine();
        }
        ImGui::TextColored(ImColor::HSV(hue, 0.45f, 1.0f), "%s", group_label);
        for (int h = 0; h < info.q_heads; ++h) {
            if (kv_of[h] != g) continue;
            ImGui::SameLine(0, 3);
            const bool selected = h == s.head;
            ImGui::PushStyleColor(ImGuiCol_Button,
                                  static_cast<ImVec4>(ImColor::HSV(hue, 0.55f, selected ? 0.85f : 0.45f)));
            ImGui::PushStyleColor(ImGuiCol_ButtonHovered,
                                  static_cast<ImVec4>(ImColor::HSV(hue, 0.55f, 0.7f)));
            ImGui::PushStyleVar(ImGuiStyleVar_FrameBorderSize, selected ? 2.0f : 0.0f);
            char label[16];
            std::snprintf(label, sizeof label, "q%d", h);
            if (ImGui::Button(label)) s.head = h;
            ImGui::PopStyleVar();
            ImGui::PopStyleColor(2);
        }
    }
}

// Per head of one layer: how far back it looks on average and how much weight it puts on the first token,
// from up to kStatRows query rows (enough to tell the heads apart without reading all of a 32 k map).
constexpr int kStatRows = 256;
constexpr int kStatRowsComputed = 32;  // computed rows cost q·k over up to T keys each
struct HeadStats {
    const Recording* recording = nullptr;
    int layer = -1;
    std::vector<float> look_back;    // [H] mean of Σ_k w·(q − k) over the sampled rows
    std::vector<float> first_token;  // [H] mean weight on key 0
};

const HeadStats& head_stats(const Recording& r, const LayerInfo& info, int offset) {
    static HeadStats hs;
    if (hs.recording == &r && hs.layer == info.index) return hs;
    hs.recording = &r, hs.layer = info.index;
    hs.look_back.assign(info.q_heads, 0.0f);
    hs.first_token.assign(info.q_heads, 0.0f);
    for (int h = 0; h < info.q_heads; ++h) {
        const auto m = attention_source(r, info.index, h);
        if (!m || m->T <= 0) continue;
        const int stride = std::max(1, m->T / (m->computed ? kStatRowsComputed : kStatRows));
        double back = 0, first = 0;
        int n = 0;
        std::vector<float> row(static_cast<size_t>(m->S));
        for (int t = 0; t < m->T; t += stride, ++n) {
            const int64_t q = t + offset;
            m->row(t, row.data());
            const auto [k0, k1] = m->allowed(t);
            for (int k = k0; k <= k1; ++k) back += double(row[k]) * double(q - k);
            first += row[0];
        }
        hs.look_back[h] = static_cast<float>(back / std::max(1, n));
        hs.first_token[h] = static_cast<float>(first / std::max(1, n));
    }
    return hs;
}

// The selected query token's row of weights (cached per recording, layer, head and token: a computed row costs
// q·k over every key it may see).
const std::vector<float>& query_row(const Recording& r, const AttentionSource& m, int token) {
    static std::vector<float> row;
    static const Recording* cached_r = nullptr;
    static int cached_layer = -1, cached_head = -1, cached_token = -1, cached_S = -1;
    if (cached_r == &r && cached_layer == m.layer && cached_head == m.head && cached_token == token && cached_S == m.S)
        return row;
    cached_r = &r, cached_layer = m.layer, cached_head = m.head, cached_token = token, cached_S = m.S;
    row.assign(static_cast<size_t>(m.S), 0.0f);
    if (token >= 0 && token < m.T) m.row(token, row.data());
    return row;
}

// The keys the query token weighs most, largest first.
std::vector<std::pair<float, int>> top_keys(const std::vector<float>& row) {
    std::vector<std::pair<float, int>> top;
    constexpr size_t kTop = 6;
    for (int k = 0; k < static_cast<int>(row.size()); ++k) {
        const float w = row[k];
        if (top.size() < kTop || w > top.back().first) {
            top.emplace_back(w, k);
            std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
            if (top.size() > kTop) top.pop_back();
        }
    }
    return top;
}

void swatch(ImU32 color, const char* text) {
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float h = ImGui::GetFontSize();
    ImGui::GetWindowDrawList()->AddRectFilled(ImVec2(p.x, p.y + 2), ImVec2(p.x + h, p.y + h - 2), color);
    ImGui::Dummy(ImVec2(h + 2, h));
    ImGui::SameLine(0, 4);
    ImGui::TextUnformatted(text);
}

// Right of the map: the mask legend, the query token's strongest keys, and the heads of the layer side by
// side.
void side_column(const Recording& r, PanelState& s, const LayerInfo& info, const AttentionSource* m,
                 int offset) {
    ImGui::BeginGroup();
    swatch(kCausalTint | IM_COL32(0, 0, 0, 255), "later tokens: causal mask");
    if (info.window > 0) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "more than %d back: outside window", info.window - 1);
        swatch(kWindowTint | IM_COL32(0, 0, 0, 255), buf);
    }
    if (!m) {
        ImGui::EndGroup();
        return;
    }
    ImGui::Spacing();
    ImGui::Text("strongest keys of token %d:", s.token);
    help_marker(
        "The keys this query token takes the most from, with how far back each is. Many heads put a large "
        "weight on the first token, a resting place when nothing else matters (an attention sink).");
    for (const auto& [w, k] : top_keys(query_row(r, *m, s.token)))
        ImGui::Text("  %.3f  key %d '%s' (%d back)", w, k, short_label(token_label(r, k), 10).c_str(),
                    s.token + offset - k);
    ImGui::Spacing();
    const HeadStats& hs = head_stats(r, info, offset);
    ImGui::TextUnformatted("heads of this layer:");
    help_marker(
        "For every query head: the mean distance it looks back (weights times distance, averaged over the "
        "query tokens) and its mean weight on the first token. Heads of one KV group share keys and values "
        "but can still look at different places. Click a row to show that head.");
    const std::vector<int> kv_of = kv_head_of_query_heads(info);
    // bars on the scale of the farthest a head could look: the window, or every earlier token
    const float max_back =
        static_cast<float>(std::max(1, info.window > 0 ? info.window - 1 : r.tokens() + offset - 1));
    const float font = ImGui::GetFontSize();
    const float bar_w = font * 7.0f;
    ImGui::TextDisabled("head  look-back        on first token");
    for (int h = 0; h < info.q_heads; ++h) {
        char label[48];
        std::snprintf(label, sizeof label, "q%-2d kv%-2d##head%d", h, kv_of[h], h);
        if (ImGui::Selectable(label, h == s.head, 0, ImVec2(font * 4.5f, 0))) s.head = h;
        ImGui::SameLine();
        ImDrawList* dl = ImGui::GetWindowDrawList();
        ImVec2 p = ImGui::GetCursorScreenPos();
        ImGui::Dummy(ImVec2(bar_w, font));
        dl->AddRectFilled(p, ImVec2(p.x + bar_w * hs.look_back[h] / max_back, p.y + font - 2),
                          IM_COL32(90, 170, 240, 255));
        dl->AddText(ImVec2(p.x + 2, p.y - 1), IM_COL32(255, 255, 255, 255),
                    std::to_string(static_cast<int>(std::lround(hs.look_back[h]))).c_str());
        ImGui::SameLine();
        p = ImGui::GetCursorScreenPos();
        ImGui::Dummy(ImVec2(bar_w, font));
        dl->AddRectFilled(p, ImVec2(p.x + bar_w * std::clamp(hs.first_token[h], 0.0f, 1.0f), p.y + font - 2),
                          IM_COL32(240, 170, 80, 255));
        char buf[16];
        std::snprintf(buf, sizeof buf, "%.2f", hs.first_token[h]);
        dl->AddText(ImVec2(p.x + 2, p.y - 1), IM_COL32(255, 255, 255, 255), buf);
    }
    ImGui::EndGroup();
}

}  // namespace

void draw_attention(const Recording& r, PanelState& s) {
    const auto& layers = r.layers();
    if (layers.empty()) {
        ImGui::TextUnformatted("No text decoder in this recording.");
        return;
    }
    AttentionState& st = state();
    s.layer = std::clamp(s.layer, 0, static_cast<int>(layers.size()) - 1);
    const LayerInfo& info = layers[s.layer];
    s.head = std::clamp(s.head, 0, std::max(0, info.q_heads - 1));
    const TextConfig& text = r.config().text;

    // ---- the layer and its kind ----
    layer_strip(r, s);
    {
        int globals = 0;
        for (const LayerInfo& l : layers) globals += l.global;
        char help[320];
        std::snprintf(
            help, sizeof help,
            "Every decoder layer: S = sliding-window (local) attention, G = global (full) attention. "
            "Gemma 4 interleaves them, several local layers for each global one; this model has %d "
            "sliding and %d global layers%s. Click a layer to open it.",
            static_cast<int>(layers.size()) - globals, globals,
            layers.back().global ? ", the last one global" : "");
        help_marker(help);
    }
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 12);
    ImGui::SliderInt("layer", &s.layer, 0, static_cast<int>(layers.size()) - 1);
    help_marker("The decoder layer shown here (and in the other per-layer panels).");
    ImGui::SameLine(0, 20);
    if (info.global) {
        ImGui::TextColored(ImVec4(1.0f, 0.65f, 0.3f, 1.0f), "global: every token sees all tokens before it");
        help_marker(
            "Global (full) attention: each token attends to every earlier token and itself, however far "
            "back. It is what lets the model connect words across the whole context.");
    } else {
        ImGui::TextColored(ImVec4(0.45f, 0.7f, 1.0f, 1.0f),
                           "sliding window: each token sees itself and the %d before it", info.window - 1);
        char help[320];
        std::snprintf(help, sizeof help,
                      "Sliding-window (local) attention: a token only sees the last %d tokens (itself "
                      "included), so the window slides along as text is generated. Information from further "
                      "back arrives only by passing through several layers, like a game of telephone.",
                      info.window);
        help_marker(help);
    }
    ImGui::Text("%d query heads, %d KV heads, head dim %d", info.q_heads, info.kv_heads, info.head_dim);
    if (info.k_eq_v) {
        ImGui::SameLine(0, 16);
        ImGui::TextColored(ImVec4(1.0f, 0.85f, 0.3f, 1.0f), "[K=V]");
        help_marker(
            "K=V: on this model's global layers the values are the keys (there is no separate value "
            "projection), so the cache stores one tensor per KV head instead of two.");
    } else if (info.global) {
        ImGui::SameLine(0, 16);
        ImGui::TextDisabled("[K and V separate]");
        help_marker(
            "This model keeps a separate value projection on its global layers too (attention_k_eq_v is off "
            "in its config), so keys and values are cached separately.");
    }
    if (info.kv_shared) {
        ImGui::SameLine(0, 16);
        ImGui::TextColored(ImVec4(0.6f, 1.0f, 0.6f, 1.0f), "[KV-shared: reads layer %d's cache]",
                           info.kv_source);
        char help[320];
        std::snprintf(
            help, sizeof help,
            "The last %d layers compute no keys or values of their own: each reuses the KV cache of the last "
            "earlier layer of the same kind (here layer %d), which saves the cache memory for those layers.",
            text.num_kv_shared_layers, info.kv_source);
        help_marker(help);
    }

    // ---- GQA ----
    ImGui::TextUnformatted("heads:");
    {
        char help[360];
        std::snprintf(help, sizeof help,
                      "Grouped-query attention: %d query heads share each KV head on this layer (%d query "
                      "heads, %d KV heads), so far fewer keys and values need to be cached. Buttons of one "
                      "colour read the same KV head; click one to show its weights.",
                      info.kv_heads > 0 ? info.q_heads / info.kv_heads : 0, info.q_heads, info.kv_heads);
        help_marker(help);
    }
    ImGui::SameLine();
    gqa_buttons(info, s);

    // ---- the map ----
    const std::optional<AttentionSource> map = attention_source(r, info.index, s.head);
    const int T = map ? map->T : r.tokens();
    const int S = map ? map->S : T;
    if (st.recording != &r || st.T != T || st.S != S) {
        st = AttentionState{};
        st.recording = &r, st.T = T, st.S = S;
        reset_view(st);
    }
    if (map && map->computed) {
        ImGui::TextDisabled("weights computed from the recorded queries and keys (layer %d's keys)", map->key_layer);
        help_marker(
            "This trace holds the rotated queries and keys (attn_q_rope, attn_k_rope) but not the weights, so "
            "the rows in view are computed here: softmax of q·k (scale 1) over the keys the mask allows. "
            "Zoomed out, each cell is the largest weight of a few sampled query rows of its block.");
    }
    if (!map) {
        ImGui::TextColored(ImVec4(1.0f, 0.8f, 0.4f, 1.0f),
                           "Attention weights were not recorded for layer %d.", info.index);
        ImGui::TextWrapped(
            "Record them with:  gemma4 trace ... --probes 'text.*.attn_weights'  (a live run records them "
            "all). Shown below: the mask alone, which cells the layer may use.");
    }
    if (T <= 0 || S <= 0) {
        ImGui::TextUnformatted("No text tokens in this recording.");
        return;
    }

    // query-token stepper
    if (s.token < 0 || s.token >= T) s.token = T - 1;
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 14);
    ImGui::SliderInt("query token", &s.token, 0, T - 1);
    help_marker(
        "The token whose attention row is plotted below. Generating token t computes exactly row t: a decode "
        "step attends over the keys cached so far, so stepping through the rows replays decoding.");
    ImGui::SameLine();
    if (ImGui::ArrowButton("##prev", ImGuiDir_Left)) s.token = std::max(0, s.token - 1);
    ImGui::SameLine(0, 2);
    if (ImGui::ArrowButton("##next", ImGuiDir_Right)) s.token = std::min(T - 1, s.token + 1);
    ImGui::SameLine();
    ImGui::Checkbox("play", &st.play);
    help_marker("Steps one token every quarter second, as decoding would.");
    if (st.play && ImGui::GetTime() - st.last_step_time > 0.25) {
        st.last_step_time = ImGui::GetTime();
        s.token = s.token + 1 >= T ? 0 : s.token + 1;
    }

    // view controls
    ImGui::Checkbox("log colour", &st.log_colour);
    help_marker(
        "Colour by log10 of the weight (1e-4 ... 1) so small weights stay visible; off: linear from 0 to the "
        "largest weight in view.");
    ImGui::SameLine();
    ImGui::Checkbox("mask overlay", &st.show_mask);
    help_marker(
        "Tints the cells the mask forbids: red above the diagonal (a token never sees later tokens), blue "
        "outside the sliding window on local layers. Their weights are exactly zero.");
    ImGui::SameLine();
    if (ImGui::Button("fit")) reset_view(st);
    help_marker(
        "Show every token. Wheel over the map zooms, dragging pans, a click picks the query token, a double "
        "click fits again. Zoomed out, each cell shows the largest weight of the block it covers.");
    ImGui::SameLine();
    if (ImGui::Button("around query")) {
        const int q = s.token + query_offset(st);
        const int span = std::max(kMinSpan, info.window > 0 ? 2 * info.window : 64);
        st.t0 = s.token - span / 2, st.t1 = st.t0 + span;
        st.s0 = q - span / 2 - (info.window > 0 ? info.window / 2 : 0), st.s1 = st.s0 + span;
    }
    help_marker("Zoom to the neighbourhood of the query token (two windows wide on sliding layers).");
    clamp_range(st.t0, st.t1, T);
    clamp_range(st.s0, st.s1, S);
    const int vis_rows = st.t1 - st.t0, vis_cols = st.s1 - st.s0;

    // layout: query labels on the left when every row is tall enough to hold one
    const float font = ImGui::GetFontSize();
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float plot_reserve = font * 9.0f;
    const float side_column_w = font * 24.0f;
    float side = std::min(avail.x - font * 7.0f - side_column_w, avail.y - plot_reserve - font * 4.0f);
    side = std::max(side, 160.0f);
    float map_w = side, map_h = side * static_cast<float>(vis_rows) / vis_cols;
    map_h = std::clamp(map_h, 24.0f, side);
    const bool row_labels = map_h / vis_rows >= font;
    const float margin = row_labels ? font * 6.0f : font * 4.0f;
    const int rows = std::max(1, std::min(vis_rows, static_cast<int>(map_h / kMinCellPx)));
    const int cols = std::max(1, std::min(vis_cols, static_cast<int>(map_w / kMinCellPx)));
    update_tile(st, map, info, s.head, rows, cols);

    const ImVec2 origin = ImGui::GetCursorScreenPos();
    ImGui::SetCursorScreenPos(ImVec2(origin.x + margin, origin.y));
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    const float lo = map && st.log_colour ? -4.0f : 0.0f;
    const float hi = map && st.log_colour ? 0.0f : std::max(st.tile_max, 1e-6f);
    const HeatmapHover hover = texture_heatmap("##attn_map", st, rows, cols, ImVec2(map_w, map_h), lo, hi);
    ImGui::SetItemUsingMouseWheel();  // the wheel zooms the map instead of scrolling the window
    const bool map_hovered = ImGui::IsItemHovered();
    const bool map_deactivated = ImGui::IsItemDeactivated();
    const bool map_active = ImGui::IsItemActive();
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float cell_w = map_w / vis_cols, cell_h = map_h / vis_rows;
    auto x_of = [&](double k) { return p0.x + static_cast<float>((k - st.s0) * cell_w); };
    auto y_of = [&](double t) { return p0.y + static_cast<float>((t - st.t0) * cell_h); };
    const int offset = query_offset(st);

    // mask overlay: per tile row, the forbidden key spans of its first query; edges as lines
    dl->PushClipRect(p0, ImVec2(p0.x + map_w, p0.y + map_h), true);
    if (st.show_mask) {
        for (int i = 0; i < rows; ++i) {
            const int t_first = st.t0 + static_cast<int>(int64_t(vis_rows) * i / rows);
            const int t_next = st.t0 + static_cast<int>(int64_t(vis_rows) * (i + 1) / rows);
            const float ya = y_of(t_first), yb = y_of(t_next);
            const int q = t_first + offset;
            if (q + 1 < st.s1)
                dl->AddRectFilled(ImVec2(std::max(x_of(q + 1), p0.x), ya), ImVec2(p0.x + map_w, yb),
                                  kCausalTint);
            if (info.window > 0 && q - info.window + 1 > st.s0)
                dl->AddRectFilled(ImVec2(p0.x, ya),
                                  ImVec2(std::min(x_of(q - info.window + 1), p0.x + map_w), yb), kWindowTint);
        }
        dl->AddLine(ImVec2(x_of(st.t0 + offset + 1), y_of(st.t0)),
                    ImVec2(x_of(st.t1 + offset + 1), y_of(st.t1)), kCausalEdge, 1.5f);
        if (info.window > 0)
            dl->AddLine(ImVec2(x_of(st.t0 + offset - info.window), y_of(st.t0)),
                        ImVec2(x_of(st.t1 + offset - info.window), y_of(st.t1)), kWindowEdge, 1.5f);
    }
    // the selected query row
    if (s.token >= st.t0 && s.token < st.t1)
        dl->AddRect(ImVec2(p0.x, y_of(s.token)),
                    ImVec2(p0.x + map_w, std::max(y_of(s.token + 1), y_of(s.token) + 2)),
                    IM_COL32(255, 255, 255, 220), 0, 0, 1.5f);
    dl->PopClipRect();
    dl->AddRect(p0, ImVec2(p0.x + map_w, p0.y + map_h), IM_COL32(110, 110, 110, 255));

    // axis labels
    const ImU32 label_col = IM_COL32(210, 210, 210, 255);
    char buf[64];
    if (row_labels) {
        for (int t = st.t0; t < st.t1; ++t) {
            const std::string lab = short_label(token_label(r, t), 8);
            const ImVec2 sz = ImGui::CalcTextSize(lab.c_str());
            dl->AddText(ImVec2(p0.x - sz.x - 4, y_of(t) + (cell_h - font) / 2),
                        t == s.token ? IM_COL32(255, 255, 120, 255) : label_col, lab.c_str());
        }
    } else {
        std::snprintf(buf, sizeof buf, "%d", st.t0);
        dl->AddText(ImVec2(p0.x - ImGui::CalcTextSize(buf).x - 4, p0.y), label_col, buf);
        std::snprintf(buf, sizeof buf, "%d", st.t1 - 1);
        dl->AddText(ImVec2(p0.x - ImGui::CalcTextSize(buf).x - 4, p0.y + map_h - font), label_col, buf);
    }
    const float char_w = ImGui::CalcTextSize("M").x;
    const int key_chars = static_cast<int>(cell_w / char_w);
    float labels_h = font + 2;
    if (key_chars >= 1) {
        // two staggered lines, so each label may use two cells' width
        labels_h = 2 * font + 2;
        for (int k = st.s0; k < st.s1; ++k) {
            const std::string lab =
                short_label(token_label(r, k), std::max(1, static_cast<int>(2 * cell_w / char_w) - 1));
            const float y = p0.y + map_h + 2 + ((k - st.s0) % 2) * font;
            dl->AddText(ImVec2(x_of(k) + 1, y),
                        k == s.token + offset ? IM_COL32(255, 255, 120, 255) : label_col, lab.c_str());
        }
    } else {
        const int ticks = std::max(2, static_cast<int>(map_w / (char_w * 8)));
        for (int i = 0; i < ticks; ++i) {
            const int k = st.s0 + static_cast<int>(int64_t(vis_cols - 1) * i / (ticks - 1));
            std::snprintf(buf, sizeof buf, "%d", k);
            const float x = std::clamp(x_of(k + 0.5), p0.x, p0.x + map_w - ImGui::CalcTextSize(buf).x);
            dl->AddText(ImVec2(x, p0.y + map_h + 2), label_col, buf);
        }
    }
    dl->AddText(ImVec2(origin.x, p0.y + map_h + 2), IM_COL32(150, 150, 150, 255),
                row_labels ? "keys ->" : "keys");
    ImGui::SetCursorScreenPos(ImVec2(p0.x + map_w + font * 1.5f, origin.y));
    side_column(r, s, info, map ? &*map : nullptr, offset);
    ImGui::SetCursorScreenPos(ImVec2(origin.x, p0.y + map_h + labels_h + 4));

    // interaction: wheel zooms around the cursor, drag pans, click picks the query, double click fits
    const ImGuiIO& io = ImGui::GetIO();
    if (map_hovered) {
        const double mt = st.t0 + (io.MousePos.y - p0.y) / cell_h,
                     ms = st.s0 + (io.MousePos.x - p0.x) / cell_w;
        if (io.MouseWheel != 0) {
            const double factor = std::pow(0.8, io.MouseWheel);
            const int nr = std::max(kMinSpan, static_cast<int>(std::lround(vis_rows * factor)));
            const int nc = std::max(kMinSpan, static_cast<int>(std::lround(vis_cols * factor)));
            st.t0 = static_cast<int>(std::lround(mt - (mt - st.t0) * nr / vis_rows)), st.t1 = st.t0 + nr;
            st.s0 = static_cast<int>(std::lround(ms - (ms - st.s0) * nc / vis_cols)), st.s1 = st.s0 + nc;
        }
        if (ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) reset_view(st);
        if (hover.row >= 0) {
            const int t = std::clamp(static_cast<int>(mt), 0, T - 1),
                      k = std::clamp(static_cast<int>(ms), 0, S - 1);
            const int q = t + offset;
            const char* rule = mask_allows(info, q, k) ? "allowed"
                               : k > q                 ? "hidden: a later token (causal mask)"
                                                       : "hidden: outside the sliding window";
            const float v = st.tile[static_cast<size_t>(hover.row) * cols + hover.col];
            const float shown = map && st.log_colour ? std::pow(10.0f, v) : v;
            const bool block = rows < vis_rows || cols < vis_cols;
            ImGui::SetTooltip("query %d '%s'  ->  key %d '%s'\n%s %.4g%s\nmask: %s", t,
                              short_label(token_label(r, t), 24).c_str(), k,
                              short_label(token_label(r, k), 24).c_str(), map ? "weight" : "mask", shown,
                              !block ? ""
                              : map && map->computed && vis_rows > kComputedRowBudget
                                  ? " (largest over sampled rows of this block)"
                                  : " (largest in this block)",
                              rule);
            if (map_deactivated) {
                const ImVec2 drag = ImGui::GetMouseDragDelta(ImGuiMouseButton_Left, 0.0f);
                if (drag.x * drag.x + drag.y * drag.y < 9.0f) s.token = t;
            }
        }
    }
    if (map_active && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 3.0f)) {
        static float carry_x = 0, carry_y = 0;  // sub-cell remainder of the drag, so slow drags still pan
        carry_x += io.MouseDelta.x / cell_w, carry_y += io.MouseDelta.y / cell_h;
        const int dk = static_cast<int>(carry_x), dt = static_cast<int>(carry_y);
        carry_x -= dk, carry_y -= dt;
        st.s0 -= dk, st.s1 -= dk, st.t0 -= dt, st.t1 -= dt;
    }
    clamp_range(st.t0, st.t1, T);
    clamp_range(st.s0, st.s1, S);

    // ---- the selected query's row ----
    const int q = s.token + offset;
    const int first_key = info.window > 0 ? std::max(0, q - info.window + 1) : 0;
    ImGui::Text("token %d '%s' sees keys %d ... %d (%d keys)", s.token,
                short_label(token_label(r, s.token), 24).c_str(), first_key, std::min(q, S - 1),
                std::min(q, S - 1) - first_key + 1);
    if (!map) return;
    const int bins = std::max(1, std::min(vis_cols, static_cast<int>(map_w / kMinCellPx)));
    static std::vector<float> row_values;
    row_values.assign(bins, 0.0f);
    const std::vector<float>& weights_row = query_row(r, *map, s.token);
    for (int k = st.s0; k < st.s1; ++k) {
        const int b = static_cast<int>(int64_t(k - st.s0) * bins / vis_cols);
        row_values[b] = std::max(row_values[b], weights_row[k]);
    }
    ImGui::TextDisabled("its weights over the keys in view:");
    help_marker(
        "The attention row of the query token: how much of each key's value it mixes in. The weights of a "
        "row sum to 1; masked keys get exactly 0.");
    const float plot_h =
        std::max(font * 4.0f, std::min(font * 6.0f, ImGui::GetContentRegionAvail().y - font));
    ImGui::SetCursorScreenPos(ImVec2(origin.x + margin, ImGui::GetCursorScreenPos().y));
    bar_chart("##attn_row", row_values, ImVec2(map_w, plot_h), 0.0f);
    // shade the keys the mask hides, as on the map
    const ImVec2 b0 = ImGui::GetItemRectMin(), b1 = ImGui::GetItemRectMax();
    dl->PushClipRect(b0, b1, true);
    if (q + 1 < st.s1) dl->AddRectFilled(ImVec2(std::max(x_of(q + 1), b0.x), b0.y), b1, kCausalTint);
    if (info.window > 0 && first_key > st.s0)
        dl->AddRectFilled(b0, ImVec2(std::min(x_of(first_key), b1.x), b1.y), kWindowTint);
    dl->PopClipRect();
}

}  // namespace gemma4::viz
