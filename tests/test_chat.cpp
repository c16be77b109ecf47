// test_chat.cpp — format_chat() against the Gemma 4 chat template rendered by transformers' Jinja
// (assets/tokenizer/chat_goldens.jsonl, written by tools/goldens_tokenizer.py): every conversation must match exactly.
// Also the errors, and the options read from a template's text. Leaves out tokenizing the result (test_tokenizer.cpp).
#include <fstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "chat.h"
#include "error.h"

namespace {

const std::string kAssets = std::string(GEMMA4_ASSETS_DIR) + "/tokenizer";

// A message as transformers takes it: content is a string or a list of {"type": "text" | "image" | ...} items.
gemma4::ChatMessage message_from_json(const nlohmann::json& m) {
    gemma4::ChatMessage message{m.at("role").get<std::string>(), {}};
    const nlohmann::json& content = m.at("content");
    if (content.is_string()) {
        message.content.push_back(gemma4::ChatContent::from_text(content.get<std::string>()));
        return message;
    }
    for (const nlohmann::json& item : content) {
        const std::string type = item.at("type").get<std::string>();
        if (type == "text")
            message.content.push_back(gemma4::ChatContent::from_text(item.at("text").get<std::string>()));
        else if (type == "image") message.content.push_back(gemma4::ChatContent::image());
        else if (type == "audio") message.content.push_back(gemma4::ChatContent::audio());
        else if (type == "video") message.content.push_back(gemma4::ChatContent::video());
        else FAIL("unexpected content type " << type);
    }
    return message;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("chat: format_chat renders every golden conversation exactly as the Jinja template does") {
    std::ifstream in(kAssets + "/chat_goldens.jsonl");
    REQUIRE(in.good());
    const gemma4::ChatOptions template_options =
        gemma4::ChatOptions::from_template(read_file(kAssets + "/gemma4_chat_template.jinja"));
    int cases = 0;
    for (std::string line; std::getline(in, line); ++cases) {
        const auto golden = nlohmann::json::parse(line);
        std::vector<gemma4::ChatMessage> messages;
        for (const auto& m : golden.at("messages")) messages.push_back(message_from_json(m));
        gemma4::ChatOptions options = template_options;
        options.enable_thinking = golden.value("enable_thinking", false);
        const std::string got = gemma4::format_chat(messages, golden.at("add_generation_prompt"), options);
        const std::string want = golden.at("rendered").get<std::string>();
        CHECK_MESSAGE(got == want, "conversation " << cases + 1 << ": " << golden.at("messages").dump()
                                                   << "\n  expected: " << nlohmann::json(want).dump()
                                                   << "\n  got:      " << nlohmann::json(got).dump());
    }
    CHECK(cases >= 15);
}

TEST_CASE("chat: the basic turn format") {
    using gemma4::ChatMessage;
    const std::vector<ChatMessage> chat = {ChatMessage::from_text("system", " Be brief. "),
                                           ChatMessage::from_text("user", "Hi\n"),
                                           ChatMessage::from_text("assistant", "Hello.")};
    gemma4::ChatOptions options;
    options.empty_thought_channel = false;
    CHECK(gemma4::format_chat(chat, true, options) ==
          "<bos><|turn>system\nBe brief.<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\nHello.<turn|>\n<|turn>model\n");
    options.enable_thinking = true;
    options.newline_after_think = true;
    CHECK(gemma4::format_chat({ChatMessage::from_text("user", "Hi")}, true, options) ==
          "<bos><|turn>system\n<|think|>\n<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\n");
}

TEST_CASE("chat: errors and template options") {
    using gemma4::ChatMessage;
    CHECK_THROWS_AS(gemma4::format_chat({}, true), gemma4::Error);
    CHECK_THROWS_WITH_AS(gemma4::format_chat({ChatMessage::from_text("tool", "x")}, true),
                         doctest::Contains("unknown role 'tool'"), gemma4::Error);
    CHECK_THROWS_AS(gemma4::format_chat({ChatMessage{"system", {gemma4::ChatContent::image()}}}, true), gemma4::Error);

    const gemma4::ChatOptions large =
        gemma4::ChatOptions::from_template(read_file(kAssets + "/gemma4_chat_template.jinja"));
    CHECK(large.empty_thought_channel);
    CHECK_FALSE(large.newline_after_think);
    const gemma4::ChatOptions other =
        gemma4::ChatOptions::from_template("{{- '<|think|>\\n' -}}{{- '<|turn>model\\n' -}}");
    CHECK_FALSE(other.empty_thought_channel);
    CHECK(other.newline_after_think);
}
