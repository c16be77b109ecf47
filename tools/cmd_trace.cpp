// cmd_trace.cpp — `gemma4 trace`: one forward pass over a prompt with the chosen probes recorded, saved as a .npz that
// numpy opens (design §5). Only what the globs ask for is kept: a long prompt's attention maps are not materialised
// unless requested.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "checkpoint.h"
#include "cli.h"
#include "error.h"
#include "model_args.h"
#include "text_model.h"
#include "trace.h"

namespace gemma4::cli {

std::vector<std::string> split_globs(const std::string& text) {
    std::vector<std::string> globs;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        if (end > start) globs.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return globs;
}

int cmd_trace(int argc, char** argv) {
    std::vector<Option> options = {{"--model", "-m", "MODEL", "checkpoint directory or bundled name"}};
    for (const Option& o : prompt_options()) options.push_back(o);
    for (const Option& o : media_options()) options.push_back(o);
    const std::vector<Option> more = {
        {"--probes", "", "GLOB[,GLOB]", "probe names to record, e.g. 'text.*.attn_weights,text.logits' (default '*')"},
        {"--output", "-o", "FILE.npz", "where to write the trace"},
        {"--help", "-h", "", "show this help"},
    };
    options.insert(options.end(), more.begin(), more.end());
    for (const Option& o : backend_options("ref")) options.push_back(o);
    Args args(argc, argv, 2, options);
    if (args.has("--help")) {
        std::printf("%s", usage("gemma4 trace -m MODEL (-p TEXT | --tokens IDS) [--probes GLOBS] -o FILE.npz",
                                "Runs one forward pass and saves the probes whose names match the globs (see `gemma4\n"
                                "probes`) to a numpy .npz, with the model, token ids and backend as meta entries.",
                                options)
                              .c_str());
        return 0;
    }
    if (!args.has("--output")) throw Error("-o FILE.npz is required");
    if (!GEMMA4_PROBES) throw Error("this gemma4 was built with -DGEMMA4_PROBES=OFF: there are no probes to trace (rebuild with ON)");
    const std::string out_path = args.get("--output");
    ForwardOptions forward;
    const std::unique_ptr<Backend> backend = make_backend(args, "ref");
    forward.backend = backend.get();
    std::vector<std::string> globs = split_globs(args.get("--probes", "*"));
    if (globs.empty()) throw Error("--probes is empty");

    Checkpoint ck = Checkpoint::open(args.get("--model"));
    std::unique_ptr<Tokenizer> tok;
    if (std::filesystem::exists(std::filesystem::path(ck.dir) / "tokenizer.json")) tok = std::make_unique<Tokenizer>(Tokenizer::load(ck.dir));
    TraceMeta meta;
    RecordingSink sink(globs);
    forward.image_mask = parse_image_mask(args.get("--image-mask", "transformers"));
    TextInput input = prompt_input(args, ck, tok.get(), *backend, &sink, &meta.prompt, 0);

    forward.probes = &sink;
    TextModel model(ck);
    KvCache cache(model.config());
    std::vector<float> logits;
    model.forward(input, cache, logits, forward);
    if (sink.entries().empty()) throw Error("no probe matched " + args.get("--probes", "*") + " (see gemma4 probes)");

    meta.model = ck.config.name;
    meta.config_hash = sha256_file_hex((std::filesystem::path(ck.dir) / "config.json").string());
    meta.tokens.assign(input.tokens.begin(), input.tokens.end());
    meta.backend = backend->name();
    meta.tool_version = kToolVersion;
    write_trace(out_path, sink.entries(), meta);
    size_t floats = 0;
    for (const auto& e : sink.entries()) floats += e.data.size();
    std::fprintf(stderr, "wrote %s: %zu probes (%.1f MiB of float32), %zu tokens\n", out_path.c_str(), sink.entries().size(),
                 floats * 4.0 / (1024 * 1024), input.tokens.size());
    return 0;
}

}  // namespace gemma4::cli
