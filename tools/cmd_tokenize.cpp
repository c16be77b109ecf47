// cmd_tokenize.cpp — `gemma4 tokenize`: text → ids and ids → text with a checkpoint's tokenizer.json, line by line
// (the format of the golden files in assets/tokenizer/), one prompt, or an encoding-speed measurement.
// Leaves out chat formatting (reference/chat.h) and batching.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checkpoint.h"
#include "cli.h"
#include "error.h"
#include "tokenizer.h"

namespace gemma4::cli {

namespace {

// English prose for --bench: README-like paragraphs, repeated to a few MB.
const char* const kBenchProse[] = {
    "gemma4-ref is a readable float32 C++ reference of Google's Gemma 4 models. It loads a Hugging Face checkpoint "
    "directory as downloaded, runs the text, vision and audio towers with one free function per operation, and lets "
    "you look inside every step with named probes.",
    "The tokenizer is a byte-fallback BPE with a 262,144-entry vocabulary. Spaces become the visible character U+2581 "
    "before the merges run, so a word and its leading space form one token, and any character the vocabulary lacks "
    "falls back to its UTF-8 bytes.",
    "To build it, install the Debian packages listed in tools/setup.sh, configure with CMake and run the tests with "
    "ctest. Nothing is downloaded at build time; the tiny test models are generated from a fixed seed and committed "
    "beside their golden traces.",
    "When the reference and transformers disagree, the check command prints a table of every probe with its error "
    "and stops at the first one over tolerance, so you can open the inspector on exactly that layer.",
    "Sliding-window layers only attend to the last few hundred positions, while the global layers see the whole "
    "context; the key-value cache of the small models is shared between the last layers of each kind.",
};

void write_out(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

std::string join_ids(const std::vector<int32_t>& ids) {
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i > 0) line += ' ';
        line += std::to_string(ids[i]);
    }
    return line;
}

// Calls fn(line_number, line) for every line of `path` (a trailing '\r' is dropped).
template <typename Fn>
void for_each_line(const std::string& path, Fn fn) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw Error(path + ": no such file");
    if (std::filesystem::is_directory(path, ec)) throw Error(path + ": is a directory, expected a text file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open file: " + std::strerror(errno));
    size_t number = 0;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        fn(++number, line);
    }
}

void tokenize_jsonl(const Tokenizer& tok, const std::string& path, bool add_bos) {
    std::string out;
    for_each_line(path, [&](size_t number, const std::string& line) {
        nlohmann::json value;
        try {
            value = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for 1e400
            throw Error(path + ":" + std::to_string(number) + ": not valid JSON (" + e.what() + ")");
        }
        if (!value.is_string()) throw Error(path + ":" + std::to_string(number) + ": expected a JSON string");
        out += join_ids(tok.encode(value.get_ref<const std::string&>(), add_bos));
        out += '\n';
        if (out.size() > (1 << 20)) write_out(out), out.clear();
    });
    write_out(out);
}

