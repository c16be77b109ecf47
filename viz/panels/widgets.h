// widgets.h — the few drawing helpers the panels share, on ImGui's own widgets and ImDrawList (no ImPlot in Debian).
#pragma once

#include <imgui.h>

#include <string>
#include <vector>

#include "recording.h"

namespace gemma4::viz {

// Every line of text in the panel wraps at the window's edge while this lives (panels also open in narrow columns).
struct WrapAtWindowEdge {
    WrapAtWindowEdge() { ImGui::PushTextWrapPos(0.0f); }
    ~WrapAtWindowEdge() { ImGui::PopTextWrapPos(); }
    WrapAtWindowEdge(const WrapAtWindowEdge&) = delete;
    WrapAtWindowEdge& operator=(const WrapAtWindowEdge&) = delete;
};

// The label of text token t: its decoded piece, else "id N" from the recording's token ids, else the position.
std::string token_label(const Recording& r, int t);
// A token label fit for an axis: control characters shown as '·', cut to at most max_chars characters (UTF-8 aware).
std::string short_label(const std::string& label, int max_chars);

// "(?)" after the previous item; hovering shows `text` (one or two plain sentences).
void help_marker(const char* text);

// A perceptual colour ramp (dark blue → yellow) for t in [0, 1]; values outside are clamped.
ImU32 ramp_color(float t);
// A diverging ramp (blue ← white → red) for t in [−1, 1].
ImU32 diverging_color(float t);

// Draws values[rows, cols] as a heatmap filling `size` at the cursor (one rectangle per cell: callers pass tiles no
// larger than the pixels they cover), scaled from [lo, hi]; returns the hovered cell (row, col) or (−1, −1) and
// advances the cursor. NaN cells are drawn grey.
struct HeatmapHover {
    int row = -1, col = -1;
};
HeatmapHover heatmap(const char* id, const std::vector<float>& values, int rows, int cols, ImVec2 size, float lo, float hi);

// A bar chart of values (one bar each) filling `size`; bars above `highlight_min` in a second colour.
void bar_chart(const char* id, const std::vector<float>& values, ImVec2 size, float max_value = 0.0f);

// A line plot of y over x (x ascending) in `size`, with optional second series; axes labelled by min / max.
void line_plot(const char* id, const std::vector<float>& x, const std::vector<float>& y, ImVec2 size,
               const std::vector<float>* y2 = nullptr, bool log_y = false);

}  // namespace gemma4::viz

namespace gemma4::viz {

// Block-reduces values[rows, cols] (row-major, `stride` floats between rows; 0 = cols) to at most out_rows × out_cols
// cells, each the mean (or, with use_max, the max) of the cells it covers, so a heatmap is drawn at the panel's pixel
// size and never with one rectangle per cell smaller than a pixel. Sizes already small enough come back unchanged.
// out_rows / out_cols receive the reduced size.
std::vector<float> downsample_grid(const float* values, int rows, int cols, int stride, int max_rows, int max_cols, bool use_max,
                                   int& out_rows, int& out_cols);

}  // namespace gemma4::viz

namespace gemma4::viz {

// A values grid kept as an OpenGL texture, one texel per cell (after downsample_grid to the pixels it covers), so a
// heatmap costs one quad a frame however many cells it has. One GridTexture per map, owned by the panel (a static or
// a cache that outlives frames); the texture is uploaded again only when `version`, the grid's size, the colour range
// or the drawn size changes. The GL texture is never deleted (it lives as long as the window).
struct GridTexture {
    unsigned int id = 0;  // GL texture name, 0 before the first upload
    unsigned long long version = ~0ull;
    const float* source = nullptr;
    int rows = 0, cols = 0;          // the full grid
    int tex_rows = 0, tex_cols = 0;  // the texture (reduced)
    float lo = 0.0f, hi = 0.0f;
    bool diverging = false;
};

// Like heatmap() (same hover contract: the hovered cell in the full grid's coordinates, or (−1, −1)), but the grid
// values[rows, cols] (row-major, `stride` floats between rows; 0 = cols) is block-averaged to at most the pixels of
// `size` and drawn as one texture. `version` is the caller's change counter for the data behind `values` (bump it
// when the numbers change in place). With `diverging`, colours come from diverging_color((v − lo) / (hi − lo) · 2 − 1)
// instead of ramp_color. NaN cells are grey. Advances the cursor (an InvisibleButton, so clicks do not drag the window).
HeatmapHover texture_heatmap(const char* id, GridTexture& tex, const float* values, int rows, int cols, int stride, ImVec2 size,
                             float lo, float hi, unsigned long long version, bool diverging = false);

}  // namespace gemma4::viz
