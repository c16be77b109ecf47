// widgets.cpp — shared drawing helpers (widgets.h).
#include "widgets.h"

#include <algorithm>
#include <cmath>

namespace gemma4::viz {

std::string token_label(const Recording& r, int t) {
    if (t >= 0 && t < static_cast<int>(r.token_labels.size())) return r.token_labels[t];
    if (t >= 0 && t < static_cast<int>(r.meta().tokens.size())) return "id " + std::to_string(r.meta().tokens[t]);
    return std::to_string(t);
}

std::string short_label(const std::string& label, int max_chars) {
    std::string out;
    int chars = 0;
    for (size_t i = 0; i < label.size() && chars < max_chars;) {
        const unsigned char c = static_cast<unsigned char>(label[i]);
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
        len = std::min(len, label.size() - i);
        if (c < 0x20 || c == 0x7f)
            out += "\xc2\xb7";
        else
            out.append(label, i, len);
        i += len;
        ++chars;
    }
    return out;
}

void help_marker(const char* text) {
    ImGui::SameLine();
    ImGui::TextDisabled("(?)");
    if (ImGui::IsItemHovered()) {
        ImGui::BeginTooltip();
        ImGui::PushTextWrapPos(ImGui::GetFontSize() * 32.0f);
        ImGui::TextUnformatted(text);
        ImGui::PopTextWrapPos();
        ImGui::EndTooltip();
    }
}

ImU32 ramp_color(float t) {
    if (!(t >= 0.0f)) t = 0.0f;  // NaN too
    if (t > 1.0f) t = 1.0f;
    // A viridis-like ramp from five anchors, interpolated linearly.
    static const float anchors[5][3] = {{0.27f, 0.00f, 0.33f}, {0.23f, 0.32f, 0.55f}, {0.13f, 0.57f, 0.55f}, {0.37f, 0.79f, 0.38f}, {0.99f, 0.91f, 0.14f}};
    const float x = t * 4.0f;
    const int i = std::min(3, static_cast<int>(x));
    const float f = x - static_cast<float>(i);
    float c[3];
    for (int k = 0; k < 3; ++k) c[k] = anchors[i][k] + f * (anchors[i + 1][k] - anchors[i][k]);
    return ImGui::ColorConvertFloat4ToU32(ImVec4(c[0], c[1], c[2], 1.0f));
}

ImU32 diverging_color(float t) {
    if (!(t == t)) t = 0.0f;
    t = std::clamp(t, -1.0f, 1.0f);
    const float a = std::fabs(t);
    const ImVec4 c = t >= 0 ? ImVec4(1.0f, 1.0f - 0.8f * a, 1.0f - 0.8f * a, 1.0f) : ImVec4(1.0f - 0.8f * a, 1.0f - 0.8f * a, 1.0f, 1.0f);
    return ImGui::ColorConvertFloat4ToU32(c);
}

HeatmapHover heatmap(const char* id, const std::vector<float>& values, int rows, int cols, ImVec2 size, float lo, float hi) {
    HeatmapHover hover;
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton(id, ImVec2(std::max(size.x, 1.0f), std::max(size.y, 1.0f)));
    if (rows <= 0 || cols <= 0) return hover;
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float cw = size.x / static_cast<float>(cols), ch = size.y / static_cast<float>(rows);
    const float span = hi > lo ? hi - lo : 1.0f;
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) {
            const float v = values[static_cast<size_t>(r) * cols + c];
            const ImU32 col = v == v ? ramp_color((v - lo) / span) : IM_COL32(128, 128, 128, 255);
            const ImVec2 a(p0.x + c * cw, p0.y + r * ch);
            dl->AddRectFilled(a, ImVec2(a.x + cw, a.y + ch), col);
        }
    if (ImGui::IsItemHovered()) {
        const ImVec2 m = ImGui::GetMousePos();
        hover.col = std::clamp(static_cast<int>((m.x - p0.x) / cw), 0, cols - 1);
        hover.row = std::clamp(static_cast<int>((m.y - p0.y) / ch), 0, rows - 1);
    }
    return hover;
}

