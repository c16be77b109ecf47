// probes.cpp — probe names (formatting, parsing, glob matching) and the recording listener used by `gemma4 trace`.
#include "probes.h"

#include <charconv>

namespace gemma4 {

std::string probe_name(Probe p, int layer) {
    const ProbeInfo& info = probe_info(p);
    std::string name(info.tower);
    name += '.';
    if (info.per_layer) {
        name += std::to_string(layer);
        name += '.';
    }
    name += info.point;
    return name;
}

bool parse_probe_name(std::string_view name, Probe* probe, int* layer) {
    size_t dot = name.find('.');
    if (dot == std::string_view::npos) return false;
    std::string_view tower = name.substr(0, dot);
    std::string_view rest = name.substr(dot + 1);
    int parsed_layer = -1;
    size_t dot2 = rest.find('.');
    if (dot2 != std::string_view::npos) {
        std::string_view digits = rest.substr(0, dot2);
        auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), parsed_layer);
        if (ec != std::errc() || ptr != digits.data() + digits.size() || parsed_layer < 0) return false;
        rest = rest.substr(dot2 + 1);
    }
    for (const ProbeInfo& info : kProbeTable) {
        if (info.tower == tower && info.point == rest && info.per_layer == (parsed_layer >= 0)) {
            *probe = info.id;
            *layer = parsed_layer;
            return true;
        }
    }
    return false;
}

bool glob_match(std::string_view pattern, std::string_view text) {
    // Iterative matcher with one backtrack point for the last '*' (linear in practice, no recursion).
    size_t p = 0, t = 0, star = std::string_view::npos, star_t = 0;
    while (t < text.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
            ++p;
            ++t;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            star_t = t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++star_t;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

bool RecordingSink::wants(Probe probe, int layer) const {
    const std::string name = probe_name(probe, layer);
    for (const std::string& g : globs_)
        if (glob_match(g, name)) return true;
    return false;
}

void RecordingSink::record(Probe probe, int layer, const TensorView& tensor) {
    Entry e;
    e.name = probe_name(probe, layer);
    e.shape = tensor.shape;
    e.data.assign(tensor.data, tensor.data + tensor.numel());
    entries_.push_back(std::move(e));
}

}  // namespace gemma4
