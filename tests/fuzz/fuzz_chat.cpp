// fuzz_chat.cpp — libFuzzer target for the chat formatter (format_chat, ChatOptions) and the tokenizer behind it: the
// rendered prompt is encoded with the bundled tiny-e2b tokenizer (which knows Gemma 4's turn, image and audio tokens)
// and decoded again. Text items get trimmed (Python's str.strip on UTF-8, valid or not) and model turns lose their
// "<|channel>…<channel|>" thoughts, so arbitrary bytes there are the interesting part.
//
// Input layout (so that seeds stay readable and mutations stay meaningful):
//   byte 0          flags: 1 add_generation_prompt, 2 enable_thinking, 4 empty_thought_channel, 8 newline_after_think
//   then messages separated by 0x1E; in each, byte 0 picks the role (mod 7: system, developer, user, assistant,
//   model, tool, ""), the rest is items separated by 0x1F; an item starting with 'I', 'A' or 'V' and one byte long is
//   an image, audio or video placeholder, anything else is text.
// Seeds: tests/fuzz/corpus/chat/. Run with tools/fuzz.sh chat.
#include <filesystem>
#include <vector>

#include "chat.h"
#include "checkpoint.h"
#include "fuzz_util.h"
#include "tokenizer.h"

using namespace gemma4;

namespace {

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    for (size_t begin = 0;;) {
        const size_t end = text.find(separator, begin);
        parts.push_back(text.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin));
        if (end == std::string_view::npos) return parts;
        begin = end + 1;
    }
}

ChatContent item_from(std::string_view bytes) {
    if (bytes == "I") return ChatContent::image();
    if (bytes == "A") return ChatContent::audio();
    if (bytes == "V") return ChatContent::video();
    return ChatContent::from_text(std::string(bytes));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const Tokenizer tok = Tokenizer::load(assets_dir() + "/models/tiny-e2b");
    if (size == 0) return 0;
    const uint8_t flags = data[0];
    ChatOptions options;
    options.enable_thinking = flags & 2;
    options.empty_thought_channel = flags & 4;
    options.newline_after_think = flags & 8;
    static const char* const kRoles[] = {"system", "developer", "user", "assistant", "model", "tool", ""};

    std::vector<ChatMessage> messages;
    for (std::string_view record : split(fuzz::as_text(data + 1, size - 1), '\x1e')) {
        ChatMessage m;
        m.role = kRoles[record.empty() ? 2 : static_cast<unsigned char>(record[0]) % 7];
        if (!record.empty())
            for (std::string_view item : split(record.substr(1), '\x1f')) m.content.push_back(item_from(item));
        messages.push_back(std::move(m));
    }
    try {
        const std::string prompt = format_chat(messages, flags & 1, options);
        if (prompt.rfind(options.bos_token, 0) != 0) fuzz::violated("the prompt does not start with the BOS token");
        const std::vector<int32_t> ids = tok.encode(prompt);
        for (int32_t id : ids)
            if (id < 0 || id >= tok.vocab_size()) fuzz::violated("encode returned id " + std::to_string(id));
        (void)tok.decode(ids);
        (void)tok.decode(ids, /*skip_special=*/true);
    } catch (const Error& e) {
        fuzz::check_message(e);
    }
    return 0;
}