void bar_chart(const char* id, const std::vector<float>& values, ImVec2 size, float max_value) {
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton(id, ImVec2(std::max(size.x, 1.0f), std::max(size.y, 1.0f)));
    if (values.empty()) return;
    ImDrawList* dl = ImGui::GetWindowDrawList();
    float top = max_value;
    if (top <= 0) top = *std::max_element(values.begin(), values.end());
    if (top <= 0) top = 1.0f;
    const float bw = size.x / static_cast<float>(values.size());
    dl->AddRect(p0, ImVec2(p0.x + size.x, p0.y + size.y), IM_COL32(90, 90, 90, 255));
    for (size_t i = 0; i < values.size(); ++i) {
        const float h = std::clamp(values[i] / top, 0.0f, 1.0f) * size.y;
        dl->AddRectFilled(ImVec2(p0.x + i * bw, p0.y + size.y - h), ImVec2(p0.x + (i + 1) * bw - (bw > 3 ? 1.0f : 0.0f), p0.y + size.y),
                          IM_COL32(90, 170, 240, 255));
    }
    if (ImGui::IsItemHovered()) {
        const int i = std::clamp(static_cast<int>((ImGui::GetMousePos().x - p0.x) / bw), 0, static_cast<int>(values.size()) - 1);
        ImGui::SetTooltip("%d: %g", i, values[i]);
    }
}

void line_plot(const char* id, const std::vector<float>& x, const std::vector<float>& y, ImVec2 size, const std::vector<float>* y2,
               bool log_y) {
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton(id, ImVec2(std::max(size.x, 1.0f), std::max(size.y, 1.0f)));
    const size_t n = std::min(x.size(), y.size());
    if (n < 2) return;
    auto tr = [&](float v) { return log_y ? std::log10(std::max(v, 1e-30f)) : v; };
    float x0 = x[0], x1 = x[n - 1], y0 = tr(y[0]), y1 = tr(y[0]);
    for (size_t i = 0; i < n; ++i) y0 = std::min(y0, tr(y[i])), y1 = std::max(y1, tr(y[i]));
    if (y2)
        for (size_t i = 0; i < std::min(n, y2->size()); ++i) y0 = std::min(y0, tr((*y2)[i])), y1 = std::max(y1, tr((*y2)[i]));
    if (x1 <= x0) x1 = x0 + 1;
    if (y1 <= y0) y1 = y0 + 1;
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->AddRect(p0, ImVec2(p0.x + size.x, p0.y + size.y), IM_COL32(90, 90, 90, 255));
    auto pt = [&](float xv, float yv) {
        return ImVec2(p0.x + (xv - x0) / (x1 - x0) * size.x, p0.y + size.y - (tr(yv) - y0) / (y1 - y0) * size.y);
    };
    for (size_t i = 1; i < n; ++i) dl->AddLine(pt(x[i - 1], y[i - 1]), pt(x[i], y[i]), IM_COL32(240, 200, 80, 255), 1.5f);
    if (y2)
        for (size_t i = 1; i < std::min(n, y2->size()); ++i)
            dl->AddLine(pt(x[i - 1], (*y2)[i - 1]), pt(x[i], (*y2)[i]), IM_COL32(240, 90, 90, 255), 1.5f);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", log_y ? std::pow(10.0f, y1) : y1);
    dl->AddText(ImVec2(p0.x + 2, p0.y + 1), IM_COL32(200, 200, 200, 255), buf);
    std::snprintf(buf, sizeof buf, "%g", log_y ? std::pow(10.0f, y0) : y0);
    dl->AddText(ImVec2(p0.x + 2, p0.y + size.y - ImGui::GetFontSize() - 1), IM_COL32(200, 200, 200, 255), buf);
    (void)id;
}

}  // namespace gemma4::viz

