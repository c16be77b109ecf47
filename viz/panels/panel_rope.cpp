// panel_rope.cpp — the p-RoPE panel (design §7, issue 7 item 3): per layer kind, the rotation frequency and
// wavelength of every dimension pair (rotated vs pass-through), the angle of one pair against position, and
// the two common wrong conventions overlaid with the attention-score error they cause. The formulas live in
// viz/recording.* (rope_pairs, rope_score_error) and reference/rope.*; every number shown comes from the
// loaded config via r.layers().
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <future>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "panels.h"
#include "widgets.h"

namespace gemma4::viz {
namespace {

constexpr double kTwoPi = 6.283185307179586;
constexpr ImU32 kRightColor = IM_COL32(240, 200, 80, 255);  // gemma4 convention
constexpr ImU32 kDenomColor = IM_COL32(90, 200, 240, 255);  // wrong: rotary denominator
constexpr ImU32 kAllColor = IM_COL32(240, 90, 90, 255);     // wrong: every pair rotates
constexpr ImU32 kPassColor = IM_COL32(150, 150, 150, 255);
constexpr ImU32 kGridColor = IM_COL32(70, 70, 70, 255);
constexpr ImU32 kTextColor = IM_COL32(200, 200, 200, 255);

struct RopeState {
    const Recording* recording = nullptr;
    int kind = -1;          // 0 sliding, 1 global
    int synced_layer = -1;  // s.layer the kind was last taken from
    int pair = 1;           // pair 0 turns alike in every convention; pair 1 already tells them apart
    int positions = 128;    // x range of the angle plot
    int position = 5;       // position of the dial
    bool show_denominator = true, show_all_pairs = true;
    // score error against distance, per (layer, convention); computed on a worker when it would stall a frame
    std::map<std::pair<int, int>, std::shared_future<std::vector<double>>> error_curves;
};

RopeState& state() {
    static RopeState st;
    return st;
}

// The distances the error curve is sampled at: 1, 2, 4, ... and max_distance itself.
std::vector<int> curve_distances(int max_distance) {
    std::vector<int> d;
    for (int x = 1; x < max_distance; x *= 2) d.push_back(x);
    d.push_back(std::max(1, max_distance));
    return d;
}

// rope_score_error at every curve distance, or nullptr while a worker still computes it. rope_score_error
// costs about 64 samples × distance × pairs sines and cosines; cheap curves (the tiny models) are computed at
// once.
const std::vector<double>* error_curve(RopeState& st, const LayerInfo& layer, RopeConvention c,
                                       int max_distance) {
    const auto key = std::make_pair(layer.index, static_cast<int>(c));
    auto it = st.error_curves.find(key);
    if (it == st.error_curves.end()) {
        auto compute = [layer, c, max_distance] {
            std::vector<double> errors;
            for (int d : curve_distances(max_distance)) errors.push_back(rope_score_error(layer, c, d));
            return errors;
        };
        const double cost = 64.0 * 2.0 * max_distance * layer.rope_pairs;
        std::shared_future<std::vector<double>> f;
        if (cost < 2e7) {
            std::promise<std::vector<double>> p;
            p.set_value(compute());
            f = p.get_future().share();
        } else {
            f = std::async(std::launch::async, compute).share();
        }
        it = st.error_curves.emplace(key, std::move(f)).first;
    }
    if (it->second.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return nullptr;
    return &it->second.get();
}

// Score error against distance (log2 axis), one curve per wrong convention.
void error_plot(const std::vector<int>& distances, const std::vector<const std::vector<double>*>& curves,
                const std::vector<ImU32>& colors, ImVec2 size) {
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton("##rope_error", size);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float font = ImGui::GetFontSize();
    const ImVec2 a(p0.x + font * 2.4f, p0.y + 2), b(p0.x + size.x, p0.y + size.y - font - 2);
    dl->AddRect(a, b, kGridColor);
    double top = 1e-9;
    for (const auto* c : curves)
        if (c)
            for (double e : *c) top = std::max(top, e);
    top *= 1.1;
    const int n = static_cast<int>(distances.size());
    auto x_of = [&](int i) {
        const double lo = std::log2(distances.front()),
                     hi = std::log2(std::max(distances.back(), distances.front() + 1));
        return a.x + static_cast<float>((std::log2(distances[i]) - lo) / (hi - lo)) * (b.x - a.x);
    };
    auto y_of = [&](double e) { return b.y - static_cast<float>(e / top) * (b.y - a.y); };
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2g", top);
    dl->AddText(ImVec2(p0.x, a.y), kTextColor, buf);
    dl->AddText(ImVec2(p0.x, b.y - font), kTextColor, "0");
    for (int i = 0; i < n; ++i) {
        std::snprintf(buf, sizeof buf, "%d", distances[i]);
        const float w = ImGui::CalcTextSize(buf).x;
        if (i == 0 || i == n - 1 || (i % 2 == 0 && x_of(i) + w < x_of(n - 1) - w))
            dl->AddText(ImVec2(std::min(x_of(i) - w / 2, b.x - w), b.y + 1), kTextColor, buf);
    }
    for (size_t c = 0; c < curves.size(); ++c) {
        if (!curves[c]) continue;
        for (int i = 0; i < n && i < static_cast<int>(curves[c]->size()); ++i) {
            const ImVec2 pt(x_of(i), y_of((*curves[c])[i]));
            if (i > 0) dl->AddLine(ImVec2(x_of(i - 1), y_of((*curves[c])[i - 1])), pt, colors[c], 2.0f);
            dl->AddCircleFilled(pt, 3.0f, colors[c]);
        }
    }
    if (ImGui::IsItemHovered() && n > 0) {
        const float mx = ImGui::GetMousePos().x;
        int best = 0;
        for (int i = 1; i < n; ++i)
            if (std::fabs(x_of(i) - mx) < std::fabs(x_of(best) - mx)) best = i;
        std::string tip = "distances 0 ... " + std::to_string(distances[best]) + ":";
        for (const auto* c : curves)
            if (c && best < static_cast<int>(c->size())) {
                std::snprintf(buf, sizeof buf, " %.3g", (*c)[best]);
                tip += buf;
            }
        ImGui::SetTooltip("%s", tip.c_str());
    }
}

// A short number: 12, 1.5k, 2.3M.
std::string human(double v) {
    char buf[32];
    if (!std::isfinite(v)) return "inf";
    if (v >= 1e9)
        std::snprintf(buf, sizeof buf, "%.3gG", v / 1e9);
    else if (v >= 1e6)
        std::snprintf(buf, sizeof buf, "%.3gM", v / 1e6);
    else if (v >= 1e4)
        std::snprintf(buf, sizeof buf, "%.3gk", v / 1e3);
    else
        std::snprintf(buf, sizeof buf, "%.3g", v);
    return buf;
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

// Wavelength of every pair on a log axis; the wrong conventions as lines over it. Returns the hovered pair or
// −1.
int frequency_plot(const LayerInfo& layer, const std::vector<RopePair>& right,
                   const std::vector<RopePair>& denom, const std::vector<RopePair>& all, const RopeState& st,
                   int sliding_window, int max_positions, ImVec2 size) {
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton("##rope_freq", size);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const int n = static_cast<int>(right.size());
    if (n == 0) return -1;
    const float font = ImGui::GetFontSize();
    const float left = font * 3.2f;  // y-axis labels
    const float band = font * 1.4f;  // the pass-through band at the top
    const ImVec2 a(p0.x + left, p0.y + band), b(p0.x + size.x, p0.y + size.y - font - 2);
    double y_lo = std::log10(kTwoPi) - 0.1, y_hi = std::log10(std::max<double>(max_positions, 10)) + 0.2;
    auto extend = [&](const std::vector<RopePair>& ps) {
        for (const auto& p : ps)
            if (p.rotated && std::isfinite(p.wavelength))
                y_hi = std::max(y_hi, std::log10(p.wavelength) + 0.2);
    };
    extend(right);
    if (st.show_denominator) extend(denom);
    if (st.show_all_pairs) extend(all);
    auto x_of = [&](double i) { return a.x + static_cast<float>((i + 0.5) / n) * (b.x - a.x); };
    auto y_of = [&](double wavelength) {
        return b.y - static_cast<float>((std::log10(wavelength) - y_lo) / (y_hi - y_lo)) * (b.y - a.y);
    };
    dl->AddRect(ImVec2(a.x, p0.y), b, kGridColor);
    dl->AddLine(ImVec2(a.x, a.y), ImVec2(b.x, a.y), kGridColor);
    dl->AddText(ImVec2(p0.x, p0.y + 2), kPassColor, "pass");
    // decades
    char buf[48];
    for (int d = static_cast<int>(std::ceil(y_lo)); d <= static_cast<int>(std::floor(y_hi)); ++d) {
        const float y = y_of(std::pow(10.0, d));
        dl->AddLine(ImVec2(a.x, y), ImVec2(b.x, y), IM_COL32(55, 55, 55, 255));
        std::snprintf(buf, sizeof buf, "1e%d", d);
        dl->AddText(ImVec2(p0.x, y - font / 2), kTextColor, buf);
    }
    // reference lengths: the sliding window and the context length
    auto reference_line = [&](double len, const char* what) {
        const float y = y_of(len);
        if (y < a.y || y > b.y) return;
        dl->AddLine(ImVec2(a.x, y), ImVec2(b.x, y), IM_COL32(120, 220, 120, 160), 1.0f);
        std::snprintf(buf, sizeof buf, "%s %s", what, human(len).c_str());
        dl->AddText(ImVec2(b.x - ImGui::CalcTextSize(buf).x - 3, y - font - 1), IM_COL32(140, 230, 140, 255),
                    buf);
    };
    if (sliding_window > 0) reference_line(sliding_window, "sliding window");
    reference_line(max_positions, "context");
    // the rotated / pass-through split
    if (layer.rotated_pairs < n) {
        const float xs = x_of(layer.rotated_pairs - 0.5);
        dl->AddRectFilled(ImVec2(xs, p0.y), ImVec2(b.x, b.y), IM_COL32(120, 120, 120, 35));
        dl->AddLine(ImVec2(xs, p0.y), ImVec2(xs, b.y), IM_COL32(200, 200, 200, 120));
    }
    // the wrong conventions as lines (pass-through pairs of a convention sit in the top band)
    auto series_y = [&](const RopePair& p) {
        return p.rotated && std::isfinite(p.wavelength) ? y_of(p.wavelength) : p0.y + band / 2;
    };
    auto draw_series = [&](const std::vector<RopePair>& ps, ImU32 col) {
        for (int i = 1; i < static_cast<int>(ps.size()); ++i)
            dl->AddLine(ImVec2(x_of(i - 1), series_y(ps[i - 1])), ImVec2(x_of(i), series_y(ps[i])), col,
                        1.5f);
    };
    if (st.show_denominator) draw_series(denom, kDenomColor);
    if (st.show_all_pairs) draw_series(all, kAllColor);
    // gemma4: one marker per pair, filled when rotated, hollow in the band when it passes through
    const float r = std::clamp((b.x - a.x) / n * 0.35f, 1.5f, 4.0f);
    for (int i = 0; i < n; ++i) {
        if (right[i].rotated)
            dl->AddCircleFilled(ImVec2(x_of(i), y_of(right[i].wavelength)), r, kRightColor);
        else
            dl->AddCircle(ImVec2(x_of(i), p0.y + band / 2), r, kPassColor);
    }
    if (st.pair >= 0 && st.pair < n)
        dl->AddLine(ImVec2(x_of(st.pair), p0.y), ImVec2(x_of(st.pair), b.y), IM_COL32(255, 255, 255, 110));
    // x axis
    dl->AddText(ImVec2(a.x, b.y + 1), kTextColor, "pair 0");
    std::snprintf(buf, sizeof buf, "pair %d", n - 1);
    dl->AddText(ImVec2(b.x - ImGui::CalcTextSize(buf).x, b.y + 1), kTextColor, buf);
    const char* axis = "wavelength (positions per full turn) by pair";
    dl->AddText(ImVec2((a.x + b.x - ImGui::CalcTextSize(axis).x) / 2, b.y + 1), IM_COL32(150, 150, 150, 255),
                axis);
    if (!ImGui::IsItemHovered()) return -1;
    const float mx = ImGui::GetMousePos().x;
    return std::clamp(static_cast<int>((mx - a.x) / (b.x - a.x) * n), 0, n - 1);
}

// The angle (degrees, wrapped to [0, 360)) of one pair against position, one series per convention; no
// segment is drawn across a wrap.
void angle_plot(const std::vector<float>& inv_freqs, const std::vector<ImU32>& colors, int positions,
                int marked_position, ImVec2 size) {
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton("##rope_angle", size);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float font = ImGui::GetFontSize();
    const float left = font * 2.4f;
    const ImVec2 a(p0.x + left, p0.y + 2), b(p0.x + size.x, p0.y + size.y - font - 2);
    dl->AddRect(a, b, kGridColor);
    dl->AddLine(ImVec2(a.x, (a.y + b.y) / 2), ImVec2(b.x, (a.y + b.y) / 2), IM_COL32(55, 55, 55, 255));
    dl->AddText(ImVec2(p0.x, a.y), kTextColor, "360");
    dl->AddText(ImVec2(p0.x, (a.y + b.y - font) / 2), kTextColor, "180");
    dl->AddText(ImVec2(p0.x, b.y - font), kTextColor, "0");
    char buf[48];
    dl->AddText(ImVec2(a.x, b.y + 1), kTextColor, "position 0");
    std::snprintf(buf, sizeof buf, "%d", positions);
    dl->AddText(ImVec2(b.x - ImGui::CalcTextSize(buf).x, b.y + 1), kTextColor, buf);
    const int samples = std::max(2, std::min(positions + 1, static_cast<int>(b.x - a.x)));
    dl->PushClipRect(a, b, true);
    const float xm = a.x + static_cast<float>(marked_position) / std::max(1, positions) * (b.x - a.x);
    dl->AddLine(ImVec2(xm, a.y), ImVec2(xm, b.y), IM_COL32(255, 255, 255, 90));
    for (size_t c = 0; c < inv_freqs.size(); ++c) {
        double prev_deg = 0;
        ImVec2 prev;
        for (int i = 0; i < samples; ++i) {
            const double pos = static_cast<double>(positions) * i / (samples - 1);
            const double deg = std::fmod(pos * inv_freqs[c], kTwoPi) * 360.0 / kTwoPi;
            const ImVec2 pt(a.x + static_cast<float>(i) / (samples - 1) * (b.x - a.x),
                            b.y - static_cast<float>(deg / 360.0) * (b.y - a.y));
            if (i > 0 && deg >= prev_deg) dl->AddLine(prev, pt, colors[c], c == 0 ? 4.0f : 1.5f);
            prev = pt, prev_deg = deg;
        }
    }
    dl->PopClipRect();
}

// The pair as a 2-D vector at `position`: one hand per convention, turned by position · inv_freq.
void dial(const std::vector<float>& inv_freqs, const std::vector<ImU32>& colors, int position,
          float diameter) {
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::Dummy(ImVec2(diameter, diameter));
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const ImVec2 c(p0.x + diameter / 2, p0.y + diameter / 2);
    const float rad = diameter / 2 - 3;
    dl->AddCircle(c, rad, kGridColor, 48);
    dl->AddLine(c, ImVec2(c.x + rad, c.y), IM_COL32(90, 90, 90, 255));  // position 0
    for (size_t i = 0; i < inv_freqs.size(); ++i) {
        const double angle = std::fmod(static_cast<double>(position) * inv_freqs[i], kTwoPi);
        const float len = rad * (1.0f - 0.12f * i);
        dl->AddLine(c,
                    ImVec2(c.x + len * static_cast<float>(std::cos(angle)),
                           c.y - len * static_cast<float>(std::sin(angle))),
                    colors[i], 2.5f);
    }
    dl->AddCircleFilled(c, 3, IM_COL32(220, 220, 220, 255));
}

}  // namespace

void draw_rope(const Recording& r, PanelState& s) {
    const auto& layers = r.layers();
    if (layers.empty()) {
        ImGui::TextUnformatted("No text decoder in this recording.");
        return;
    }
    RopeState& st = state();
    s.layer = std::clamp(s.layer, 0, static_cast<int>(layers.size()) - 1);
    if (st.recording != &r) {
        // a new run opens on the global kind, where p-RoPE differs from plain RoPE; choosing a layer
        // elsewhere switches to that layer's kind
        st = RopeState{};
        st.recording = &r;
        st.kind =
            std::any_of(layers.begin(), layers.end(), [](const LayerInfo& l) { return l.global; }) ? 1 : 0;
        st.synced_layer = s.layer;
    }
    const TextConfig& text = r.config().text;
    if (st.synced_layer != s.layer) {
        st.kind = layers[s.layer].global ? 1 : 0;
        st.synced_layer = s.layer;
    }
    int first_of_kind[2] = {-1, -1}, count_of_kind[2] = {0, 0};
    for (const LayerInfo& l : layers) {
        const int k = l.global ? 1 : 0;
        if (first_of_kind[k] < 0) first_of_kind[k] = l.index;
        ++count_of_kind[k];
    }
    if (first_of_kind[st.kind] < 0) st.kind = 1 - st.kind;
    const LayerInfo& layer =
        layers[layers[s.layer].global == (st.kind == 1) ? s.layer : first_of_kind[st.kind]];

    // ---- the layer kind ----
    ImGui::TextUnformatted("layer kind:");
    ImGui::SameLine();
    for (int k = 0; k < 2; ++k) {
        char label[48];
        std::snprintf(label, sizeof label, "%s (%d layers)", k ? "global" : "sliding", count_of_kind[k]);
        if (k) ImGui::SameLine();
        if (count_of_kind[k] == 0) ImGui::BeginDisabled();
        ImGui::RadioButton(label, &st.kind, k);
        if (count_of_kind[k] == 0) ImGui::EndDisabled();
    }
    help_marker(
        "RoPE settings differ by layer kind: sliding (local) layers and global layers each have their own "
        "base theta and head size. Every layer of one kind uses the same frequencies.");

    const int n_pairs = layer.rope_pairs;
    const int rotated = layer.rotated_pairs;
    const double pct = n_pairs > 0 ? 100.0 * rotated / n_pairs : 0.0;
    ImGui::Text("theta = %s, head dim %d = %d pairs: %d rotate (%.0f %%), %d pass through unchanged",
                human(layer.rope_theta).c_str(), layer.head_dim, n_pairs, rotated, pct, n_pairs - rotated);
    {
        char help[480];
        if (rotated < n_pairs)
            std::snprintf(
                help, sizeof help,
                "p-RoPE: only the first %d of the %d pairs (p = %.2f) are rotated by position; the remaining "
                "low-frequency pairs pass through untouched and keep the meaning of the token. The rotated "
                "pairs keep the frequencies theta^(-2i/%d) they would have in full RoPE.",
                rotated, n_pairs, n_pairs ? static_cast<double>(rotated) / n_pairs : 0.0, layer.head_dim);
        else
            std::snprintf(help, sizeof help,
                          "Plain RoPE: the query and key vectors are cut into %d pairs, and each pair is "
                          "turned by an angle that grows with the token's position: pair i by theta^(-2i/%d) "
                          "radians per position, so the first pair turns fastest and the last barely moves.",
                          n_pairs, layer.head_dim);
        help_marker(help);
    }
    ImGui::TextDisabled("e.g. layer %d (%s)", layer.index,
                        layer.global ? "global, full attention" : "sliding window");

    // ---- frequencies of every pair ----
    const std::vector<RopePair> right = rope_pairs(layer, RopeConvention::gemma4);
    const std::vector<RopePair> denom = rope_pairs(layer, RopeConvention::rotary_denominator);
    const std::vector<RopePair> all = rope_pairs(layer, RopeConvention::all_pairs);
    const bool wrong_differs = rotated < n_pairs;
    ImGui::Checkbox("wrong: denominator = rotated dims", &st.show_denominator);
    help_marker(
        "A common mistake: computing the exponent as -2i / (rotated dims) instead of -2i / head dim. The "
        "rotated pairs then span the whole range from fast to slow, so most of them turn far slower than in "
        "Gemma 4.");
    ImGui::SameLine(0, 16);
    ImGui::Checkbox("wrong: rotate every pair", &st.show_all_pairs);
    help_marker(
        "The other mistake: ignoring p and rotating every pair, so the low-frequency pairs meant to carry "
        "meaning get a little positional noise, which adds up over long contexts.");
    if (!wrong_differs) {
        ImGui::SameLine(0, 16);
        ImGui::TextDisabled("(on this kind every pair rotates: all three conventions agree)");
    }
    const float font = ImGui::GetFontSize();
    const float width = ImGui::GetContentRegionAvail().x;
    const int hovered =
        frequency_plot(layer, right, denom, all, st, text.sliding_window, text.max_position_embeddings,
                       ImVec2(width, std::max(font * 12.0f, ImGui::GetContentRegionAvail().y * 0.38f)));
    if (hovered >= 0) {
        const RopePair& p = right[hovered];
        if (p.rotated)
            ImGui::SetTooltip(
                "pair %d (dims %d, %d): %.4g rad per position, one full turn every %s positions\nwrong "
                "denominator: %s positions; every pair rotating: %s positions\nclick to plot its angle",
                hovered, 2 * hovered, 2 * hovered + 1, p.inv_freq, human(p.wavelength).c_str(),
                human(denom[hovered].wavelength).c_str(), human(all[hovered].wavelength).c_str());
        else
            ImGui::SetTooltip(
                "pair %d (dims %d, %d): pass-through, never rotated\nrotating every pair would turn it once "
                "every %s positions\nclick to plot its angle",
                hovered, 2 * hovered, 2 * hovered + 1, human(all[hovered].wavelength).c_str());
        if (ImGui::IsItemClicked()) st.pair = hovered;
    }
    legend_item(kRightColor, "Gemma 4 (rotated pairs)");
    ImGui::SameLine(0, 14);
    legend_item(kPassColor, "pass-through");
    ImGui::SameLine(0, 14);
    legend_item(kDenomColor, "wrong denominator");
    ImGui::SameLine(0, 14);
    legend_item(kAllColor, "every pair rotating");

    // ---- one pair against position ----
    ImGui::Separator();
    st.pair = std::clamp(st.pair, 0, std::max(0, n_pairs - 1));
    ImGui::SetNextItemWidth(font * 12);
    ImGui::SliderInt("pair", &st.pair, 0, std::max(0, n_pairs - 1));
    help_marker(
        "One pair of dimensions of the query and key. Its angle grows by the pair's frequency at every "
        "position; the score between two tokens depends only on the difference of their angles, their "
        "relative distance.");
    ImGui::SameLine(0, 14);
    ImGui::SetNextItemWidth(font * 12);
    ImGui::SliderInt("positions", &st.positions, 8, std::max(8, text.max_position_embeddings), "%d",
                     ImGuiSliderFlags_Logarithmic);
    help_marker(
        "How many positions the angle plot spans. Slow pairs only show their turn over long distances.");
    ImGui::SameLine(0, 14);
    ImGui::SetNextItemWidth(font * 10);
    ImGui::SliderInt("position", &st.position, 0, std::max(1, st.positions), "%d",
                     ImGuiSliderFlags_Logarithmic);
    help_marker("The position drawn on the dial: the pair seen as a 2-D vector, turned once per wavelength.");
    const RopePair& pr = right[st.pair];
    if (pr.rotated)
        ImGui::Text("pair %d: %.4g rad per position, wavelength %s positions", st.pair, pr.inv_freq,
                    human(pr.wavelength).c_str());
    else
        ImGui::Text("pair %d: pass-through (angle stays 0 in Gemma 4)", st.pair);
    std::vector<float> freqs = {pr.inv_freq};
    std::vector<ImU32> colors = {kRightColor};
    if (st.show_denominator && wrong_differs)
        freqs.push_back(denom[st.pair].inv_freq), colors.push_back(kDenomColor);
    if (st.show_all_pairs && wrong_differs)
        freqs.push_back(all[st.pair].inv_freq), colors.push_back(kAllColor);
    const float dial_d = font * 7.0f;
    const float plot_h =
        std::max(font * 7.0f, std::min(dial_d, ImGui::GetContentRegionAvail().y - font * 8.0f));
    angle_plot(freqs, colors, st.positions, st.position,
               ImVec2(std::max(100.0f, width - dial_d - 12), std::max(plot_h, dial_d)));
    ImGui::SameLine(0, 12);
    dial(freqs, colors, st.position, dial_d);

    // ---- what the wrong conventions cost ----
    ImGui::Separator();
    const int distance =
        layer.global ? std::min(text.max_position_embeddings, 4096) : std::max(1, layer.window);
    ImGui::Text("score error over distances 0 ... %d:", distance);
    {
        char help[360];
        std::snprintf(help, sizeof help,
                      "How far the attention scores q·k move when RoPE uses a wrong convention: the relative "
                      "error |s_wrong - s_right| / |s_right| over random unit queries and keys at every "
                      "distance 0 ... %d (%s). 0 means the convention is harmless on this layer kind.",
                      distance, layer.global ? "a long stretch of context" : "the sliding window");
        help_marker(help);
    }
    struct Row {
        RopeConvention convention;
        const char* name;
        ImU32 color;
    };
    const Row rows[] = {{RopeConvention::rotary_denominator, "denominator = rotated dims", kDenomColor},
                        {RopeConvention::all_pairs, "rotate every pair", kAllColor}};
    std::vector<const std::vector<double>*> curves;
    std::vector<ImU32> curve_colors;
    for (const Row& row : rows) {
        const std::vector<double>* curve = error_curve(st, layer, row.convention, distance);
        curves.push_back(curve), curve_colors.push_back(row.color);
        legend_item(row.color, row.name);
        ImGui::SameLine(font * 14);
        if (!curve) {
            ImGui::TextDisabled("computing ...");
            continue;
        }
        const double err = curve->back();
        const ImVec2 p = ImGui::GetCursorScreenPos();
        const float bar_w = std::max(40.0f, width - font * 22);
        ImGui::Dummy(ImVec2(bar_w, font));
        ImDrawList* dl = ImGui::GetWindowDrawList();
        dl->AddRect(p, ImVec2(p.x + bar_w, p.y + font), kGridColor);
        dl->AddRectFilled(
            p, ImVec2(p.x + bar_w * static_cast<float>(std::clamp(err, 0.0, 1.5) / 1.5), p.y + font),
            row.color);
        ImGui::SameLine();
        ImGui::Text("%.3g", err);
    }
    bool any_error = false;
    for (const auto* c : curves)
        if (c)
            for (double e : *c) any_error = any_error || e > 1e-6;
    if (!wrong_differs || !any_error) {
        ImGui::TextDisabled(
            "Every pair rotates on this layer kind, so both wrong conventions give the same angles: no error "
            "here. Switch to the global kind to see them differ.");
    } else {
        ImGui::TextUnformatted("score error against the longest distance averaged over:");
        help_marker(
            "Each point: the score error over every distance from 0 up to that one. Errors that grow with "
            "distance hurt long contexts most.");
        const float curve_h =
            std::clamp(ImGui::GetContentRegionAvail().y - font * 2.0f, font * 6.0f, font * 16.0f);
        error_plot(curve_distances(distance), curves, curve_colors, ImVec2(width, curve_h));
    }

    // ---- the numbers ----
    if (ImGui::CollapsingHeader("every pair: frequency and wavelength")) {
        constexpr ImGuiTableFlags kFlags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV |
                                           ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingStretchSame;
        if (ImGui::BeginTable("##rope_pairs", 5, kFlags, ImVec2(0, font * 14))) {
            ImGui::TableSetupScrollFreeze(0, 1);
            ImGui::TableSetupColumn("pair (dims)");
            ImGui::TableSetupColumn("Gemma 4: rad / position");
            ImGui::TableSetupColumn("wavelength");
            ImGui::TableSetupColumn("wrong denominator");
            ImGui::TableSetupColumn("every pair rotating");
            ImGui::TableHeadersRow();
            ImGuiListClipper clipper;
            clipper.Begin(n_pairs);
            while (clipper.Step())
                for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
                    ImGui::TableNextRow();
                    ImGui::TableNextColumn();
                    ImGui::Text("%d (%d, %d)", i, 2 * i, 2 * i + 1);
                    ImGui::TableNextColumn();
                    if (right[i].rotated)
                        ImGui::Text("%.4g", right[i].inv_freq);
                    else
                        ImGui::TextDisabled("0 (pass-through)");
                    ImGui::TableNextColumn();
                    ImGui::TextUnformatted(right[i].rotated ? human(right[i].wavelength).c_str() : "-");
                    ImGui::TableNextColumn();
                    ImGui::Text("%.4g rad, %s", denom[i].inv_freq, human(denom[i].wavelength).c_str());
                    ImGui::TableNextColumn();
                    ImGui::Text("%.4g rad, %s", all[i].inv_freq, human(all[i].wavelength).c_str());
                }
            ImGui::EndTable();
        }
    }
}

}  // namespace gemma4::viz