void decode_lines(const Tokenizer& tok, const std::string& path, bool skip_special) {
    std::string out;
    for_each_line(path, [&](size_t number, const std::string& line) {
        std::vector<int32_t> ids;
        std::istringstream fields(line);
        for (std::string field; fields >> field;) {
            size_t used = 0;
            long long id = -1;
            try {
                id = std::stoll(field, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used != field.size() || id < INT32_MIN || id > INT32_MAX)
                throw Error(path + ":" + std::to_string(number) + ": '" + field + "' is not a token id");
            ids.push_back(static_cast<int32_t>(id));
        }
        std::string text;
        try {
            text = tok.decode(ids, skip_special);
        } catch (const Error& e) {
            throw Error(path + ":" + std::to_string(number) + ": " + e.what());
        }
        out += nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        out += '\n';
    });
    write_out(out);
}

// Encodes `text` a few times and returns the best time in seconds.
double time_encode(const Tokenizer& tok, const std::string& text, size_t& tokens) {
    double best = 1e30;
    for (int rep = 0; rep < 3; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        tokens = tok.encode(text).size();
        best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return best;
}

void bench(const Tokenizer& tok, double load_seconds) {
    std::string paragraphs, one_line;
    for (int copy = 0; paragraphs.size() < (4u << 20); ++copy) {
        for (const char* p : kBenchProse) {
            paragraphs += p;
            paragraphs += "\n\n";
            one_line += p;
            one_line += ' ';
        }
    }
    std::printf("tokenizer: %s (loaded in %.2f s, %d ids)\n", tok.path().c_str(), load_seconds, tok.vocab_size());
    std::printf("encoding English prose on one core, best of 3 runs:\n");
    size_t tokens = 0;
    double s = time_encode(tok, paragraphs, tokens);
    std::printf("  %.1f MB in paragraphs of ~300 bytes:   %6.2f MB/s  %6.2f M tokens/s  (%.2f bytes/token)\n",
                paragraphs.size() / 1e6, paragraphs.size() / s / 1e6, tokens / s / 1e6,
                static_cast<double>(paragraphs.size()) / static_cast<double>(tokens));
    s = time_encode(tok, one_line, tokens);
    std::printf("  %.1f MB as one line (one BPE word):    %6.2f MB/s  %6.2f M tokens/s\n", one_line.size() / 1e6,
                one_line.size() / s / 1e6, tokens / s / 1e6);
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
    const std::vector<Option> options = {
        {"--model", "-m", "MODEL", "checkpoint directory (tokenizer.json + tokenizer_config.json) or bundled name"},
        {"--jsonl", "", "FILE", "encode each line of FILE (a JSON string): ids without BOS, one output line each"},
        {"--decode", "", "FILE", "decode each line of FILE (space-separated ids): one JSON string per line"},
        {"--prompt", "-p", "TEXT", "encode TEXT and print its ids"},
        {"--pieces", "", "", "with -p: one line per token, its id and vocabulary string"},
        {"--bos", "", "", "put the BOS id in front when encoding"},
        {"--skip-special", "", "", "drop special tokens when decoding"},
        {"--bench", "", "", "measure encoding speed (MB/s) on a few MB of English prose"},
        {"--help", "-h", "", "show this help"},
    };
    Args args(argc, argv, 2, options);
    if (args.has("--help")) {
        std::printf("%s", usage("gemma4 tokenize -m MODEL (--jsonl FILE | --decode FILE | -p TEXT | --bench)",
                                "Runs the Hugging Face tokenizer.json of MODEL (a directory, or a bundled model\n"
                                "such as tiny-e2b): the same ids as the `tokenizers` library.\n"
                                "Special tokens written in the text (\"<bos>\", \"<|turn>\") become their ids.",
                                options)
                              .c_str());
        return 0;
    }
    if (!args.positional().empty()) throw Error("unexpected argument '" + args.positional()[0] + "' (see --help)");
    if (!args.has("--model"))
        throw Error("needs -m MODEL, a directory holding tokenizer.json or a bundled name (see --help)");
    const int actions = args.has("--jsonl") + args.has("--decode") + args.has("--prompt") + args.has("--bench");
    if (actions != 1) throw Error("give exactly one of --jsonl, --decode, -p or --bench (see --help)");

    const auto t0 = std::chrono::steady_clock::now();
    const Tokenizer tok = Tokenizer::load(resolve_model_dir(args.get("--model")));
    const double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    if (args.has("--jsonl")) {
        tokenize_jsonl(tok, args.get("--jsonl"), args.has("--bos"));
    } else if (args.has("--decode")) {
        decode_lines(tok, args.get("--decode"), args.has("--skip-special"));
    } else if (args.has("--prompt")) {
        const std::vector<int32_t> ids = tok.encode(args.get("--prompt"), args.has("--bos"));
        if (!args.has("--pieces")) {
            write_out(join_ids(ids) + "\n");
        } else {
            for (int32_t id : ids)
                std::printf("%8d  %s\n", id, nlohmann::json(std::string(tok.token_text(id)))
                                                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                                                  .c_str());
        }
    } else {
        bench(tok, load_seconds);
    }
    return 0;
}

}  // namespace gemma4::cli