namespace gemma4::viz {

std::vector<float> downsample_grid(const float* values, int rows, int cols, int stride, int max_rows, int max_cols, bool use_max,
                                   int& out_rows, int& out_cols) {
    if (stride <= 0) stride = cols;
    out_rows = std::clamp(max_rows, 1, std::max(rows, 1));
    out_cols = std::clamp(max_cols, 1, std::max(cols, 1));
    std::vector<float> out(static_cast<size_t>(out_rows) * out_cols, 0.0f);
    if (rows <= 0 || cols <= 0) return out;
    for (int orow = 0; orow < out_rows; ++orow) {
        const int r0 = static_cast<int>(int64_t(orow) * rows / out_rows);
        const int r1 = std::max(r0 + 1, static_cast<int>(int64_t(orow + 1) * rows / out_rows));
        for (int ocol = 0; ocol < out_cols; ++ocol) {
            const int c0 = static_cast<int>(int64_t(ocol) * cols / out_cols);
            const int c1 = std::max(c0 + 1, static_cast<int>(int64_t(ocol + 1) * cols / out_cols));
            double acc = use_max ? -INFINITY : 0.0;
            for (int r = r0; r < r1; ++r)
                for (int c = c0; c < c1; ++c) {
                    const float v = values[int64_t(r) * stride + c];
                    acc = use_max ? std::max(acc, double(v)) : acc + v;
                }
            out[static_cast<size_t>(orow) * out_cols + ocol] =
                static_cast<float>(use_max ? acc : acc / (double(r1 - r0) * (c1 - c0)));
        }
    }
    return out;
}

}  // namespace gemma4::viz

// ---- texture heatmaps --------------------------------------------------------------------------------------------

#include <GL/gl.h>

#include <cstdint>

namespace gemma4::viz {

HeatmapHover texture_heatmap(const char* id, GridTexture& tex, const float* values, int rows, int cols, int stride, ImVec2 size,
                             float lo, float hi, unsigned long long version, bool diverging) {
    HeatmapHover hover;
    size = ImVec2(std::max(size.x, 1.0f), std::max(size.y, 1.0f));
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton(id, size);
    if (rows <= 0 || cols <= 0 || !values) return hover;
    const int max_rows = std::max(static_cast<int>(size.y), 1), max_cols = std::max(static_cast<int>(size.x), 1);
    const int want_rows = std::min(rows, max_rows), want_cols = std::min(cols, max_cols);
    if (tex.id == 0 || tex.version != version || tex.source != values || tex.rows != rows || tex.cols != cols ||
        tex.tex_rows != want_rows || tex.tex_cols != want_cols || tex.lo != lo || tex.hi != hi || tex.diverging != diverging) {
        int out_rows = 0, out_cols = 0;
        const std::vector<float> tile = downsample_grid(values, rows, cols, stride, max_rows, max_cols, false, out_rows, out_cols);
        const float span = hi > lo ? hi - lo : 1.0f;
        std::vector<ImU32> pixels(tile.size());
        for (size_t i = 0; i < tile.size(); ++i) {
            const float v = tile[i];
            if (!(v == v))
                pixels[i] = IM_COL32(128, 128, 128, 255);
            else
                pixels[i] = diverging ? diverging_color((v - lo) / span * 2.0f - 1.0f) : ramp_color((v - lo) / span);
        }
        if (tex.id == 0) {
            GLuint name = 0;
            glGenTextures(1, &name);
            tex.id = name;
        }
        GLint previous = 0;
        glGetIntegerv(GL_TEXTURE_BINDING_2D, &previous);
        glBindTexture(GL_TEXTURE_2D, tex.id);
        // Nearest: a cell stays one flat colour however far it is stretched.
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
        glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
        // ImU32 from IM_COL32 is R, G, B, A in memory order on little-endian machines: GL_RGBA bytes.
        glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, out_cols, out_rows, 0, GL_RGBA, GL_UNSIGNED_BYTE, pixels.data());
        glBindTexture(GL_TEXTURE_2D, static_cast<GLuint>(previous));
        tex.version = version;
        tex.source = values;
        tex.rows = rows;
        tex.cols = cols;
        tex.tex_rows = out_rows;
        tex.tex_cols = out_cols;
        tex.lo = lo;
        tex.hi = hi;
        tex.diverging = diverging;
    }
    ImGui::GetWindowDrawList()->AddImage(reinterpret_cast<ImTextureID>(static_cast<intptr_t>(tex.id)), p0,
                                         ImVec2(p0.x + size.x, p0.y + size.y));
    if (ImGui::IsItemHovered()) {
        const ImVec2 m = ImGui::GetMousePos();
        hover.col = std::clamp(static_cast<int>((m.x - p0.x) / size.x * static_cast<float>(cols)), 0, cols - 1);
        hover.row = std::clamp(static_cast<int>((m.y - p0.y) / size.y * static_cast<float>(rows)), 0, rows - 1);
    }
    return hover;
}

}  // namespace gemma4::viz
