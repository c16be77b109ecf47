// panel_audio.cpp — the audio panel: the clip as the audio tower sees it, on one time axis — log-mel spectrogram,
// the frames left after the convolutional subsampling, the Conformer's chunked attention window of a chosen step, and
// the soft tokens the text decoder reads. Leaves out the waveform (a trace records features, not samples) and the
// tower's per-layer attention probabilities.
#include <GL/gl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "audio.h"
#include "panels.h"
#include "widgets.h"

namespace gemma4::viz {

namespace {

// values[rows, cols] transposed to [cols, rows] with the first row at the bottom (time on x, low index at the bottom),
// cached by source tensor.
struct TransposedCache {
    const float* source = nullptr;
    std::vector<float> data;
    float lo = 0, hi = 1;
    // The coloured map as a texture at the size it was last drawn (a spectrogram is tens of thousands of cells:
    // one texture instead of one rectangle each keeps the frame time down).
    GLuint texture = 0;
    const float* texture_source = nullptr;
    int texture_rows = 0, texture_cols = 0;
};
TransposedCache& time_on_x(TransposedCache& c, const Tensor& t) {
    if (c.source == t.data.data()) return c;
    const int64_t rows = t.dim(0), cols = t.dim(1);
    c.data.assign(static_cast<size_t>(rows * cols), 0.0f);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t k = 0; k < cols; ++k) c.data[static_cast<size_t>((cols - 1 - k) * rows + r)] = t.data[static_cast<size_t>(r * cols + k)];
    // Colour scale from the 1st to the 99th percentile, so a few extreme cells do not wash out the picture.
    std::vector<float> sorted = t.data;
    if (!sorted.empty()) {
        const size_t a = sorted.size() / 100, b = sorted.size() - 1 - sorted.size() / 100;
        std::nth_element(sorted.begin(), sorted.begin() + a, sorted.end());
        c.lo = sorted[a];
        std::nth_element(sorted.begin(), sorted.begin() + b, sorted.end());
        c.hi = sorted[b];
        if (c.hi <= c.lo) c.hi = c.lo + 1.0f;
    }
    c.source = t.data.data();
    return c;
}

// A [rows, cols] map (time on x) filling `size`, downsampled to the pixels it covers and drawn as one texture. Returns
// the hovered column in the map's own coordinates (-1 when not hovered) and sets hovered_row.
int time_heatmap(const char* id, TransposedCache& c, int rows, int cols, ImVec2 size, int& hovered_row) {
    int out_rows = 0, out_cols = 0;
    const int max_rows = std::max(static_cast<int>(size.y), 1), max_cols = std::max(static_cast<int>(size.x), 1);
    if (c.texture == 0 || c.texture_source != c.source || c.texture_rows != std::min(rows, max_rows) ||
        c.texture_cols != std::min(cols, max_cols)) {
        const std::vector<float> tile = downsample_grid(c.data.data(), rows, cols, cols, max_rows, max_cols, false, out_rows, out_cols);
        std::vector<ImU32> pixels(tile.size());
        for (size_t i = 0; i < tile.size(); ++i) pixels[i] = ramp_color((tile[i] - c.lo) / (c.hi - c.lo));
        if (c.texture == 0) glGenTextures(1, &c.texture);
        glBindTexture(GL_TEXTURE_2D, c.texture);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
        glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
        // ImU32 from IM_COL32 is R, G, B, A in memory order on little-endian machines: GL_RGBA bytes.
        glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, out_cols, out_rows, 0, GL_RGBA, GL_UNSIGNED_BYTE, pixels.data());
        c.texture_source = c.source;
        c.texture_rows = out_rows;
        c.texture_cols = out_cols;
    }
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::PushID(id);
    ImGui::Image((ImTextureID)(intptr_t)c.texture, size);
    ImGui::PopID();
    hovered_row = -1;
    if (!ImGui::IsItemHovered()) return -1;
    const ImVec2 m = ImGui::GetMousePos();
    hovered_row = std::clamp(static_cast<int>((m.y - p0.y) / size.y * rows), 0, rows - 1);
    return std::clamp(static_cast<int>((m.x - p0.x) / size.x * cols), 0, cols - 1);
}


}  // namespace

