// gemma4.cpp — entry point of the `gemma4` command-line tool: dispatches to one function per subcommand and turns
// gemma4::Error into a message and exit code 2 (exit 1 is kept for "ran fine, but a check failed").
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "cli.h"
#include "error.h"
#include "safe_write.h"

namespace {

struct Command {
    const char* name;
    int (*run)(int, char**);
    const char* help;
};

const Command kCommands[] = {
    {"info", gemma4::cli::cmd_info, "architecture table, parameter counts and memory needs of a model or variant"},
    {"run", gemma4::cli::cmd_run, "generate text from a prompt, streaming tokens, with tok/s at the end"},
    {"trace", gemma4::cli::cmd_trace, "run once and save the chosen probes to a numpy .npz"},
    {"check", gemma4::cli::cmd_check, "compare two traces probe by probe; name the first probe over tolerance"},
    {"synth", gemma4::cli::cmd_synth, "write a full-width synthetic checkpoint of a variant (for speed and memory)"},
    {"probes", gemma4::cli::cmd_probes, "every probe name with its shape and meaning"},
    {"tokenize", gemma4::cli::cmd_tokenize, "text to token ids and back with a checkpoint's tokenizer.json"},
    {"audio-info", gemma4::cli::cmd_audio_info, "a sound file as the audio path sees it: duration, mel frames, soft tokens; --time"},
    {"image-info", gemma4::cli::cmd_image_info, "an image as the vision path sees it: resized size, patch grid, soft tokens; --time"},
    {"bench", gemma4::cli::cmd_bench, "-m MODEL: prefill / decode per backend against bandwidth and sgemm peak; --ops: matvec / matmul"},

};

void print_help() {
    std::printf(
        "gemma4 — a readable float32 reference of Google's Gemma 4 models\n\n"
        "usage: gemma4 <command> [options]     (gemma4 <command> --help for its options)\n\ncommands:\n");
    for (const Command& c : kCommands) std::printf("  %-10s %s\n", c.name, c.help);
    std::printf(
        "\nMODEL is a Hugging Face checkpoint directory as downloaded, or a bundled model name\n"
        "(demo-e2b-mini, demo-moe-mini: small trained models; tiny-e2b, tiny-e4b, tiny-26b-a4b, tiny-31b:\n"
        "random weights, every structural feature and tower). With no -m, run uses demo-e2b-mini.\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
        std::strcmp(argv[1], "help") == 0) {
        print_help();
        return argc < 2 ? 2 : 0;
    }
    gemma4::install_signal_cleanup();  // Ctrl-C while a trace or checkpoint is being written leaves no half file
    for (const Command& c : kCommands) {
        if (std::strcmp(argv[1], c.name) != 0) continue;
        try {
            return c.run(argc, argv);
        } catch (const gemma4::Error& e) {
            std::fprintf(stderr, "gemma4 %s: error: %s\n", c.name, e.what());
            return 2;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "gemma4 %s: internal error: %s\n", c.name, e.what());
            return 3;
        }
    }
    std::fprintf(stderr, "gemma4: unknown command '%s' (try gemma4 --help)\n", argv[1]);
    return 2;
}
