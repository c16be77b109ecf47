// panel_ple.cpp — the PLE panel: per-layer embeddings of the E2B / E4B models as layer × token heatmaps (how open the
// gate is, how much each layer adds to the residual stream) and a per-layer ablation that reruns the model and
// compares the next-token distribution. It draws what ple_maps() derives; the rerun itself is the app's (PanelState).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "panels.h"
#include "widgets.h"

namespace gemma4::viz {

namespace {


// A layer × token heatmap drawn at the panel's pixel size, the selected layer outlined; a click selects the layer and
// token. Returns the hovered (layer, token) in recording coordinates.
HeatmapHover layer_token_heatmap(const char* id, GridTexture& tex, unsigned long long version, const Recording& r, PanelState& s,
                                 const std::vector<float>& values, int L, int T, float height, const char* what) {
    const float width = std::max(ImGui::GetContentRegionAvail().x - 4.0f, 50.0f);
    // Colour from the smallest to the largest value: the contribution norms sit close together (each is the output
    // of a norm), so a scale from 0 would paint them all one colour.
    const float lo = values.empty() ? 0.0f : *std::min_element(values.begin(), values.end());
    float hi = values.empty() ? 1.0f : *std::max_element(values.begin(), values.end());
    if (hi <= lo) hi = lo + 1e-6f;
    // One texture, uploaded when the recording or the panel's size changes (a 2k-token map is ~50k cells: drawn as
    // rectangles that was most of the frame under a software renderer).
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    const HeatmapHover cell = texture_heatmap(id, tex, values.data(), L, T, T, ImVec2(width, height), lo, hi, version);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float row_h = height / static_cast<float>(L);
    if (s.layer >= 0 && s.layer < L)
        dl->AddRect(ImVec2(p0.x - 1, p0.y + s.layer * row_h - 1), ImVec2(p0.x + width + 1, p0.y + (s.layer + 1) * row_h + 1),
                    IM_COL32(255, 255, 255, 220), 0.0f, 0, 1.5f);
    HeatmapHover hover;
    if (cell.row >= 0) {
        const ImVec2 m = ImGui::GetMousePos();
        hover.row = std::clamp(static_cast<int>((m.y - p0.y) / row_h), 0, L - 1);
        hover.col = std::clamp(static_cast<int>((m.x - p0.x) / width * T), 0, T - 1);
        const float v = values[static_cast<size_t>(hover.row) * T + hover.col];
        ImGui::SetTooltip("layer %d, token %d (%s)\n%s = %.4g\nclick: open layer %d everywhere", hover.row, hover.col,
                          token_label(r, hover.col).c_str(), what, v, hover.row);
        if (ImGui::IsItemClicked()) {
            s.layer = hover.row;
            s.token = hover.col;
        }
    }
    // Token labels under the columns when a column is wide enough to hold a few characters.
    const float col_w = width / static_cast<float>(T);
    if (col_w >= ImGui::CalcTextSize("abc").x) {
        const ImVec2 q = ImGui::GetCursorScreenPos();
        const float line = ImGui::GetTextLineHeight();
        for (int t = 0; t < T; ++t) {
            const ImVec2 a(q.x + t * col_w, q.y), b(q.x + (t + 1) * col_w - 2.0f, q.y + line);
            dl->PushClipRect(a, b, true);
            dl->AddText(a, t == s.token ? IM_COL32(255, 255, 255, 255) : IM_COL32(170, 170, 170, 255), token_label(r, t).c_str());
            dl->PopClipRect();
        }
        ImGui::Dummy(ImVec2(width, line));
    }
    ImGui::TextDisabled("rows: layers 0 ... %d (top to bottom)   columns: tokens 0 ... %d   colour: %.3g (dark) ... %.3g (bright)", L - 1,
                        T - 1, lo, hi);
    return hover;
}

struct NextTokenStats {
    double total_variation = 0, kl = 0;
    std::vector<int> top_ids;  // union of the top tokens before and after, by the larger probability
};

NextTokenStats compare_distributions(const std::vector<float>& p, const std::vector<float>& q, int top) {
    NextTokenStats st;
    const size_t n = std::min(p.size(), q.size());
    for (size_t i = 0; i < n; ++i) {
        st.total_variation += 0.5 * std::fabs(double(p[i]) - q[i]);
        // KL(before ‖ after); a floor on q keeps a token the ablation drove to 0 from giving +inf.
        if (p[i] > 0) st.kl += double(p[i]) * std::log(double(p[i]) / std::max(double(q[i]), 1e-12));
    }
    std::vector<int> idx(n);
    std::iota(idx.begin(), idx.end(), 0);
    const int k = std::min<int>(top, static_cast<int>(n));
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                      [&](int a, int b) { return std::max(p[a], q[a]) > std::max(p[b], q[b]); });
    st.top_ids.assign(idx.begin(), idx.begin() + k);
    return st;
}

// compare_distributions() walks the whole vocabulary (262 144 ids on the released models): done once per pair of
// distributions, not once per frame. The key is the two buffers and a sample of their values.
const NextTokenStats& compare_cached(const std::vector<float>& p, const std::vector<float>& q, int top) {
    struct Key {
        const float *p = nullptr, *q = nullptr;
        size_t np = 0, nq = 0;
        double sample = 0;
        int top = 0;
        bool operator==(const Key&) const = default;
    };
    static Key key;
    static NextTokenStats stats;
    Key k{p.data(), q.data(), p.size(), q.size(), 0.0, top};
    const size_t step = std::max<size_t>(1, p.size() / 64);
    for (size_t i = 0; i < p.size(); i += step) k.sample += double(p[i]) * (i + 1);
    for (size_t i = 0; i < q.size(); i += step) k.sample += double(q[i]) * (i + 7);
    if (!(k == key)) {
        stats = compare_distributions(p, q, top);
        key = k;
    }
    return stats;
}

// The next-token distribution of the recorded run (softmax of the last row of text.logits), cached by tensor.
const std::vector<float>& recorded_next_token_probs(const Recording& r) {
    static const float* cached_for = nullptr;
    static std::vector<float> probs;
    const Tensor* logits = r.probe(Probe::text_logits);
    if (!logits || logits->data.empty()) {
        probs.clear();
        cached_for = nullptr;
        return probs;
    }
    if (cached_for == logits->data.data()) return probs;
    const int64_t V = logits->dim(static_cast<int>(logits->shape.size()) - 1);
    const float* last = logits->data.data() + (static_cast<int64_t>(logits->data.size()) - V);
    const float mx = *std::max_element(last, last + V);
    probs.assign(last, last + V);
    double sum = 0;
    for (float& v : probs) sum += (v = std::exp(v - mx));
    for (float& v : probs) v = static_cast<float>(v / sum);
    cached_for = logits->data.data();
    return probs;
}

// Paired horizontal bars: before (blue) and after (orange) for each token id.
// The label of vocabulary id `id`: its decoded piece when the prompt holds that id (the recording has no vocabulary),
// else the id.
std::string vocab_label(const Recording& r, int id) {
    const std::vector<int64_t>& tokens = r.meta().tokens;
    for (size_t t = 0; t < tokens.size() && t < r.token_labels.size(); ++t)
        if (tokens[t] == id) return "id " + std::to_string(id) + " " + r.token_labels[t];
    return "id " + std::to_string(id);
}

void before_after_bars(const Recording& r, const std::vector<int>& ids, const std::vector<float>& before, const std::vector<float>* after) {
    const float label_w = ImGui::CalcTextSize("id 0000000 wwwwwwww").x + 8.0f;
    const float bar_w = std::max(ImGui::GetContentRegionAvail().x - label_w - 70.0f, 60.0f);
    const float row_h = ImGui::GetTextLineHeight() + 4.0f;
    float top = 1e-9f;
    for (int id : ids) top = std::max({top, before[id], after ? (*after)[id] : 0.0f});
    ImDrawList* dl = ImGui::GetWindowDrawList();
    for (int id : ids) {
        const ImVec2 p = ImGui::GetCursorScreenPos();
        char buf[48];
        const std::string label = vocab_label(r, id);
        dl->PushClipRect(p, ImVec2(p.x + label_w - 8.0f, p.y + row_h), true);
        dl->AddText(p, IM_COL32(220, 220, 220, 255), label.c_str());
        dl->PopClipRect();
        const float x0 = p.x + label_w;
        const float half = (row_h - 2.0f) * 0.5f;
        dl->AddRectFilled(ImVec2(x0, p.y), ImVec2(x0 + bar_w * before[id] / top, p.y + half), IM_COL32(90, 170, 240, 255));
        if (after)
            dl->AddRectFilled(ImVec2(x0, p.y + half), ImVec2(x0 + bar_w * (*after)[id] / top, p.y + 2 * half),
                              IM_COL32(240, 150, 60, 255));
        if (after)
            std::snprintf(buf, sizeof buf, "%.3f -> %.3f", before[id], (*after)[id]);
        else
            std::snprintf(buf, sizeof buf, "%.3f", before[id]);
        dl->AddText(ImVec2(x0 + bar_w + 6.0f, p.y), IM_COL32(200, 200, 200, 255), buf);
        ImGui::Dummy(ImVec2(label_w + bar_w + 70.0f, row_h));
    }
}

// ple_maps() and the per-layer bars walk every PLE and residual probe (L·T·D values), so they are computed once per
// recording, not once per frame.
struct PleCache {
    const Recording* recording = nullptr;
    const Tensor* first_tensor = nullptr;
    size_t tensor_count = 0;
    std::optional<PleMaps> maps;
    // Per layer, mean over tokens of ||ple_out|| / ||residual stream|| when text.<l>.ffn_residual (the stream the PLE
    // block adds to) was recorded for every layer (relative), else of ||ple_out||.
    std::vector<float> per_layer;
    bool relative = false;
    unsigned long long generation = 0;  // bumped on every rebuild: the heatmap textures follow it
};

const PleCache& ple_cache(const Recording& r) {
    static PleCache c;
    const Tensor* first = r.tensors().empty() ? nullptr : &r.tensors().front();
    if (c.recording == &r && c.first_tensor == first && c.tensor_count == r.tensors().size()) return c;
    const unsigned long long generation = c.generation + 1;
    c = PleCache{};
    c.generation = generation;
    c.recording = &r;
    c.first_tensor = first;
    c.tensor_count = r.tensors().size();
    c.maps = ple_maps(r);
    if (!c.maps || c.maps->T == 0) return c;
    const int L = c.maps->L, T = c.maps->T;
    c.per_layer.assign(static_cast<size_t>(L), 0.0f);
    c.relative = true;
    for (int l = 0; l < L; ++l) {
        const Tensor* res = r.probe(Probe::text_ffn_residual, l);
        if (!res || res->dim(0) != T || res->data.empty()) c.relative = false;
    }
    for (int l = 0; l < L; ++l) {
        double acc = 0;
        const Tensor* res = c.relative ? r.probe(Probe::text_ffn_residual, l) : nullptr;
        const int64_t D = res ? static_cast<int64_t>(res->data.size()) / T : 0;
        for (int t = 0; t < T; ++t) {
            double v = c.maps->contribution_norm[static_cast<size_t>(l) * T + t];
            if (res) {
                double sq = 0;
                for (int64_t d = 0; d < D; ++d) sq += double(res->data[t * D + d]) * res->data[t * D + d];
                v = sq > 0 ? v / std::sqrt(sq) : 0.0;
            }
            acc += v;
        }
        c.per_layer[l] = static_cast<float>(acc / T);
    }
    return c;
}


}  // namespace