void draw_audio(const Recording& r, PanelState& s) {
    const WrapAtWindowEdge wrap;
    (void)s;
    const ModelConfig& cfg = r.config();
    if (!cfg.audio) {
        ImGui::TextWrapped("%s has no audio tower: audio input is a feature of the on-device E2B / E4B models. Open one with "
                           "-m tiny-e2b (or e2b, e4b).",
                           cfg.name.c_str());
        return;
    }
    const std::optional<AudioSummary> summary = audio_summary(r);
    const Tensor* mel = r.probe(Probe::audio_mel);
    if (!summary || summary->mel_frames == 0 || !mel) {
        ImGui::TextWrapped("This run has no audio. Start the inspector with a clip, e.g.\n"
                           "  gemma4-inspector --audio assets/samples/speech.wav\n"
                           "or open a trace recorded with gemma4 trace --audio ... to see the mel spectrogram, the subsampled "
                           "frames, the Conformer's chunked attention windows and the audio soft tokens.");
        return;
    }
    const AudioSummary& a = *summary;
    const double frame_ms = 1000.0 * kMelHop / kAudioSampleRate;
    const double total_ms = a.mel_frames * frame_ms;
    const double step_ms = a.steps > 0 ? total_ms / a.steps : 0.0;

    ImGui::Text("%.2f s of audio: %d mel frames (%.0f ms apart) -> %d steps after subsampling (~%.0f ms each) -> %d soft tokens",
                total_ms / 1000.0, a.mel_frames, frame_ms, a.steps, step_ms, a.soft_tokens);
    help_marker("The audio tower reads a log-mel spectrogram (how loud each pitch band is, every few milliseconds), shrinks "
                "it in time with two stride-2 convolutions, runs a Conformer (attention plus convolution) over the steps, "
                "and hands one soft token per step to the language model.");

    // ---- controls ----
    static int step = -1;
    if (step < 0) step = a.steps / 2;  // start mid-clip, where the window has its full left context
    step = std::clamp(step, 0, std::max(a.steps - 1, 0));
    ImGui::SetNextItemWidth(260);
    ImGui::SliderInt("step", &step, 0, std::max(a.steps - 1, 0));
    help_marker("A subsampled time step (one Conformer position). Its attention window is drawn over the frames below: "
                "the chunk it belongs to, the past steps it may also see (left context) and the future ones (right context).");
    const std::pair<int, int> window = audio_window(a, step);
    const int chunk_start = a.chunk > 0 ? step / a.chunk * a.chunk : step;
    const int chunk_end = a.chunk > 0 ? std::min(chunk_start + a.chunk, a.steps) - 1 : step;
    ImGui::SameLine();
    ImGui::Text("chunk %d (steps %d-%d), sees steps %d-%d", a.chunk > 0 ? step / a.chunk : 0, chunk_start, chunk_end, window.first,
                window.second);
    ImGui::Text("Attention: chunks of %d steps, left context %d, right context %d (audio config)", a.chunk, a.left, a.right);
    help_marker("Conformer attention is local: the steps are cut into chunks, and each step attends only inside its chunk "
                "plus a fixed number of earlier steps (left context) and later steps (right context). A right context of 0 "
                "means the tower never looks ahead, so it can run while the audio streams in.");

    // One time axis for every row: x = x0 + t / total_ms · width.
    const float label_w = ImGui::CalcTextSize("soft tokens  ").x;
    const float help_w = ImGui::CalcTextSize("(?)").x + 2.0f * ImGui::GetStyle().ItemSpacing.x;
    const float width = std::max(ImGui::GetContentRegionAvail().x - label_w - help_w, 100.0f);
    const float avail_h = ImGui::GetContentRegionAvail().y;
    const float mel_h = std::clamp(avail_h * 0.36f, 64.0f, 280.0f);
    const float sub_h = std::clamp(avail_h * 0.24f, 48.0f, 180.0f);
    ImDrawList* dl = ImGui::GetWindowDrawList();
    auto x_of_ms = [&](float x0, double ms) { return x0 + static_cast<float>(ms / total_ms) * width; };
    auto row_label = [&](const char* text) {
        ImGui::AlignTextToFramePadding();
        ImGui::TextUnformatted(text);
        ImGui::SameLine(label_w);
    };
    // The chosen step's window over a row: what it cannot see is dimmed (so the colours inside stay true), and bars
    // along the top edge mark its left context (blue), its own chunk (yellow) and its right context (red).
    auto draw_window_band = [&](ImVec2 p0, float h) {
        if (a.steps <= 0) return;
        auto xs = [&](int st) { return x_of_ms(p0.x, st * step_ms); };
        const int lo = std::max(window.first, 0), hi = std::min(window.second, a.steps - 1);
        const ImU32 dim = IM_COL32(0, 0, 0, 120);
        dl->AddRectFilled(ImVec2(p0.x, p0.y), ImVec2(xs(lo), p0.y + h), dim);
        dl->AddRectFilled(ImVec2(xs(hi + 1), p0.y), ImVec2(p0.x + width, p0.y + h), dim);
        const float bar = std::min(5.0f, h * 0.3f);
        if (lo < chunk_start)
            dl->AddRectFilled(ImVec2(xs(lo), p0.y), ImVec2(xs(chunk_start), p0.y + bar), IM_COL32(80, 140, 255, 255));
        dl->AddRect(ImVec2(xs(chunk_start), p0.y), ImVec2(xs(chunk_end + 1), p0.y + h), IM_COL32(255, 220, 60, 230), 0.0f, 0, 2.0f);
        dl->AddRectFilled(ImVec2(xs(chunk_start), p0.y), ImVec2(xs(chunk_end + 1), p0.y + bar), IM_COL32(255, 220, 60, 255));
        if (hi > chunk_end)
            dl->AddRectFilled(ImVec2(xs(chunk_end + 1), p0.y), ImVec2(xs(hi + 1), p0.y + bar), IM_COL32(255, 90, 90, 255));
        dl->AddRect(ImVec2(xs(lo), p0.y), ImVec2(xs(hi + 1), p0.y + h), IM_COL32(255, 255, 255, 200), 0.0f, 0, 1.0f);
        const float sx = xs(step) + 0.5f * (xs(step + 1) - xs(step));
        dl->AddLine(ImVec2(sx, p0.y), ImVec2(sx, p0.y + h), IM_COL32(255, 255, 255, 255), 1.0f);
    };

    // ---- loudness envelope (stands in for the waveform, which traces do not keep) ----
    const int A = static_cast<int>(mel->dim(0)), bins = static_cast<int>(mel->dim(1));
    {
        std::vector<float> xs(A), loudness(A);
        for (int f = 0; f < A; ++f) {
            double acc = 0;
            for (int b = 0; b < bins; ++b) acc += mel->data[static_cast<size_t>(f) * bins + b];
            xs[f] = static_cast<float>(f);
            loudness[f] = static_cast<float>(acc / std::max(bins, 1));
        }
        // One point per pixel column at most.
        int rows_out = 0, cols_out = 0;
        const std::vector<float> env = downsample_grid(loudness.data(), 1, A, A, 1, static_cast<int>(width), false, rows_out, cols_out);
        std::vector<float> ex(cols_out);
        for (int i = 0; i < cols_out; ++i) ex[i] = static_cast<float>(i);
        row_label("loudness");
        line_plot("##audio_loudness", ex, env, ImVec2(width, 44.0f));
        help_marker("Mean log-mel energy per frame: a loudness envelope. The waveform itself is not part of a recording "
                    "(the probes start at the mel features).");
    }

    // ---- mel spectrogram ----
    static TransposedCache mel_cache;
    TransposedCache& mel_t = time_on_x(mel_cache, *mel);
    row_label("mel");
    const ImVec2 mel_p0 = ImGui::GetCursorScreenPos();
    int mel_row = -1;
    const int mel_col = time_heatmap("##audio_mel", mel_t, bins, A, ImVec2(width, mel_h), mel_row);
    draw_window_band(mel_p0, mel_h);
    if (mel_col >= 0)
        ImGui::SetTooltip("frame %d (%.0f ms), mel bin %d: %.3f", mel_col, mel_col * frame_ms, bins - 1 - mel_row,
                          mel->data[static_cast<size_t>(mel_col) * bins + (bins - 1 - mel_row)]);
    help_marker("The log-mel spectrogram the tower reads: time left to right, pitch bottom (low) to top (high), brightness = "
                "energy in that band. Frames past the end of the clip are zero.");

    // ---- subsampled frames ----
    if (const Tensor* sub = r.probe(Probe::audio_subsample); sub && !sub->data.empty()) {
        static TransposedCache sub_cache;
        TransposedCache& sub_t = time_on_x(sub_cache, *sub);
        const int steps = static_cast<int>(sub->dim(0)), feats = static_cast<int>(sub->dim(1));
        row_label("subsampled");
        const ImVec2 sub_p0 = ImGui::GetCursorScreenPos();
        int sub_row = -1;
        const int sub_col = time_heatmap("##audio_sub", sub_t, feats, steps, ImVec2(width, sub_h), sub_row);
        draw_window_band(sub_p0, sub_h);
        if (sub_col >= 0) {
            const std::pair<int, int> w = audio_window(a, sub_col);
            ImGui::SetTooltip("step %d (%.0f-%.0f ms), feature %d\nattends to steps %d-%d\nclick: choose this step", sub_col,
                              sub_col * step_ms, (sub_col + 1) * step_ms, feats - 1 - sub_row, w.first, w.second);
            if (ImGui::IsItemClicked()) step = sub_col;
        }
        help_marker("The tower's input after the two stride-2 convolutions and the input projection: one column per step "
                    "(about four mel frames), one row per feature. Click a column to choose its step.");
    } else {
        ImGui::TextDisabled("audio.subsample was not recorded");
    }

    // ---- chunks ----
    row_label("chunks");
    {
        const ImVec2 p0 = ImGui::GetCursorScreenPos();
        const float h = 18.0f;
        ImGui::InvisibleButton("##audio_chunks", ImVec2(width, h));
        if (a.chunk > 0)
            for (int c = 0; c * a.chunk < a.steps; ++c) {
                const float x0 = x_of_ms(p0.x, c * a.chunk * step_ms), x1 = x_of_ms(p0.x, std::min((c + 1) * a.chunk, a.steps) * step_ms);
                dl->AddRectFilled(ImVec2(x0, p0.y), ImVec2(x1, p0.y + h), c % 2 ? IM_COL32(110, 135, 180, 255) : IM_COL32(70, 90, 130, 255));
            }
        draw_window_band(p0, h);
        if (ImGui::IsItemHovered() && a.steps > 0) {
            const int st = std::clamp(static_cast<int>((ImGui::GetMousePos().x - p0.x) / width * a.steps), 0, a.steps - 1);
            ImGui::SetTooltip("step %d in chunk %d\nclick: choose this step", st, a.chunk > 0 ? st / a.chunk : 0);
            if (ImGui::IsItemClicked()) step = st;
        }
        help_marker("The steps cut into attention chunks (alternating shades). Over every row, the chosen step's window stays "
                    "bright and the rest is dimmed; the bars on top mark its left context (blue), its own chunk (yellow) "
                    "and its right context (red).");
    }

    // ---- audio soft tokens on the time axis ----
    row_label("soft tokens");
    {
        const ImVec2 p0 = ImGui::GetCursorScreenPos();
        const float h = 18.0f;
        ImGui::InvisibleButton("##audio_tokens", ImVec2(width, h + ImGui::GetTextLineHeight()));
        const float tok_w = static_cast<float>(step_ms / total_ms) * width;
        for (int i = 0; i < a.soft_tokens; ++i) {
            const float x0 = x_of_ms(p0.x, i * step_ms);
            dl->AddRectFilled(ImVec2(x0, p0.y), ImVec2(x0 + std::max(tok_w - (tok_w > 3 ? 1.0f : 0.0f), 1.0f), p0.y + h),
                              i == step ? IM_COL32(255, 255, 255, 255) : IM_COL32(120, 200, 140, 255));
        }
        // Seconds ticks below the strip.
        // The smallest tick spacing that leaves room for its label (about 60 px).
        double tick_s = 60.0;
        for (double candidate : {0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0})
            if (candidate / (total_ms / 1000.0) * width >= 60.0f) {
                tick_s = candidate;
                break;
            }
        for (double t = 0; t * 1000.0 <= total_ms + 1e-6; t += tick_s) {
            const float x = x_of_ms(p0.x, t * 1000.0);
            dl->AddLine(ImVec2(x, p0.y + h), ImVec2(x, p0.y + h + 4), IM_COL32(200, 200, 200, 255));
            char buf[16];
            std::snprintf(buf, sizeof buf, "%gs", t);
            dl->AddText(ImVec2(x + 2, p0.y + h), IM_COL32(180, 180, 180, 255), buf);
        }
        if (ImGui::IsItemHovered() && a.soft_tokens > 0) {
            const int i = std::clamp(static_cast<int>((ImGui::GetMousePos().x - p0.x) / std::max(tok_w, 1e-3f)), 0, a.steps - 1);
            if (i < a.soft_tokens) ImGui::SetTooltip("soft token %d: %.0f-%.0f ms", i, i * step_ms, (i + 1) * step_ms);
        }
        help_marker("One soft token per valid step, each covering about this many milliseconds of sound; the text decoder "
                    "reads them in place of the audio placeholder.");
    }

    // Where the audio tokens sit in the text sequence.
    int first = -1, last = -1, count = 0;
    for (size_t i = 0; i < r.meta().tokens.size(); ++i)
        if (r.meta().tokens[i] == cfg.audio_token_id) {
            if (first < 0) first = static_cast<int>(i);
            last = static_cast<int>(i);
            ++count;
        }
    if (count > 0)
        ImGui::Text("In the prompt: %d audio soft tokens (id %d) at text positions %d-%d, between <boa> (%d) and <eoa> (%d)", count,
                    cfg.audio_token_id, first, last, cfg.boa_token_id, cfg.eoa_token_id);
    else
        ImGui::TextDisabled("The recorded text tokens hold no audio soft tokens (id %d).", cfg.audio_token_id);
}

}  // namespace gemma4::viz
