// chat.cpp — the Gemma 4 chat template (assets/tokenizer/gemma4_chat_template.jinja) written out as plain code, one
// block per block of the template; tests/test_chat.cpp checks it against renders by transformers' Jinja.
// Left out: the template's tool declarations, tool calls and tool responses.
#include "chat.h"

#include <cstdint>

#include "error.h"

namespace gemma4 {

namespace {

// Python's str.isspace for the characters Jinja's `trim` filter (str.strip) removes.
bool is_python_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

// The code point starting at text[i] (0 for bytes that are not valid UTF-8, which are never trimmed) and its length.
uint32_t code_point_at(std::string_view text, size_t i, size_t& length) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
    length = b(i) < 0x80 ? 1 : b(i) >= 0xF0 ? 4 : b(i) >= 0xE0 ? 3 : b(i) >= 0xC0 ? 2 : 1;
    if (i + length > text.size()) return length = 1, 0;
    if (length == 1) return b(i) < 0x80 ? b(i) : 0;
    uint32_t cp = b(i) & (0x7F >> length);
    for (size_t k = 1; k < length; ++k) cp = (cp << 6) | (b(i + k) & 0x3F);
    return cp;
}

// Jinja's `| trim`.
std::string trim(std::string_view text) {
    size_t begin = 0, end = text.size();
    while (begin < end) {
        size_t length = 0;
        if (!is_python_space(code_point_at(text, begin, length))) break;
        begin += length;
    }
    while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        size_t length = 0;
        if (!is_python_space(code_point_at(text, start, length)) || start + length != end) break;
        end = start;
    }
    return std::string(text.substr(begin, end - begin));
}

// The template's strip_thinking macro: split on "<channel|>", keep what precedes "<|channel>" in each part, trim.
std::string strip_thinking(std::string_view text) {
    constexpr std::string_view kOpen = "<|channel>", kClose = "<channel|>";
    std::string kept;
    for (size_t pos = 0;;) {
        const size_t close = text.find(kClose, pos);
        const std::string_view part =
            text.substr(pos, close == std::string_view::npos ? std::string_view::npos : close - pos);
        kept += part.substr(0, part.find(kOpen));
        if (close == std::string_view::npos) break;
        pos = close + kClose.size();
    }
    return trim(kept);
}

}  // namespace

ChatOptions ChatOptions::from_template(std::string_view chat_template) {
    ChatOptions options;
    options.empty_thought_channel = chat_template.find("'<|channel>thought\\n<channel|>'") != std::string_view::npos;
    options.newline_after_think = chat_template.find("'<|think|>\\n'") != std::string_view::npos;
    return options;
}

std::string format_chat(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        const ChatOptions& options) {
    if (messages.empty()) throw Error("format_chat: no messages (the Gemma 4 template reads messages[0])");
    for (const ChatMessage& m : messages) {
        if (m.role != "system" && m.role != "developer" && m.role != "user" && m.role != "assistant" &&
            m.role != "model")
            throw Error("format_chat: unknown role '" + m.role +
                        "' (expected system, developer, user, assistant or model)");
    }

    std::string out = options.bos_token;

    // The system turn: thinking switch and the first message when it is a system (or developer) message.
    const bool system_first = messages[0].role == "system" || messages[0].role == "developer";
    if (options.enable_thinking || system_first) {
        out += "<|turn>system\n";
        if (options.enable_thinking) out += options.newline_after_think ? "<|think|>\n" : "<|think|>";
        if (system_first) {
            std::string system_text;  // the template prints the content as one string
            for (const ChatContent& item : messages[0].content) {
                if (item.kind != ChatContentKind::text)
                    throw Error("format_chat: the first " + messages[0].role + " message may only hold text");
                system_text += item.text;
            }
            out += trim(system_text);
        }
        out += "<turn|>\n";
    }

    // One turn per remaining message.
    for (size_t i = system_first ? 1 : 0; i < messages.size(); ++i) {
        const ChatMessage& m = messages[i];
        const std::string role = m.role == "assistant" ? "model" : m.role;
        out += "<|turn>" + role + "\n";
        for (const ChatContent& item : m.content) {
            switch (item.kind) {
            case ChatContentKind::text: out += role == "model" ? strip_thinking(item.text) : trim(item.text); break;
            case ChatContentKind::image: out += "\n\n<|image|>\n\n"; break;
            case ChatContentKind::audio: out += "<|audio|>"; break;
            case ChatContentKind::video: out += "\n\n<|video|>\n\n"; break;
            }
        }
        out += "<turn|>\n";
    }

    if (add_generation_prompt) {
        out += "<|turn>model\n";
        if (!options.enable_thinking && options.empty_thought_channel) out += "<|channel>thought\n<channel|>";
    }
    return out;
}

}  // namespace gemma4
