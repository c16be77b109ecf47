// model_args.cpp — shared option handling of run / trace / check (model_args.h).
#include "model_args.h"

#include <algorithm>
#include <charconv>

#include "chat.h"
#ifdef GEMMA4_HAVE_OPENCL
#include "cl_backend.h"
#endif
#include "error.h"

namespace gemma4::cli {

std::vector<Option> backend_options(const std::string& default_name) {
    return {
        {"--backend", "", "NAME", "who runs the ops: ref (the plain loops), blas (the CPU fast path: threaded matvec, OpenBLAS sgemm for T >= 32), bf16 (blas with matmul inputs rounded to bf16, as llama.cpp does for bf16 weights; vdpbf16ps on AVX512-BF16 CPUs; not the reference's numerics) or opencl (default " +
                                      default_name + ")"},
        {"--cl-device", "", "N", "with --backend opencl: the device index of `gemma4 info --cl` (default 0)"},
        {"--strict-device", "", "", "with --backend opencl: an op without a kernel is an error instead of running on the host"},
    };
}

std::unique_ptr<Backend> make_backend(const Args& args, const std::string& default_name) {
    const std::string name = args.get("--backend", default_name);
    if (name != "opencl" && (args.has("--cl-device") || args.has("--strict-device")))
        throw Error("--cl-device and --strict-device only apply with --backend opencl");
    if (name == "ref") return std::make_unique<RefBackend>();
    if (name == "blas") return std::make_unique<BlasBackend>();
    if (name == "bf16") return std::make_unique<Bf16Backend>();
    if (name == "opencl") {
#ifdef GEMMA4_HAVE_OPENCL
        const long long device = args.get_int("--cl-device", 0);
        if (device < 0 || device > 1000) throw Error("--cl-device must be a device index from `gemma4 info --cl`, got " + args.get("--cl-device"));
        cl::ClBackendOptions options;
        options.device = static_cast<int>(device);
        options.strict = args.has("--strict-device");
        return std::make_unique<cl::ClBackend>(options);
#else
        throw Error("--backend opencl: this gemma4 was built without OpenCL (configure with -DGEMMA4_OPENCL=ON)");
#endif
    }
    throw Error("--backend must be ref, blas, bf16 or opencl, got '" + name + "'");
}

std::vector<int32_t> parse_token_list(const std::string& text) {
    std::vector<int32_t> ids;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        std::string item = text.substr(start, end - start);
        while (!item.empty() && item.front() == ' ') item.erase(item.begin());
        while (!item.empty() && item.back() == ' ') item.pop_back();
        int32_t v = 0;
        auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
        if (item.empty() || ec != std::errc() || ptr != item.data() + item.size() || v < 0)
            throw Error("--tokens: '" + item + "' is not a token id (expected non-negative integers separated by commas)");
        ids.push_back(v);
        start = end + 1;
    }
    return ids;
}

std::vector<Option> tower_timing_options() {
    std::vector<Option> options = {
        {"--time", "", "", "run the tower on the input and report its encode time (needs -m MODEL)"},
        {"--repeat", "", "N", "with --time: encode N times and report the fastest (default 1)"},
    };
    for (Option& o : backend_options("ref")) options.push_back(std::move(o));
    return options;
}

