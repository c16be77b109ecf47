// cmd_synth.cpp — `gemma4 synth`: write a full-width synthetic checkpoint of a released variant (or the first N
// layers of it) in the Hugging Face layout, with a progress bar. For measuring speed and memory at real size.
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "cli.h"
#include "config.h"
#include "error.h"
#include "synth.h"

namespace gemma4::cli {

int cmd_synth(int argc, char** argv) {
    const std::vector<Option> options = {
        {"--variant", "", "NAME", "e2b, e4b, 26b-a4b, 31b (or tiny-*)"},
        {"--layers", "", "N", "keep only the first N decoder layers (the rhythm and last-layer-global rule still hold)"},
        {"--output", "-o", "DIR", "directory to create (must not hold a config.json already)"},
        {"--dtype", "", "bf16|f32", "weight dtype (default bf16, as released)"},
        {"--seed", "", "N", "seed of the pseudo-random values (default 1)"},
        {"--shard-gb", "", "G", "largest shard in GB (default 5; one file without an index if it all fits)"},
        {"--text-only", "", "", "leave out the vision and audio towers"},
        {"--help", "-h", "", "show this help"},
    };
    Args args(argc, argv, 2, options);
    if (args.has("--help")) {
        std::printf("%s", usage("gemma4 synth --variant NAME [--layers N] -o DIR",
                                "Writes a checkpoint with every tensor of the variant at full width, filled with\n"
                                "deterministic pseudo-random values scaled so activations stay finite: config.json,\n"
                                "generation_config.json and bf16 safetensors shards with model.safetensors.index.json.",
                                options)
                              .c_str());
        return 0;
    }
    if (!args.has("--variant") || !args.has("--output")) throw Error("--variant NAME and -o DIR are required (see --help)");
    ModelConfig cfg = config_for_variant(args.get("--variant"));
    if (args.has("--layers")) {
        const long long n = args.get_int("--layers", 0);
        TextConfig& t = cfg.text;
        if (n < 1 || n > t.num_hidden_layers)
            throw Error("--layers must be between 1 and " + std::to_string(t.num_hidden_layers));
        t.num_hidden_layers = static_cast<int>(n);
        t.layer_types.resize(n);
        t.layer_types.back() = LayerKind::Full;  // as transformers forces it
        // KV sharing needs both kinds before the shared layers; keep it only if the cut leaves that true.
        if (t.num_kv_shared_layers >= n) t.num_kv_shared_layers = 0;
        try {
            validate_config(cfg, "--layers");
        } catch (const Error&) {
            t.num_kv_shared_layers = 0;
        }
        cfg.name += '-';
        cfg.name += std::to_string(n);
        cfg.name += "layers";
    }
    if (args.has("--text-only")) {
        cfg.vision.reset();
        cfg.audio.reset();
    }
    validate_config(cfg, "synth");
    SynthOptions opts;
    const std::string dtype = args.get("--dtype", "bf16");
    if (dtype == "bf16") opts.dtype = DType::BF16;
    else if (dtype == "f32") opts.dtype = DType::F32;
    else throw Error("--dtype must be bf16 or f32");
    opts.seed = static_cast<uint64_t>(args.get_int("--seed", 1));
    const double shard_gb = std::stod(args.get("--shard-gb", "5"));
    if (!(shard_gb > 0)) throw Error("--shard-gb must be positive");
    opts.max_shard_bytes = static_cast<uint64_t>(shard_gb * 1e9);

    const bool tty = isatty(STDERR_FILENO);
    const auto start = std::chrono::steady_clock::now();
    int last_percent = -1;
    const uint64_t total = write_synthetic_checkpoint(cfg, args.get("--output"), opts, [&](uint64_t done, uint64_t all, const std::string& file) {
        const int percent = static_cast<int>(100.0 * done / std::max<uint64_t>(all, 1));
        if (percent == last_percent) return;
        last_percent = percent;
        const int width = 30, filled = percent * width / 100;
        if (tty)
            std::fprintf(stderr, "\r%-34s [%s%s] %3d%% %.2f / %.2f GB", file.c_str(), std::string(filled, '#').c_str(),
                         std::string(width - filled, '.').c_str(), percent, done / 1e9, all / 1e9);
        else if (percent % 10 == 0)
            std::fprintf(stderr, "%s: %d%% (%.2f / %.2f GB)\n", file.c_str(), percent, done / 1e9, all / 1e9);
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "%swrote %s (%s): %.2f GB of %s tensors in %.1f s\n", tty ? "\n" : "", args.get("--output").c_str(),
                 cfg.name.c_str(), total / 1e9, dtype.c_str(), seconds);
    return 0;
}

}  // namespace gemma4::cli
