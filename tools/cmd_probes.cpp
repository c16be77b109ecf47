// cmd_probes.cpp — `gemma4 probes`: the probe table (design §4) as text or JSON. tools/make_goldens.py reads the
// JSON form, so the golden side and the C++ side name tensors from one list.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "probes.h"

namespace gemma4::cli {

int cmd_probes(int argc, char** argv) {
    const std::vector<Option> options = {
        {"--json", "", "", "print a JSON list of {name, tower, per_layer, point, shape, meaning}"},
        {"--help", "-h", "", "show this help"},
    };
    Args args(argc, argv, 2, options);
    if (args.has("--help")) {
        std::printf("%s", usage("gemma4 probes [--json]",
                                "Lists every probe: the named tensors a forward pass can hand to a listener. Layer\n"
                                "probes are named tower.L.point (L = layer index), others tower.point.",
                                options)
                              .c_str());
        return 0;
    }
    if (args.has("--json")) {
        nlohmann::json list = nlohmann::json::array();
        for (const ProbeInfo& p : kProbeTable) {
            std::string name = std::string(p.tower) + (p.per_layer ? ".L." : ".") + std::string(p.point);
            list.push_back({{"name", name},
                            {"tower", p.tower},
                            {"per_layer", p.per_layer},
                            {"point", p.point},
                            {"shape", p.shape},
                            {"meaning", p.meaning}});
        }
        std::printf("%s\n", list.dump(2).c_str());
        return 0;
    }
    std::printf("%-28s %-10s %s\n", "name (L = layer)", "shape", "meaning");
    for (const ProbeInfo& p : kProbeTable) {
        std::string name = std::string(p.tower) + (p.per_layer ? ".L." : ".") + std::string(p.point);
        std::printf("%-28s %-10s %s\n", name.c_str(), std::string(p.shape).c_str(), std::string(p.meaning).c_str());
    }
    return 0;
}

}  // namespace gemma4::cli