TowerTiming parse_tower_timing(const Args& args, const std::string& tower) {
    TowerTiming t;
    t.enabled = args.has("--time");
    if (t.enabled && !args.has("--model")) throw Error("--time needs -m MODEL (a checkpoint with " + tower + ")");
    if (!t.enabled && (args.has("--repeat") || args.has("--backend") || args.has("--cl-device") || args.has("--strict-device")))
        throw Error("--repeat, --backend, --cl-device and --strict-device only apply with --time");
    t.repeat = args.get_int("--repeat", 1);
    if (t.repeat < 1 || t.repeat > 1000) throw Error("--repeat must be between 1 and 1000, got " + args.get("--repeat"));
    if (t.enabled) t.backend = make_backend(args, "ref");
    return t;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<Option> prompt_options() {
    return {
        {"--prompt", "-p", "TEXT", "the prompt text (tokenized with the model's tokenizer.json, <bos> prepended)"},
        {"--tokens", "", "ID,ID,...", "feed these token ids directly instead of -p"},
        {"--random-tokens", "", "N", "feed <bos> and N-1 fixed pseudo-random ids (synthetic checkpoints, benchmarks)"},
        {"--raw", "", "", "feed -p as it is (with <bos>) instead of as a user turn of the Gemma 4 chat format"},
        {"--no-bos", "", "", "with --raw: do not prepend <bos>"},
    };
}

std::string prompt_arg(const Args& args) {
    std::string text = args.get("--prompt");
    if (!is_valid_utf8_text(text))
        throw Error("-p is not valid UTF-8 text; the tokenizer (as Hugging Face's, which takes a Python str) needs Unicode text");
    return text;
}

void require_chat_tokens(const Tokenizer& tokenizer) {
    for (const char* token : {"<|turn>", "<turn|>"})
        if (tokenizer.token_id(token) < 0)
            throw Error(tokenizer.path() + ": no " + token + " token, so -p cannot be put in the Gemma 4 chat format " +
                        "(is this a Gemma 4 tokenizer? --raw sends -p as it is)");
}

void check_context(const ModelConfig& cfg, int64_t prompt_tokens, int64_t new_tokens) {
    const int64_t context = cfg.text.max_position_embeddings;
    const std::string where = " (text_config.max_position_embeddings of " + cfg.name + ")";
    if (prompt_tokens > context)
        throw Error("the prompt has " + std::to_string(prompt_tokens) + " tokens, more than the model's context of " +
                    std::to_string(context) + " tokens" + where);
    if (prompt_tokens + new_tokens > context)
        throw Error("the prompt (" + std::to_string(prompt_tokens) + " tokens) plus -n " + std::to_string(new_tokens) +
                    " exceeds the model's context of " + std::to_string(context) + " tokens" + where + "; at most -n " +
                    std::to_string(context - prompt_tokens) + " fits");
}

std::vector<int32_t> prompt_ids(const Args& args, const std::string& model_dir, const Tokenizer* tokenizer, int32_t bos_id,
                                int vocab_size, std::string* prompt_text) {
    if (int(args.has("--prompt")) + int(args.has("--tokens")) + int(args.has("--random-tokens")) != 1)
        throw Error("give exactly one of -p TEXT, --tokens ID,ID,... or --random-tokens N");
    if (prompt_text) prompt_text->clear();
    if (args.has("--tokens")) return parse_token_list(args.get("--tokens"));
    if (args.has("--random-tokens")) {
        const long long n = args.get_int("--random-tokens", 0);
        if (n < 1 || n > (1 << 24)) throw Error("--random-tokens must be between 1 and 16777216");
        // A fixed linear congruential sequence over ordinary ids (above the control tokens at the bottom of the
        // vocabulary), so every run feeds the same ids.
        const int low = std::min(1000, vocab_size / 4);
        std::vector<int32_t> ids = {bos_id};
        uint64_t state = 0x9E3779B97F4A7C15ULL;
        while (static_cast<long long>(ids.size()) < n) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            ids.push_back(static_cast<int32_t>(low + (state >> 33) % static_cast<uint64_t>(std::max(1, vocab_size - low))));
        }
        return ids;
    }
    if (tokenizer == nullptr) throw Error(model_dir + ": no tokenizer.json, so -p cannot be tokenized (use --tokens)");
    std::string text = prompt_arg(args);
    bool add_bos = !args.has("--no-bos");
    if (!args.has("--raw")) {
        require_chat_tokens(*tokenizer);
        ChatOptions options = ChatOptions::from_template(tokenizer->chat_template());
        text = format_chat({ChatMessage::from_text("user", text)}, true, options);
        add_bos = false;  // the chat format writes <bos> itself
    }
    if (prompt_text) *prompt_text = text;
    std::vector<int32_t> ids = tokenizer->encode(text, add_bos && tokenizer->bos_id() >= 0);
    if (ids.empty()) throw Error("the prompt is empty after tokenization");
    return ids;
}

}  // namespace gemma4::cli