void draw_ple(const Recording& r, PanelState& s) {
    const WrapAtWindowEdge wrap;
    const TextConfig& tc = r.config().text;
    if (!tc.has_ple()) {
        ImGui::TextWrapped("%s has no per-layer embeddings (hidden_size_per_layer_input = 0): PLE is a feature of the "
                           "on-device E2B / E4B models. Open one with -m tiny-e2b (or e2b, e4b).",
                           r.config().name.c_str());
        return;
    }
    const int L = tc.num_hidden_layers;
    ImGui::Text("%s: %d layers, each with its own %d-wide embedding of every token (vocabulary of %d rows)",
                r.config().name.c_str(), L, tc.hidden_size_per_layer_input, tc.vocab_size_per_layer_input);
    help_marker("Per-layer embeddings (PLE): besides the usual token embedding at the input, every decoder layer looks up "
                "a small extra vector for each token from its own table. A gate computed from the residual stream decides "
                "how much of it to let in, and a projection adds the result back into the residual stream. The tables "
                "can live in slow memory (flash), which is how the E models keep their fast-memory footprint small.");

    const PleCache& cache = ple_cache(r);
    const std::optional<PleMaps>& maps = cache.maps;
    if (!maps || maps->T == 0) {
        ImGui::TextWrapped("This run recorded no PLE probes (text.<l>.ple_gate, text.<l>.ple_out). Run the prompt again "
                           "from the inspector, or trace with those probes (gemma4 trace --probes 'text.*').");
        return;
    }
    const int T = maps->T;
    const float map_h = std::clamp(std::max(static_cast<float>(L) * 6.0f, ImGui::GetContentRegionAvail().y * 0.17f), 80.0f, 220.0f);

    ImGui::Separator();
    ImGui::Text("Gate openness: mean |gelu(gate)| over the %d gate channels", tc.hidden_size_per_layer_input);
    help_marker("Each layer computes a gate from the current token's hidden state, passes it through GELU and multiplies it "
                "into the token's per-layer embedding. Bright cells: the layer lets much of that token's PLE vector through; "
                "dark cells: the gate is nearly closed. Click a cell to select its layer.");
    static GridTexture gate_texture, norm_texture;
    layer_token_heatmap("##ple_gate", gate_texture, cache.generation, r, s, maps->gate_mean_abs, maps->L, T, map_h, "mean |gate|");

    ImGui::Spacing();
    ImGui::Text("Contribution to the residual stream: ||ple_out|| per layer and token");
    help_marker("The length of the vector the PLE block adds to the residual stream (after its projection back to the "
                "model width and its norm). Compare rows to see which layers lean on the per-layer embeddings most.");
    layer_token_heatmap("##ple_norm", norm_texture, cache.generation, r, s, maps->contribution_norm, maps->L, T, map_h, "||ple_out||");

    const std::vector<float>& per_layer = cache.per_layer;
    const bool relative = cache.relative;
    const float top = *std::max_element(per_layer.begin(), per_layer.end());
    if (relative)
        ImGui::Text("PLE contribution relative to the residual stream, mean over tokens (layer 0 ... %d, left to right; top %.3g)",
                    maps->L - 1, top);
    else
        ImGui::Text("Mean contribution norm per layer (layer 0 ... %d, left to right; top %.3g)", maps->L - 1, top);
    help_marker(relative ? "||ple_out|| / ||residual stream|| at the point the PLE block adds to it, averaged over the prompt's "
                           "tokens: 0.1 means the layer's per-layer embedding moves the stream by a tenth of its length."
                         : "The contribution norm above, averaged over the tokens of the prompt: one bar per layer.");
    bar_chart("##ple_layer_bars", per_layer, ImVec2(std::max(ImGui::GetContentRegionAvail().x - 4.0f, 50.0f), 60.0f));

    // ---- ablation ----
    ImGui::Separator();
    ImGui::Text("Ablation: switch layers' PLE off and rerun");
    help_marker("Tick layers to remove their PLE contribution (the block adds nothing to the residual stream), then press "
                "Rerun: the app runs the prompt again and compares the next-token distribution with and without those "
                "layers' per-layer embeddings.");
    const float cell_w = ImGui::CalcTextSize("L00").x + ImGui::GetFrameHeight() + ImGui::GetStyle().ItemSpacing.x * 2.0f;
    const int per_row = std::max(1, static_cast<int>(ImGui::GetContentRegionAvail().x / cell_w));
    for (int l = 0; l < L; ++l) {
        bool on = std::find(s.ple_ablated_layers.begin(), s.ple_ablated_layers.end(), l) != s.ple_ablated_layers.end();
        char label[16];
        std::snprintf(label, sizeof label, "L%d", l);
        if (l % per_row != 0) ImGui::SameLine(static_cast<float>(l % per_row) * cell_w + ImGui::GetStyle().WindowPadding.x);
        if (ImGui::Checkbox(label, &on)) {
            if (on)
                s.ple_ablated_layers.push_back(l);
            else
                s.ple_ablated_layers.erase(std::remove(s.ple_ablated_layers.begin(), s.ple_ablated_layers.end(), l),
                                           s.ple_ablated_layers.end());
            std::sort(s.ple_ablated_layers.begin(), s.ple_ablated_layers.end());
        }
    }
    if (ImGui::Button("All")) {
        s.ple_ablated_layers.resize(L);
        std::iota(s.ple_ablated_layers.begin(), s.ple_ablated_layers.end(), 0);
    }
    ImGui::SameLine();
    if (ImGui::Button("None")) s.ple_ablated_layers.clear();
    ImGui::SameLine();
    if (ImGui::Button("Rerun")) s.rerun_requested = true;
    help_marker("Runs the same prompt again with the ticked layers' PLE switched off; the comparison appears below.");
    if (s.rerun_requested) {
        ImGui::SameLine();
        ImGui::TextDisabled("running...");
    }

    // ---- next-token distribution ----
    const bool have_pair = !s.probs_before.empty() && s.probs_before.size() == s.probs_after.size();
    if (have_pair) {
        const NextTokenStats& st = compare_cached(s.probs_before, s.probs_after, 8);
        ImGui::Text("Next token, before (blue) vs after (orange) the ablation:  total variation %.4f   KL(before||after) %.4f nats",
                    st.total_variation, st.kl);
        help_marker("Total variation: half the summed absolute change of all token probabilities (0 = same distribution, "
                    "1 = no overlap). KL divergence: how surprised the original model would be by the ablated one's "
                    "predictions, in nats.");
        before_after_bars(r, st.top_ids, s.probs_before, &s.probs_after);
    } else {
        const std::vector<float>& probs = !s.probs_before.empty() ? s.probs_before : recorded_next_token_probs(r);
        if (probs.empty()) {
            ImGui::TextDisabled("The next-token distribution appears here after a rerun (text.logits was not recorded).");
        } else {
            const NextTokenStats& st = compare_cached(probs, probs, 8);
            ImGui::Text("Next token of the recorded run (top %zu); press Rerun to compare with an ablation", st.top_ids.size());
            help_marker("The model's probabilities for the token after the prompt, from the softmax of the last row of its "
                        "logits. Ids with their text where the prompt holds the same token.");
            before_after_bars(r, st.top_ids, probs, nullptr);
        }
    }
}

}  // namespace gemma4::viz
