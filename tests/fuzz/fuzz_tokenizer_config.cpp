// fuzz_tokenizer_config.cpp — libFuzzer target for tokenizer_config.json (Tokenizer::load_files with the bundled
// tiny-e2b tokenizer.json): add_bos_token / add_eos_token, bos / eos / pad tokens as strings or {"content": ...}
// objects, and chat_template as a string or a list of named templates. An accepted config then renders a short chat
// with the options its template implies and encodes it as `gemma4 run` would.
// Input: the file. Seeds: tests/fuzz/corpus/tokenizer_config/. Run with tools/fuzz.sh tokenizer_config.
#include <filesystem>

#include "chat.h"
#include "checkpoint.h"
#include "fuzz_util.h"
#include "tokenizer.h"

using namespace gemma4;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string tokenizer_json = assets_dir() + "/models/tiny-e2b/tokenizer.json";
    if (!std::filesystem::exists(tokenizer_json)) fuzz::violated("missing " + tokenizer_json);
    const std::string path = fuzz::write_input("tokenizer_config.json", data, size);
    try {
        const Tokenizer tok = Tokenizer::load_files(tokenizer_json, path);
        for (int32_t id : {tok.bos_id(), tok.eos_id(), tok.pad_id(), tok.unk_id()})
            if (id < -1 || id >= tok.vocab_size()) fuzz::violated("special token id " + std::to_string(id));
        ChatOptions options = ChatOptions::from_template(tok.chat_template());
        options.bos_token = tok.bos_id() >= 0 ? std::string(tok.token_text(tok.bos_id())) : "";
        const std::string prompt = format_chat({ChatMessage::from_text("system", "Be brief."),
                                                ChatMessage::from_text("user", "Hello there")},
                                               /*add_generation_prompt=*/true, options);
        const std::vector<int32_t> ids = tok.encode(prompt);
        (void)tok.decode(ids, /*skip_special=*/true);
    } catch (const Error& e) {
        fuzz::check_message(e);
    }
    return 0;
}
