// panel_divergence.cpp — the probe-by-probe comparison of the current run against a comparison run (a golden loaded
// with --golden / File > Open golden, or the same input on another backend): NMSE along the execution order, the
// table of every probe with the first one over tolerance highlighted, a click jumps to the probe's layer. The
// comparison itself is compare_recordings (recording.h → reference/compare.h); this file only draws it.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "panels.h"
#include "widgets.h"

namespace gemma4::viz {
namespace {

struct DiffCache {
    const Recording* r = nullptr;
    const Recording* ref = nullptr;
    size_t tensors = 0, ref_tensors = 0;
    double tol = -1;
    TraceDiff diff;
};

const TraceDiff& cached_diff(const Recording& r, const Recording& ref, double tol) {
    static DiffCache cache;
    if (cache.r != &r || cache.ref != &ref || cache.tensors != r.tensors().size() || cache.ref_tensors != ref.tensors().size() ||
        cache.tol != tol) {
        cache.r = &r;
        cache.ref = &ref;
        cache.tensors = r.tensors().size();
        cache.ref_tensors = ref.tensors().size();
        cache.tol = tol;
        cache.diff = compare_recordings(r, ref, tol);
    }
    return cache.diff;
}

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + ")";
}

// log10 NMSE of every probe along the execution order, the tolerance as a line, the first divergence marked.
void nmse_strip(const TraceDiff& diff, double tol, int selected) {
    const ImVec2 size(ImGui::GetContentRegionAvail().x, 110);
    const ImVec2 p = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton("nmse_strip", size);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->AddRectFilled(p, ImVec2(p.x + size.x, p.y + size.y), IM_COL32(25, 25, 30, 255));
    const int n = static_cast<int>(diff.probes.size());
    if (n == 0) return;
    const float lo = -16.0f, hi = 1.0f;  // log10 NMSE range drawn: float32 round-off … larger than the signal
    auto y_of = [&](double nmse) {
        const float v = std::clamp(static_cast<float>(std::log10(std::max(nmse, 1e-30))), lo, hi);
        return p.y + size.y - 4 - (v - lo) / (hi - lo) * (size.y - 8);
    };
    const float dx = size.x / static_cast<float>(n);
    for (int i = 0; i < n; ++i) {
        const ProbeDiff& d = diff.probes[i];
        const float x = p.x + (static_cast<float>(i) + 0.5f) * dx;
        const ImU32 c = d.over ? IM_COL32(240, 80, 80, 255) : IM_COL32(110, 200, 140, 255);
        const float y = d.problem.empty() ? y_of(d.nmse) : p.y + 4;
        dl->AddLine(ImVec2(x, p.y + size.y - 4), ImVec2(x, y), c, std::max(1.0f, dx * 0.6f));
        if (i == selected) dl->AddRect(ImVec2(x - dx, p.y), ImVec2(x + dx, p.y + size.y), IM_COL32(255, 255, 255, 200));
    }
    const float ty = y_of(tol);
    dl->AddLine(ImVec2(p.x, ty), ImVec2(p.x + size.x, ty), IM_COL32(255, 220, 90, 255), 1.0f);
    char label[64];
    std::snprintf(label, sizeof label, "tolerance %.0e", tol);
    dl->AddText(ImVec2(p.x + 4, ty - ImGui::GetTextLineHeight()), IM_COL32(255, 220, 90, 255), label);
    if (diff.first_over >= 0) {
        const float x = p.x + (static_cast<float>(diff.first_over) + 0.5f) * dx;
        dl->AddTriangleFilled(ImVec2(x, p.y + 2), ImVec2(x - 5, p.y - 6), ImVec2(x + 5, p.y - 6), IM_COL32(255, 80, 80, 255));
    }
    if (ImGui::IsItemHovered()) {
        const int i = std::clamp(static_cast<int>((ImGui::GetIO().MousePos.x - p.x) / dx), 0, n - 1);
        ImGui::SetTooltip("%s\nNMSE %.3g, max |diff| %.3g", diff.probes[i].name.c_str(), diff.probes[i].nmse, diff.probes[i].max_abs);
    }
}

}  // namespace

