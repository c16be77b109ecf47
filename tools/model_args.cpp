// model_args.cpp — shared option handling of run / trace / check (model_args.h).
#include "model_args.h"

#include <charconv>

#include "chat.h"
#include "error.h"

namespace gemma4::cli {

MatmulBackend parse_backend(const std::string& name) {
    if (name == "ref") return MatmulBackend::Ref;
    if (name == "blas") return MatmulBackend::Blas;
    throw Error("--backend must be ref or blas, got '" + name + "'");
}

const char* backend_name(MatmulBackend b) { return b == MatmulBackend::Blas ? "blas" : "ref"; }

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

std::vector<Option> prompt_options() {
    return {
        {"--prompt", "-p", "TEXT", "the prompt text (tokenized with the model's tokenizer.json, <bos> prepended)"},
        {"--tokens", "", "ID,ID,...", "feed these token ids directly instead of -p"},
        {"--chat", "", "", "wrap -p as a user turn of the Gemma 4 chat format, ending with the model's turn"},
        {"--no-bos", "", "", "do not prepend <bos> to -p"},
    };
}

std::vector<int32_t> prompt_ids(const Args& args, const std::string& model_dir, const Tokenizer* tokenizer, std::string* prompt_text) {
    if (args.has("--prompt") == args.has("--tokens")) throw Error("give exactly one of -p TEXT or --tokens ID,ID,...");
    if (args.has("--tokens")) {
        if (prompt_text) prompt_text->clear();
        return parse_token_list(args.get("--tokens"));
    }
    if (tokenizer == nullptr) throw Error(model_dir + ": no tokenizer.json, so -p cannot be tokenized (use --tokens)");
    std::string text = args.get("--prompt");
    bool add_bos = !args.has("--no-bos");
    if (args.has("--chat")) {
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
