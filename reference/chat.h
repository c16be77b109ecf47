// chat.h — the Gemma 4 chat format: system / user / model turns with text, image, audio and video items, rendered to
// exactly the string the official chat template (assets/tokenizer/gemma4_chat_template.jinja) renders, without a
// Jinja engine. Left out: tools, tool calls and tool responses (`tools`, `tool_calls`, `tool_responses`).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gemma4 {

enum class ChatContentKind { text, image, audio, video };

// One item of a message: text, or the place where an image / audio clip / video goes. The template writes a single
// placeholder for it ("<|image|>"); the processor later widens it to the soft-token run the encoder produces.
struct ChatContent {
    ChatContentKind kind = ChatContentKind::text;
    std::string text;  // kind == text only

    static ChatContent from_text(std::string text) { return {ChatContentKind::text, std::move(text)}; }
    static ChatContent image() { return {ChatContentKind::image, {}}; }
    static ChatContent audio() { return {ChatContentKind::audio, {}}; }
    static ChatContent video() { return {ChatContentKind::video, {}}; }
};

struct ChatMessage {
    std::string role;  // "system" or "developer" (first message only: the system turn), "user", "assistant" / "model"
    std::vector<ChatContent> content;

    static ChatMessage from_text(std::string role, std::string text) {
        return {std::move(role), {ChatContent::from_text(std::move(text))}};
    }
};

struct ChatOptions {
    // Puts "<|think|>" at the top of the system turn; the model then thinks inside "<|channel>thought\n…<channel|>".
    bool enable_thinking = false;
    // With thinking off, the generation prompt ends with an empty "<|channel>thought\n<channel|>". The 26B/31B
    // template (the one in assets/tokenizer/) does this; the E2B/E4B template reportedly does not.
    bool empty_thought_channel = true;
    // Later revisions of the template write "<|think|>\n" instead of "<|think|>".
    bool newline_after_think = false;
    std::string bos_token = "<bos>";

    // The options a checkpoint's own chat template implies, read from its text (Tokenizer::chat_template()).
    static ChatOptions from_template(std::string_view chat_template);
};

// Renders the conversation as the Gemma 4 template does: "<bos>", a system turn when the first message is "system" /
// "developer" or thinking is on, then "<|turn>ROLE\n…<turn|>\n" per message ("assistant" written "model"), and with
// add_generation_prompt "<|turn>model\n". Text is trimmed of white space (Python's str.strip); a model message loses
// any "<|channel>…<channel|>" thoughts. Throws gemma4::Error for no messages, an unknown role, or a first system
// message holding media. Tokenize the result with Tokenizer::encode(text), which parses the special tokens in it.
std::string format_chat(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                        const ChatOptions& options = {});

}  // namespace gemma4