void draw_divergence(const Recording& r, PanelState& s) {
    if (s.reference == nullptr) {
        ImGui::TextWrapped("No comparison run is loaded. Open a golden trace (File > Open golden, or --golden G.npz; with no "
                           "prompt the live run then feeds the golden's own tokens), or press \"Run other backend as "
                           "reference\" in the left column to compare this run with the same input on another backend.");
        help_marker("A golden is a trace of the same input made by the original implementation (transformers); comparing "
                    "probe by probe shows the first place where two runs part ways.");
        return;
    }
    const Recording& ref = *s.reference;
    ImGui::Text("this run: %s on %s, %d tokens   comparison: %s on %s, %d tokens", r.meta().model.c_str(), r.meta().backend.c_str(),
                r.tokens(), ref.meta().model.c_str(), ref.meta().backend.c_str(), ref.tokens());
    float log_tol = static_cast<float>(std::log10(std::max(s.tolerance, 1e-30)));
    ImGui::SetNextItemWidth(200);
    if (ImGui::SliderFloat("tolerance (log10 NMSE)", &log_tol, -16.0f, 0.0f, "%.1f")) s.tolerance = std::pow(10.0, double(log_tol));
    help_marker("NMSE = sum of squared differences / sum of squares of the comparison run. A probe over this tolerance "
                "counts as diverged; float32 round-off alone gives about 1e-12 to 1e-8.");

    const TraceDiff& diff = cached_diff(r, ref, s.tolerance);
    int over = 0;
    for (const ProbeDiff& d : diff.probes) over += d.over;
    if (diff.first_over >= 0) {
        const ProbeDiff& first = diff.probes[diff.first_over];
        ImGui::TextColored(ImVec4(1.0f, 0.45f, 0.45f, 1.0f), "first divergence: %s (NMSE %.3g%s%s); %d of %zu probes over", first.name.c_str(),
                           first.nmse, first.problem.empty() ? "" : ", ", first.problem.c_str(), over, diff.probes.size());
    } else {
        ImGui::TextColored(ImVec4(0.5f, 0.9f, 0.5f, 1.0f), "all %zu shared probes within tolerance", diff.probes.size());
    }
    if (!diff.only_in_candidate.empty() || !diff.only_in_reference.empty())
        ImGui::TextDisabled("%zu probes only in this run, %zu only in the comparison run (not compared)", diff.only_in_candidate.size(),
                            diff.only_in_reference.size());

    static int selected = -1;
    nmse_strip(diff, s.tolerance, selected);
    ImGui::SameLine(0, 0);
    ImGui::NewLine();
    ImGui::TextDisabled("log10 NMSE of each probe, in execution order (green within tolerance, red over)");
    help_marker("Hover a bar for its probe. Execution order is the order the model computes them, towers first, then the "
                "decoder layer by layer, so the first red bar is where the runs start to differ.");

    static bool jump = false;
    if (diff.first_over >= 0 && ImGui::Button("Show first divergence")) {
        selected = diff.first_over;
        jump = true;
        const int l = layer_of_probe(diff.probes[selected].name);
        if (l >= 0 && diff.probes[selected].name.rfind("text.", 0) == 0) s.layer = l;
    }
    if (diff.first_over >= 0) help_marker("Scrolls the table to the first probe over tolerance and selects its layer.");

    const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY | ImGuiTableFlags_Resizable;
    if (ImGui::BeginTable("probes", 6, flags, ImVec2(0, ImGui::GetContentRegionAvail().y))) {
        ImGui::TableSetupScrollFreeze(0, 1);
        ImGui::TableSetupColumn("probe", ImGuiTableColumnFlags_WidthStretch);
        ImGui::TableSetupColumn("layer", ImGuiTableColumnFlags_WidthFixed, 50);
        ImGui::TableSetupColumn("shape", ImGuiTableColumnFlags_WidthFixed, 130);
        ImGui::TableSetupColumn("NMSE", ImGuiTableColumnFlags_WidthFixed, 90);
        ImGui::TableSetupColumn("max |diff|", ImGuiTableColumnFlags_WidthFixed, 90);
        ImGui::TableSetupColumn("cosine", ImGuiTableColumnFlags_WidthFixed, 90);
        ImGui::TableHeadersRow();
        const float row_h = ImGui::GetTextLineHeightWithSpacing();
        if (jump) {
            ImGui::SetScrollY(std::max(0.0f, (static_cast<float>(selected) - 3) * row_h));
            jump = false;
        }
        ImGuiListClipper clipper;
        clipper.Begin(static_cast<int>(diff.probes.size()));
        while (clipper.Step()) {
            for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
                const ProbeDiff& d = diff.probes[i];
                ImGui::TableNextRow();
                if (i == diff.first_over) ImGui::TableSetBgColor(ImGuiTableBgTarget_RowBg0, IM_COL32(140, 40, 40, 255));
                else if (d.over) ImGui::TableSetBgColor(ImGuiTableBgTarget_RowBg0, IM_COL32(80, 35, 35, 255));
                ImGui::TableSetColumnIndex(0);
                const int layer = layer_of_probe(d.name);
                if (ImGui::Selectable(d.name.c_str(), selected == i, ImGuiSelectableFlags_SpanAllColumns)) {
                    selected = i;
                    if (layer >= 0 && d.name.rfind("text.", 0) == 0) s.layer = layer;
                }
                if (!d.problem.empty() && ImGui::IsItemHovered()) ImGui::SetTooltip("%s", d.problem.c_str());
                ImGui::TableSetColumnIndex(1);
                if (layer >= 0) ImGui::Text("%d", layer);
                ImGui::TableSetColumnIndex(2);
                ImGui::TextUnformatted(shape_text(d.shape).c_str());
                ImGui::TableSetColumnIndex(3);
                ImGui::Text("%.3g", d.nmse);
                ImGui::TableSetColumnIndex(4);
                ImGui::Text("%.3g", d.max_abs);
                ImGui::TableSetColumnIndex(5);
                ImGui::Text("%.9f", d.cosine);
            }
        }
        ImGui::EndTable();
    }
}

}  // namespace gemma4::viz
