// panels.h — the inspector's panels, one file each (design §7): draw_<name>(const Recording&, PanelState&) draws
// the panel's window contents from the recording; PanelState is the selection they share (a layer clicked in the
// architecture map opens it everywhere) and the requests a panel makes of the app (rerun with a PLE layer ablated).
#pragma once

#include <string>
#include <vector>

#include "recording.h"

namespace gemma4::viz {

struct PanelState {
    // shared selection
    int layer = 0;          // decoder layer shown by the per-layer panels
    int head = 0;           // attention head
    int token = -1;         // query / text token (−1: the last)
    std::string focus;      // panel the tour (or a click) asked to bring forward; the app clears it
    // comparison run for the divergence panel and the map's "golden error" colouring (nullptr: none loaded)
    const Recording* reference = nullptr;
    double tolerance = 1e-10;
    // the image of the run, when it had one (RGB8, row-major), for the vision panel
    const std::vector<uint8_t>* image_rgb = nullptr;
    int image_width = 0, image_height = 0;
    // requests to the app (handled between frames)
    std::vector<int> ple_ablated_layers;  // layers whose PLE contribution is switched off in the next run
    bool rerun_requested = false;
    // what the last ablation rerun changed (set by the app): next-token distribution before / after
    std::vector<float> probs_before, probs_after;
    // tour
    int tour_step = 0;
};

using DrawPanel = void (*)(const Recording&, PanelState&);

struct PanelDef {
    const char* name;   // for --panel and --list-panels: "architecture", "attention", ...
    const char* title;  // window title
    DrawPanel draw;
    const char* needs;  // what the model needs for the panel to have content: "", "moe", "ple", "vision", "audio"
};
const std::vector<PanelDef>& panel_defs();  // in display order (app/panel_list.cpp)

void draw_architecture(const Recording& r, PanelState& s);
void draw_attention(const Recording& r, PanelState& s);
void draw_rope(const Recording& r, PanelState& s);
void draw_moe(const Recording& r, PanelState& s);
void draw_ple(const Recording& r, PanelState& s);
void draw_vision(const Recording& r, PanelState& s);
void draw_audio(const Recording& r, PanelState& s);
void draw_divergence(const Recording& r, PanelState& s);
void draw_tour(const Recording& r, PanelState& s);

}  // namespace gemma4::viz
