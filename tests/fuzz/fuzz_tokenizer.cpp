// fuzz_tokenizer.cpp — libFuzzer target for tokenizer.json (Tokenizer::load_files): the BPE vocabulary and merges,
// added tokens, normalizer, pre-tokenizer, decoder and post-processor sections. An accepted tokenizer then encodes a
// few fixed texts (plain, special tokens, non-ASCII, invalid UTF-8) and decodes what it got, the first ids of the
// vocabulary, and the same with skip_special.
// Input: the file. Seeds: tests/fuzz/corpus/tokenizer/ (the bundled tokenizers, cut down). Run with tools/fuzz.sh
// tokenizer.
#include <vector>

#include "fuzz_util.h"
#include "tokenizer.h"

using namespace gemma4;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::write_input("tokenizer.json", data, size);
    try {
        const Tokenizer tok = Tokenizer::load_files(path, "");
        static const char* const kTexts[] = {
            "Hello world", "  two  spaces\n\tand tabs ", "<bos><|turn>user\nhi<turn|>", "ünïcödé 日本語 🙂",
            "bad \xff\xfe utf-8 \xc3", "",
        };
        for (const char* text : kTexts) {
            const std::vector<int32_t> ids = tok.encode(text, /*add_bos=*/tok.bos_id() >= 0);
            for (int32_t id : ids)
                if (id < 0 || id >= tok.vocab_size()) fuzz::violated("encode returned id " + std::to_string(id));
            (void)tok.decode(ids);
            (void)tok.decode(ids, /*skip_special=*/true);
        }
        std::vector<int32_t> first;
        for (int32_t id = 0; id < tok.vocab_size() && id < 512; ++id) {
            first.push_back(id);
            (void)tok.token_text(id);
            (void)tok.is_special(id);
        }
        (void)tok.decode(first);
        (void)tok.decode(first, /*skip_special=*/true);
    } catch (const Error& e) {
        fuzz::check_message(e);
    }
    return 0;
}
