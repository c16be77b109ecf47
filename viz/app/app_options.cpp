// app_options.cpp — the inspector's command line (app_options.h).
#include "app_options.h"

#include <charconv>

#include "error.h"

namespace gemma4::viz {

const std::vector<AppOption>& app_options() {
    static const std::vector<AppOption> options = {
        {"--model", "-m", "MODEL", "checkpoint directory or bundled name (default demo-e2b-mini; tiny-e2b with --image / --audio)"},
        {"--prompt", "-p", "TEXT", "the prompt run live at start (one user turn of the chat format)"},
        {"--image", "", "FILE", "an image placed before the prompt text (models with a vision tower)"},
        {"--audio", "", "FILE", "an audio clip placed before the prompt text (E2B / E4B)"},
        {"--backend", "", "NAME", "who runs the ops: ref, blas, bf16 or opencl (default ref)"},
        {"--trace", "", "F.npz", "replay a trace written by `gemma4 trace` (or Save trace) instead of a live run"},
        {"--golden", "", "G.npz", "compare against this golden (divergence panel, golden-error colouring); with no -p the "
                                  "live run feeds the golden's own tokens"},
        {"--screenshot", "", "OUT.png", "render one panel (--panel) to a PNG and exit"},
        {"--panel", "", "NAME", "the panel for --screenshot / --bench-frames (see --list-panels; 'app' = the whole window)"},
        {"--layer", "", "N", "the decoder layer selected at start"},
        {"--head", "", "N", "the attention head selected at start (attention panel)"},
        {"--ablate-ple", "", "L,L,...", "after the run, rerun with these layers' PLE contribution off (the PLE panel's "
                                        "ablation) and print how the next-token distribution changed"},
        {"--width", "", "PX", "window width for --screenshot / --bench-frames (default 1280)"},
        {"--height", "", "PX", "window height for --screenshot / --bench-frames (default 800)"},
        {"--list-panels", "", "", "print the panel names and exit"},
        {"--bench-frames", "", "N", "render N frames (all panels, or --panel) and print mean / p95 frame time and fps"},
        {"--check-png", "", "FILE", "check that a screenshot shows content (not blank, enough colours); exit 1 if not"},
        {"--min-colors", "", "N", "with --check-png: the fewest distinct colours accepted (default 24)"},
        {"--max-rss-mb", "", "N", "with --screenshot / --bench-frames: print the peak resident memory and exit 3 if it "
                                  "passed N MiB"},
        {"--make-long-trace", "", "OUT.npz", "write a synthetic tiny-e2b trace of --tokens tokens (queries and keys of "
                                             "layers 0, 4, 9; no weights) and exit: the long-context test input"},
        {"--tokens", "", "N", "with --make-long-trace: the number of tokens (default 32768)"},
        {"--help", "-h", "", "show this help"},
    };
    return options;
}

std::string app_usage() {
    std::string text =
        "usage: gemma4-inspector [-m MODEL] [--trace F.npz] [--golden G.npz] [-p PROMPT] [--image F] [--audio F]\n"
        "                        [--backend ref|blas|bf16|opencl] [--screenshot OUT.png --panel NAME [--layer N]]\n"
        "                        [--list-panels] [--bench-frames N] [--check-png FILE] [--max-rss-mb N]\n"
        "                        [--make-long-trace OUT.npz [--tokens N]]\n\n"
        "An interactive map of a Gemma 4 model fed by its probes. With no arguments it opens the bundled demo-e2b-mini (a\n"
        "small model trained on the King James Bible) and runs a sample prompt; with --image or --audio, tiny-e2b.\n\noptions:\n";
    for (const AppOption& o : app_options()) {
        std::string left = std::string("  ") + (o.alias[0] ? std::string(o.alias) + ", " : "    ") + o.name;
        if (o.value[0]) left += std::string(" ") + o.value;
        if (left.size() < 30) left.resize(30, ' ');
        text += left + " " + o.help + "\n";
    }
    return text;
}

AppArgs::AppArgs(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const AppOption* found = nullptr;
        for (const AppOption& o : app_options())
            if (arg == o.name || (o.alias[0] && arg == o.alias)) found = &o;
        if (found == nullptr) throw Error("unknown option '" + arg + "' (see gemma4-inspector --help)");
        std::string value;
        if (found->value[0]) {
            if (i + 1 >= argc) throw Error(std::string(found->name) + " needs a value (" + found->value + ")");
            value = argv[++i];
        }
        values_[found->name] = value;
    }
}

std::string AppArgs::get(const std::string& name, const std::string& fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
}

long long AppArgs::get_int(const std::string& name, long long fallback) const {
    auto it = values_.find(name);
    if (it == values_.end()) return fallback;
    long long v = 0;
    const std::string& s = it->second;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) throw Error(name + " must be an integer, got '" + s + "'");
    return v;
}

}  // namespace gemma4::viz
