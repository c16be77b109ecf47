// cmd_run.cpp — `gemma4 run`: generate text from a prompt, streaming tokens as they come, with the speed of prefill
// and decode at the end. Text only for now (images and audio arrive with the towers).
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "checkpoint.h"
#include "cli.h"
#include "error.h"
#include "generate.h"
#include "model_args.h"
#include "text_model.h"
#ifdef GEMMA4_HAVE_OPENCL
#include "cl_backend.h"
#endif

namespace gemma4::cli {

namespace {

// Stop ids: config.json's eos, generation_config.json's eos (a list in released checkpoints) and the chat format's
// end of turn, when the tokenizer has it.
std::vector<int32_t> stop_ids(const Checkpoint& ck, const Tokenizer* tok) {
    std::vector<int32_t> ids(ck.config.text.eos_token_ids.begin(), ck.config.text.eos_token_ids.end());
    const auto gen_path = std::filesystem::path(ck.dir) / "generation_config.json";
    if (std::ifstream in(gen_path); in) {
        nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
        if (j.is_object() && j.contains("eos_token_id")) {
            const auto& e = j["eos_token_id"];
            if (e.is_number_integer()) ids.push_back(e.get<int32_t>());
            if (e.is_array())
                for (const auto& x : e)
                    if (x.is_number_integer()) ids.push_back(x.get<int32_t>());
        }
    }
    if (tok != nullptr)
        if (int32_t turn_end = tok->token_id("<turn|>"); turn_end >= 0) ids.push_back(turn_end);
    return ids;
}

}  // namespace

int cmd_run(int argc, char** argv) {
    std::vector<Option> options = {{"--model", "-m", "MODEL", "checkpoint directory or bundled name (default demo-e2b-mini; tiny-e2b with --image / --audio)"}};
    for (const Option& o : prompt_options()) options.push_back(o);
    for (const Option& o : media_options()) options.push_back(o);
    const std::vector<Option> more = {
        {"--max-new-tokens", "-n", "N", "tokens to generate (default 64)"},
        {"--temp", "", "T", "sampling temperature; 0 = greedy (default 0)"},
        {"--top-k", "", "K", "sample among the K most likely tokens (default: all)"},
        {"--top-p", "", "P", "nucleus sampling threshold (default 1)"},
        {"--seed", "", "N", "random seed for sampling (default 0)"},
        {"--ids", "", "", "also print the generated token ids"},
        {"--help", "-h", "", "show this help"},
    };
    options.insert(options.end(), more.begin(), more.end());
    for (const Option& o : backend_options("blas")) options.push_back(o);
    Args args(argc, argv, 2, options);
    if (args.has("--help")) {
        std::printf("%s", usage("gemma4 run [-m MODEL] (-p TEXT | --tokens IDS) [--image F] [--audio F] [--raw] [-n N] [--temp T] [--backend ref|blas|opencl]",
                                "Generates text with the float32 reference, streaming each token as it is chosen, then\n"
                                "prints prefill and decode speed and peak memory. -p is sent as a user turn of the Gemma 4\n"
                                "chat format unless --raw; generation stops at the end of the model's turn or <eos>.\n"
                                "Greedy unless --temp is above 0.",
                                options)
                              .c_str());
        return 0;
    }
    const long long max_new = args.get_int("--max-new-tokens", 64);
    if (max_new < 0) throw Error("-n must be >= 0, got " + std::to_string(max_new));
    SamplingOptions sampling;
    sampling.temperature = std::stof(args.get("--temp", "0"));
    sampling.top_k = static_cast<int>(args.get_int("--top-k", 0));
    sampling.top_p = std::stof(args.get("--top-p", "1"));
    sampling.seed = static_cast<uint64_t>(args.get_int("--seed", 0));
    ForwardOptions forward;
    const std::unique_ptr<Backend> backend = make_backend(args, "blas");
    forward.backend = backend.get();

    const bool media = args.has("--image") || args.has("--audio");
    Checkpoint ck = Checkpoint::open(args.get("--model", media ? kDefaultMediaModel : kDefaultModel));
    if (max_new >= ck.config.text.max_position_embeddings)  // said before any work; checked with the prompt below
        throw Error("-n " + std::to_string(max_new) + " leaves no room for a prompt in the model's context of " +
                    std::to_string(ck.config.text.max_position_embeddings) + " tokens");
    std::unique_ptr<Tokenizer> tok;
    if (std::filesystem::exists(std::filesystem::path(ck.dir) / "tokenizer.json")) tok = std::make_unique<Tokenizer>(Tokenizer::load(ck.dir));
    forward.image_mask = parse_image_mask(args.get("--image-mask", "transformers"));
    std::string prompt_text;
    TextInput input = prompt_input(args, ck, tok.get(), *backend, nullptr, &prompt_text, max_new);

    TextModel model(ck);
    KvCache cache(model.config());
    std::vector<int32_t> generated;
    std::string printed;
    if (args.has("--raw") && input.soft_positions.empty()) std::printf("%s", prompt_text.c_str());  // no template markup echoed
    std::fflush(stdout);
    GenerateStats stats = generate(model, cache, input, static_cast<int>(max_new), stop_ids(ck, tok.get()), sampling, forward, [&](int32_t id) {
        generated.push_back(id);
        if (tok) {
            // Decode everything so far and print what is new: byte-fallback pieces only become text together.
            std::string text = tok->decode(generated, true);
            if (text.size() > printed.size() && text.compare(0, printed.size(), printed) == 0) {
                std::printf("%s", text.c_str() + printed.size());
                printed = text;
            }
        } else {
            std::printf("%s%d", generated.size() > 1 ? " " : "", id);
        }
        std::fflush(stdout);
        return true;
    });
    std::printf("\n");
    if (args.has("--ids")) {
        std::printf("ids:");
        for (int32_t id : generated) std::printf(" %d", id);
        std::printf("\n");
    }
    struct rusage usage {};
    getrusage(RUSAGE_SELF, &usage);
    std::fprintf(stderr,
                 "[%s, backend %s] prefill %d tokens in %.3f s (%.1f tok/s); decode %d tokens in %.3f s (%.1f tok/s)%s; "
                 "peak RSS %.2f GiB\n",
                 ck.config.name.c_str(), backend->name().c_str(), stats.prompt_tokens, stats.prefill_seconds,
                 stats.prompt_tokens / std::max(stats.prefill_seconds, 1e-9), stats.generated_tokens, stats.decode_seconds,
                 stats.generated_tokens > 1 ? (stats.generated_tokens - 1) / std::max(stats.decode_seconds, 1e-9) : 0.0,
                 stats.stopped_at_eos ? ", stopped at end of turn" : "", usage.ru_maxrss / (1024.0 * 1024.0));
#ifdef GEMMA4_HAVE_OPENCL
    if (auto* cl_backend = dynamic_cast<cl::ClBackend*>(backend.get()))
        std::fprintf(stderr, "[opencl] host <-> device: %llu bytes uploaded (weights on first use included), %llu bytes downloaded\n",
                     static_cast<unsigned long long>(cl_backend->context().bytes_uploaded()),
                     static_cast<unsigned long long>(cl_backend->context().bytes_downloaded()));
#endif
    return 0;
}

}  // namespace gemma4::cli
