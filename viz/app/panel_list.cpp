// panel_list.cpp — the inspector's nine panels in display order (panels.h): the name --panel takes, the window
// title, the draw function, and the model feature the panel needs to have content (screenshot mode picks a bundled
// model that has it).
#include "panels.h"

namespace gemma4::viz {

const std::vector<PanelDef>& panel_defs() {
    static const std::vector<PanelDef> defs = {
        {"architecture", "Architecture map", draw_architecture, ""},
        {"attention", "Attention windows", draw_attention, ""},
        {"rope", "p-RoPE frequencies", draw_rope, ""},
        {"moe", "MoE routing", draw_moe, "moe"},
        {"ple", "PLE gates", draw_ple, "ple"},
        {"vision", "Vision patches and pooling", draw_vision, "vision"},
        {"audio", "Audio", draw_audio, "audio"},
        {"divergence", "Divergence", draw_divergence, ""},
        {"tour", "Tour", draw_tour, ""},
    };
    return defs;
}

}  // namespace gemma4::viz
