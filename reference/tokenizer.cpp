// tokenizer.cpp — loading tokenizer.json and running Hugging Face `tokenizers`' encode/decode pipeline for the
// byte-fallback BPE of Gemma: added tokens → normalizer → added tokens in normalized text → Split → BPE merges.
// The behaviour mirrors `tokenizers` 0.23 (added_vocabulary.rs, models/bpe, decoders/*); no caching, no offsets.
#include "tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <queue>
#include <sstream>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "error.h"

namespace gemma4 {

namespace {

using nlohmann::json;

std::string read_text_file(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw Error(path + ": is a directory, expected a file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open file");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// ---- UTF-8 and the two Unicode properties the added-token flags need -------------------------------------------

struct Utf8Char {
    uint32_t code_point;  // kInvalidCodePoint for a byte that does not start a valid UTF-8 sequence
    size_t length;        // bytes; an invalid byte counts as a one-byte character
};
constexpr uint32_t kInvalidCodePoint = 0xFFFFFFFF;
constexpr int64_t kMaxTokenId = (1 << 24) - 1;  // 64x Gemma 4's vocabulary; keeps the id tables' size sane

// How many times longer the normalizer's (or the decoder's) Replace steps together may make a text.
constexpr int kMaxReplaceGrowth = 1024;

// Decodes the character at text[i] with the rules of Rust's String::from_utf8 (no overlong forms, no surrogates,
// nothing above U+10FFFF).
Utf8Char next_char(std::string_view text, size_t i) {
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char b0 = byte(i);
    if (b0 < 0x80) return {b0, 1};
    size_t length = 0;
    uint32_t cp = 0, min_cp = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) length = 2, cp = b0 & 0x1F, min_cp = 0x80;
    else if (b0 >= 0xE0 && b0 <= 0xEF) length = 3, cp = b0 & 0x0F, min_cp = 0x800;
    else if (b0 >= 0xF0 && b0 <= 0xF4) length = 4, cp = b0 & 0x07, min_cp = 0x10000;
    else return {kInvalidCodePoint, 1};
    if (i + length > text.size()) return {kInvalidCodePoint, 1};
    for (size_t k = 1; k < length; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80) return {kInvalidCodePoint, 1};
        cp = (cp << 6) | (byte(i + k) & 0x3F);
    }
    if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {kInvalidCodePoint, 1};
    return {cp, length};
}

// Start of the last character of a non-empty text.
size_t last_char_start(std::string_view text) {
    size_t i = text.size() - 1;
    for (int k = 0; k < 3 && i > 0 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80; ++k) --i;
    return i;
}

bool is_valid_utf8(std::string_view bytes) {
    for (size_t i = 0; i < bytes.size();) {
        Utf8Char c = next_char(bytes, i);
        if (c.code_point == kInvalidCodePoint) return false;
        i += c.length;
    }
    return true;
}

// Unicode White_Space: what `\s` means in the Rust regexes behind lstrip/rstrip.
bool is_white_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

// `\w` of the Rust regexes behind single_word: Unicode letters, marks, decimal digits, connector punctuation and the
// joiners. Exact for ASCII and Latin-1; beyond them an approximation without Unicode tables: every code point is a
// word character except white space and the punctuation / symbol / emoji / private-use ranges below, minus the
// letters and connectors those hold (rarer punctuation of other scripts still counts as a word character). No Gemma
// tokenizer sets single_word.
bool is_word_char(uint32_t cp) {
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') || cp == '_';
    if (cp == kInvalidCodePoint || is_white_space(cp)) return false;
    if (cp <= 0xBF) return cp == 0xAA || cp == 0xB5 || cp == 0xBA;
    if (cp == 0xD7 || cp == 0xF7) return false;
    const uint32_t word_exceptions[][2] = {
        {0x200C, 0x200D},   // zero-width (non-)joiner
        {0x203F, 0x2040},   // connector punctuation
        {0x2054, 0x2054},
        {0x2071, 0x2071},   // superscript / subscript letters
        {0x207F, 0x207F},
        {0x2090, 0x209C},
        {0x2102, 0x2102},   // letterlike symbols that are letters
        {0x2107, 0x2107},
        {0x210A, 0x2113},
        {0x2115, 0x2115},
        {0x2119, 0x211D},
        {0x2124, 0x2124},
        {0x2126, 0x2126},
        {0x2128, 0x2128},
        {0x212A, 0x212D},
        {0x212F, 0x2139},
        {0x213C, 0x213F},
        {0x2145, 0x2149},
        {0x214E, 0x214E},
        {0x2160, 0x2188},   // Roman numerals (letter numbers)
        {0x24B6, 0x24E9},   // circled letters
        {0x3005, 0x3007},   // 々 〆 〇
        {0x3021, 0x302F},   // Hangzhou numerals, tone marks
        {0x3031, 0x3035},
        {0x3038, 0x303C},
        {0xFE33, 0xFE34},   // connector punctuation
        {0xFE4D, 0xFE4F},
        {0xFF3F, 0xFF3F},   // fullwidth low line
        {0x1F130, 0x1F149}, // squared, circled and negative latin letters
        {0x1F150, 0x1F169},
        {0x1F170, 0x1F189},
    };
    for (const auto& range : word_exceptions)
        if (cp >= range[0] && cp <= range[1]) return true;
    const uint32_t non_word_blocks[][2] = {
        {0x037E, 0x037E},   // punctuation and format characters of other scripts (the common ones)
        {0x0387, 0x0387},
        {0x055A, 0x055F},
        {0x0589, 0x058A},
        {0x05BE, 0x05BE},
        {0x05C0, 0x05C0},
        {0x05C3, 0x05C3},
        {0x05C6, 0x05C6},
        {0x05F3, 0x05F4},
        {0x0600, 0x0605},
        {0x060C, 0x060D},
        {0x061B, 0x061F},
        {0x066A, 0x066D},
        {0x06D4, 0x06D4},
        {0x06DD, 0x06DE},
        {0x0964, 0x0965},
        {0x0970, 0x0970},
        {0x0E3F, 0x0E3F},
        {0x0E4F, 0x0E4F},
        {0x0E5A, 0x0E5B},
        {0x180E, 0x180E},
        {0x2000, 0x206F},   // general punctuation
        {0x2070, 0x209F},   // superscripts and subscripts
        {0x20A0, 0x20CF},   // currency symbols
        {0x2100, 0x218F},   // letterlike symbols, number forms
        {0x2190, 0x2BFF},   // arrows, mathematical operators, technical, box drawing, shapes, dingbats
        {0x2E00, 0x2E7F},   // supplemental punctuation
        {0x3000, 0x303F},   // CJK symbols and punctuation
        {0xE000, 0xF8FF},   // private use
        {0xFE30, 0xFE4F},   // CJK compatibility forms
        {0xFF00, 0xFF0F},   // fullwidth punctuation
        {0xFF1A, 0xFF20},
        {0xFF3B, 0xFF40},
        {0xFF5B, 0xFF65},
        {0xFEFF, 0xFEFF},   // byte order mark
        {0xFFF0, 0xFFFF},   // specials
        {0x1F000, 0x1FAFF}, // emoji and pictographs
        {0xE0000, 0xE007F}, // tags
        {0xF0000, 0x10FFFF} // supplementary private use
    };
    for (const auto& block : non_word_blocks)
        if (cp >= block[0] && cp <= block[1]) return false;
    return true;
}

void replace_all(std::string& text, const std::string& pattern, const std::string& replacement) {
    if (pattern.empty() || text.find(pattern) == std::string::npos) return;
    std::string out;
    out.reserve(text.size());
    size_t pos = 0;
    for (size_t hit; (hit = text.find(pattern, pos)) != std::string::npos; pos = hit + pattern.size()) {
        out.append(text, pos, hit - pos);
        out += replacement;
    }
    out.append(text, pos, std::string::npos);
    text = std::move(out);
}

// A pattern object {"String": "..."}; {"Regex": "..."} is not supported.
std::string string_pattern(const json& pattern, const std::string& where, const std::string& path) {
    if (pattern.is_object() && pattern.contains("String")) return pattern.at("String").get<std::string>();
    if (pattern.is_object() && pattern.contains("Regex"))
        throw Error(path + ": " + where + " with a Regex pattern is not supported (only plain strings)");
    throw Error(path + ": " + where + " has an unexpected pattern " + pattern.dump());
}

// A special-token entry of tokenizer_config.json: "<bos>", {"content": "<bos>", ...} or null.
std::string config_token(const json& config, const char* key, const std::string& fallback, const std::string& config_path) {
    auto it = config.find(key);
    if (it == config.end()) return fallback;
    if (it->is_null()) return "";
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object() && it->contains("content") && it->at("content").is_string()) return it->at("content").get<std::string>();
    throw Error(config_path + ": " + key + " must be a token string or {\"content\": \"...\"}, got " + it->dump());
}

int hex_digit(char h) {
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
}

uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

}  // namespace

bool is_valid_utf8_text(std::string_view bytes) { return is_valid_utf8(bytes); }

// ---- loading ----------------------------------------------------------------------------------------------------

Tokenizer Tokenizer::load(const std::string& model_dir) {
    namespace fs = std::filesystem;
    const fs::path dir(model_dir);
    const fs::path json_path = dir / "tokenizer.json";
    if (!fs::exists(json_path)) throw Error(model_dir + ": no tokenizer.json in this directory");
    const fs::path config_path = dir / "tokenizer_config.json";
    Tokenizer tok = load_files(json_path.string(), fs::exists(config_path) ? config_path.string() : "");
    if (const fs::path jinja = dir / "chat_template.jinja"; fs::exists(jinja)) {
        tok.chat_template_ = read_text_file(jinja.string());
        if (!is_valid_utf8(tok.chat_template_)) throw Error(jinja.string() + ": not valid UTF-8 text (a Jinja template is text)");
    }
    return tok;
}

Tokenizer Tokenizer::load_files(const std::string& tokenizer_json, const std::string& tokenizer_config_json) {
    Tokenizer tok;
    tok.path_ = tokenizer_json;
    tok.parse_tokenizer_json(read_text_file(tokenizer_json));
    tok.parse_tokenizer_config(tokenizer_config_json,
                               tokenizer_config_json.empty() ? std::string() : read_text_file(tokenizer_config_json));
    return tok;
}

void Tokenizer::fail(const std::string& what) const { throw Error(path_ + ": " + what); }

void Tokenizer::parse_tokenizer_json(const std::string& json_text) {
    json root;
    try {
        root = json::parse(json_text);
    } catch (const json::exception& e) {  // parse_error, and out_of_range for a number such as 1e400
        fail(std::string("not valid JSON (") + e.what() + ")");
    }
    std::string section = "model";  // named in the message when a value has the wrong JSON type
    try {
        if (!root.is_object()) fail("not a JSON object");
        auto model_it = root.find("model");
        if (model_it == root.end() || !model_it->is_object()) fail("no \"model\" object");
        const json& model = *model_it;

        // The BPE model: vocabulary, merges, and what to do with characters the vocabulary lacks.
        const std::string type = model.contains("type") ? model.at("type").get<std::string>()
                                 : model.contains("merges") ? "BPE" : "(none)";
        if (type != "BPE") fail("model type '" + type + "' is not supported (only BPE)");
        if (!model.contains("vocab") || !model.at("vocab").is_object()) fail("model has no \"vocab\" object");
        if (model.contains("dropout") && !model.at("dropout").is_null() && model.at("dropout").get<double>() != 0.0)
            fail("BPE dropout is not supported");
        for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
            if (model.contains(key) && !model.at(key).is_null() && !model.at(key).get<std::string>().empty())
                fail(std::string("BPE ") + key + " is not supported");
        byte_fallback_ = model.value("byte_fallback", false);
        fuse_unk_ = model.value("fuse_unk", false);
        ignore_merges_ = model.value("ignore_merges", false);

        section = "model.vocab";
        int32_t max_id = -1;
        vocab_.reserve(model.at("vocab").size());
        std::unordered_map<int32_t, std::string> token_of_id;
        for (const auto& [token, id_json] : model.at("vocab").items()) {
            // Ids index tables of max_id + 1 entries: bound them far above any vocabulary (Gemma 4 has 262144).
            if (!id_json.is_number_integer() || id_json.get<int64_t>() < 0 || id_json.get<int64_t>() > kMaxTokenId)
                fail("model.vocab entry '" + token + "' has id " + id_json.dump() + "; ids are integers from 0 to " +
                     std::to_string(kMaxTokenId));
            const int32_t id = id_json.get<int32_t>();
            if (auto [it, fresh] = token_of_id.emplace(id, token); !fresh)
                fail("model.vocab entries '" + it->second + "' and '" + token + "' share id " + std::to_string(id));
            vocab_.emplace(token, id);
            max_id = std::max(max_id, id);
        }
        byte_ids_.fill(-1);
        for (int b = 0; b < 256; ++b) {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);  // Rust's format!("<{b:#04X}>")
            if (auto it = vocab_.find(std::string_view(name)); it != vocab_.end()) byte_ids_[b] = it->second;
        }
        for (const auto& [token, id] : vocab_) {
            if (token.empty()) continue;
            Utf8Char c = next_char(token, 0);
            if (c.length == token.size() && c.code_point != kInvalidCodePoint) char_ids_.emplace(c.code_point, id);
            for (size_t i = c.length; i < token.size(); i += c.length) {  // pairs of neighbours, for bpe()'s cuts
                const Utf8Char d = next_char(token, i);
                adjacent_chars_.insert(
                    pair_key(static_cast<int32_t>(c.code_point), static_cast<int32_t>(d.code_point)));
                c = d;
            }
        }
        if (model.contains("unk_token") && !model.at("unk_token").is_null()) {
            const std::string unk = model.at("unk_token").get<std::string>();
            auto it = vocab_.find(unk);
            if (it == vocab_.end()) fail("BPE unk_token '" + unk + "' is not in the vocabulary");
            model_unk_id_ = it->second;
        }

        // Merges, as "a b" strings (older files) or [a, b] pairs (token strings may then contain spaces). The rank is
        // the position in the list; a pair listed twice keeps its last rank, as a Rust HashMap collect does.
        section = "model.merges";
        if (!model.contains("merges") || !model.at("merges").is_array()) fail("model has no \"merges\" list");
        const json& merges = model.at("merges");
        merges_.reserve(merges.size());
        for (size_t rank = 0; rank < merges.size(); ++rank) {
            const json& m = merges[rank];
            std::string left, right;
            if (m.is_string()) {
                const std::string line = m.get<std::string>();
                const size_t space = line.find(' ');
                if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
                    fail("merge #" + std::to_string(rank) + " '" + line + "' is not two tokens separated by one space");
                left = line.substr(0, space);
                right = line.substr(space + 1);
            } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
                left = m[0].get<std::string>();
                right = m[1].get<std::string>();
            } else {
                fail("merge #" + std::to_string(rank) + " is neither \"a b\" nor [a, b]: " + m.dump());
            }
            auto id_of = [&](const std::string& token) {
                auto it = vocab_.find(token);
                if (it == vocab_.end())
                    fail("merge #" + std::to_string(rank) + " ('" + left + "', '" + right + "') uses '" + token +
                         "', which is not in the vocabulary");
                return it->second;
            };
            const int32_t left_id = id_of(left), right_id = id_of(right), merged_id = id_of(left + right);
            merges_[pair_key(left_id, right_id)] = MergeRule{static_cast<int32_t>(rank), merged_id};
        }

        section = "normalizer";
        // Normalizer: Replace and Prepend steps, possibly inside a Sequence.
        const std::function<void(const json&)> add_normalizer = [&](const json& n) {
            if (n.is_null()) return;
            const std::string kind = n.at("type").get<std::string>();
            if (kind == "Sequence") {
                for (const json& inner : n.at("normalizers")) add_normalizer(inner);
            } else if (kind == "Replace") {
                normalizer_.push_back({false, string_pattern(n.at("pattern"), "normalizer Replace", path_),
                                       n.at("content").get<std::string>()});
            } else if (kind == "Prepend") {
                normalizer_.push_back({true, "", n.at("prepend").get<std::string>()});
            } else {
                fail("normalizer '" + kind + "' is not supported (only Replace, Prepend and Sequence)");
            }
        };
        if (root.contains("normalizer")) add_normalizer(root.at("normalizer"));

        section = "pre_tokenizer";
        // Pre-tokenizer: Split on a plain string, possibly inside a Sequence.
        const std::function<void(const json&)> add_pre_tokenizer = [&](const json& p) {
            if (p.is_null()) return;
            const std::string kind = p.at("type").get<std::string>();
            if (kind == "Sequence") {
                for (const json& inner : p.at("pretokenizers")) add_pre_tokenizer(inner);
            } else if (kind == "Split") {
                if (p.value("invert", false)) fail("pre_tokenizer Split with invert = true is not supported");
                const std::string behavior = p.at("behavior").get<std::string>();
                SplitStep step{string_pattern(p.at("pattern"), "pre_tokenizer Split", path_), SplitBehavior::isolated};
                if (behavior == "Removed") step.behavior = SplitBehavior::removed;
                else if (behavior == "Isolated") step.behavior = SplitBehavior::isolated;
                else if (behavior == "MergedWithPrevious") step.behavior = SplitBehavior::merged_with_previous;
                else if (behavior == "MergedWithNext") step.behavior = SplitBehavior::merged_with_next;
                else if (behavior == "Contiguous") step.behavior = SplitBehavior::contiguous;
                else fail("pre_tokenizer Split behavior '" + behavior + "' is not supported");
                pre_tokenizer_.push_back(step);
            } else {
                fail("pre_tokenizer '" + kind + "' is not supported (only Split on a string, and Sequence)");
            }
        };
        if (root.contains("pre_tokenizer")) add_pre_tokenizer(root.at("pre_tokenizer"));

        section = "decoder";
        // Decoder: Replace, ByteFallback, Fuse and Strip, possibly inside a Sequence.
        const std::function<void(const json&)> add_decoder = [&](const json& d) {
            if (d.is_null()) return;
            has_decoder_ = true;
            const std::string kind = d.at("type").get<std::string>();
            DecodeStep step;
            if (kind == "Sequence") {
                for (const json& inner : d.at("decoders")) add_decoder(inner);
                return;
            } else if (kind == "Replace") {
                step.kind = DecodeStep::Kind::replace;
                step.pattern = string_pattern(d.at("pattern"), "decoder Replace", path_);
                step.content = d.at("content").get<std::string>();
            } else if (kind == "ByteFallback") {
                step.kind = DecodeStep::Kind::byte_fallback;
            } else if (kind == "Fuse") {
                step.kind = DecodeStep::Kind::fuse;
            } else if (kind == "Strip") {
                step.kind = DecodeStep::Kind::strip;
                const std::string content = d.at("content").get<std::string>();
                const Utf8Char c = content.empty() ? Utf8Char{kInvalidCodePoint, 0} : next_char(content, 0);
                if (c.length != content.size() || c.code_point == kInvalidCodePoint)
                    fail("decoder Strip content must be one character");
                step.strip_char = c.code_point;
                step.strip_start = d.at("start").get<int>();
                step.strip_stop = d.at("stop").get<int>();
            } else {
                fail("decoder '" + kind + "' is not supported (only Replace, ByteFallback, Fuse, Strip, Sequence)");
            }
            decoder_.push_back(step);
        };
        if (root.contains("decoder")) add_decoder(root.at("decoder"));

        // A Replace step can make a text |content| / |pattern| times longer and the steps compound, so a few steps
        // with a long content would let encode() or decode() run out of memory and time. Real tokenizers grow a text
        // at most 3 times (" " -> "▁"); refuse a chain that could grow it more than kMaxReplaceGrowth times.
        const auto growth = [](const std::string& pattern, const std::string& content) {
            return pattern.empty() ? 1.0 : std::max(1.0, double(content.size()) / double(pattern.size()));
        };
        double normalizer_growth = 1.0, decoder_growth = 1.0;
        for (const NormalizeStep& n : normalizer_)
            if (!n.prepend) normalizer_growth *= growth(n.pattern, n.content);
        for (const DecodeStep& d : decoder_)
            if (d.kind == DecodeStep::Kind::replace) decoder_growth *= growth(d.pattern, d.content);
        for (const auto& [what, factor] : {std::pair{"normalizer", normalizer_growth}, {"decoder", decoder_growth}}) {
            if (factor <= kMaxReplaceGrowth) continue;
            char times[32];
            std::snprintf(times, sizeof times, "%.3g", factor);
            fail(std::string(what) + " Replace steps could make a text " + times + " times longer; at most " +
                 std::to_string(kMaxReplaceGrowth) + " is supported");
        }

        section = "post_processor";
        // Post-processor: only read to learn whether the files ask for a BOS in front; encode() adds it on request.
        if (root.contains("post_processor") && !root.at("post_processor").is_null()) {
            const json& post = root.at("post_processor");
            const std::string kind = post.at("type").get<std::string>();
            if (kind != "TemplateProcessing")
                fail("post_processor '" + kind + "' is not supported (only TemplateProcessing)");
            const json& single = post.at("single");
            add_bos_token_ = !single.empty() && single[0].contains("SpecialToken");
        }

        // Added tokens. Ids follow Hugging Face's rule: the id of the same string in the vocabulary, else the next id
        // after the vocabulary. (The file's "id" field is not read; HF only warns when it differs.) A string listed
        // twice keeps one id and the flags of its last entry.
        int32_t next_new_id = static_cast<int32_t>(vocab_.size());
        std::unordered_set<std::string> special_contents;
        section = "added_tokens";
        if (root.contains("added_tokens")) {
            if (!root.at("added_tokens").is_array()) fail("added_tokens must be a list of {\"content\": ..., \"id\": ...} objects");
            for (const json& a : root.at("added_tokens")) {
                if (!a.is_object() || !a.contains("content") || !a.at("content").is_string())
                    fail("added_tokens entry " + a.dump().substr(0, 60) + " has no \"content\" string");
                // The id is not used (see above), but Hugging Face reads it as a u32 and refuses anything else.
                if (a.contains("id") && !(a.at("id").is_number_unsigned() && a.at("id").get<uint64_t>() <= 0xFFFFFFFFu))
                    fail("added_tokens entry '" + a.at("content").get<std::string>() + "' has id " + a.at("id").dump() +
                         ", not an unsigned 32-bit integer");
                AddedToken token;
                token.content = a.at("content").get<std::string>();
                if (token.content.empty()) continue;
                token.special = a.value("special", false);
                token.lstrip = a.value("lstrip", false);
                token.rstrip = a.value("rstrip", false);
                token.single_word = a.value("single_word", false);
                token.normalized = a.value("normalized", !token.special);
                if (auto it = added_ids_.find(token.content); it != added_ids_.end()) {
                    token.id = it->second;
                    for (AddedToken& old : added_tokens_)
                        if (old.content == token.content) old = token;
                } else {
                    auto in_vocab = vocab_.find(token.content);
                    token.id = in_vocab != vocab_.end() ? in_vocab->second : next_new_id++;
                    added_ids_.emplace(token.content, token.id);
                    added_tokens_.push_back(token);
                }
                if (token.special) special_contents.insert(token.content);
                max_id = std::max(max_id, token.id);
            }
        }

        // id → text tables. A normalized added token is decoded from its normalized form (what it matched).
        id_text_.assign(static_cast<size_t>(max_id + 1), std::string());
        id_known_.assign(static_cast<size_t>(max_id + 1), 0);
        id_decode_override_.assign(static_cast<size_t>(max_id + 1), -1);
        for (const auto& [token, id] : vocab_) {
            id_text_[id] = token;
            id_known_[id] = 1;
        }
        raw_trie_.nodes.assign(1, TrieNode{});
        normalized_trie_.nodes.assign(1, TrieNode{});
        for (size_t i = 0; i < added_tokens_.size(); ++i) {
            const AddedToken& token = added_tokens_[i];
            id_text_[token.id] = token.content;
            id_known_[token.id] = 1;
            if (!token.normalized) {
                add_to_trie(raw_trie_, token.content, static_cast<int32_t>(i));
                continue;
            }
            std::string pattern = normalizer_.empty() ? token.content : normalize(token.content);
            if (pattern != token.content) {
                id_decode_override_[token.id] = static_cast<int32_t>(decode_texts_.size());
                decode_texts_.push_back(pattern);
            }
            add_to_trie(normalized_trie_, pattern, static_cast<int32_t>(i));
        }
        // HF asks "is the decoded string of this id a special token's content?", so that is what marks an id special.
        for (size_t id = 0; id < id_text_.size(); ++id) {
            if (id_known_[id] == 0) continue;
            const int32_t o = id_decode_override_[id];
            if (special_contents.count(o >= 0 ? decode_texts_[o] : id_text_[id])) id_known_[id] = 2;
        }
    } catch (const json::exception& e) {
        fail("unexpected content in \"" + section + "\" (" + e.what() + ")");
    }
}

void Tokenizer::parse_tokenizer_config(const std::string& config_path, const std::string& json_text) {
    std::string bos = "<bos>", eos = "<eos>", pad = "<pad>";
    bool named_in_config = false;
    if (!config_path.empty()) {
        named_in_config = true;
        json config;
        try {
            config = json::parse(json_text);
        } catch (const json::exception& e) {  // parse_error, and out_of_range for a number such as 1e400
            throw Error(config_path + ": not valid JSON (" + e.what() + ")");
        }
        try {
            if (!config.is_object()) throw Error(config_path + ": not a JSON object");
            for (const char* flag : {"add_bos_token", "add_eos_token"})
                if (config.contains(flag) && !config.at(flag).is_boolean())
                    throw Error(config_path + ": " + flag + " must be true or false, got " + config.at(flag).dump());
            add_bos_token_ = config.value("add_bos_token", add_bos_token_);
            add_eos_token_ = config.value("add_eos_token", false);
            bos = config_token(config, "bos_token", bos, config_path);
            eos = config_token(config, "eos_token", eos, config_path);
            pad = config_token(config, "pad_token", pad, config_path);
            if (auto it = config.find("chat_template"); it != config.end() && !it->is_null()) {
                const auto bad_template = [&] {
                    throw Error(config_path + ": chat_template must be a string or a list of {\"name\": ..., \"template\": \"...\"}, got " +
                                it->dump().substr(0, 60));
                };
                if (it->is_string()) {
                    chat_template_ = it->get<std::string>();
                } else if (it->is_array()) {  // [{"name": "default", "template": ...}, {"name": "tool_use", ...}]
                    for (const json& named : *it) {
                        if (!named.is_object() || !named.contains("template") || !named.at("template").is_string()) bad_template();
                        if (chat_template_.empty() || named.value("name", "") == "default")
                            chat_template_ = named.at("template").get<std::string>();
                    }
                } else {
                    bad_template();
                }
            }
        } catch (const json::exception& e) {
            throw Error(config_path + ": unexpected content (" + e.what() + ")");
        }
    }
    // A token the config names must exist; the defaults are only used when the vocabulary has them.
    auto resolve = [&](const std::string& token, const char* key) -> int32_t {
        if (token.empty()) return -1;
        const int32_t id = token_id(token);
        if (id < 0 && named_in_config)
            throw Error(config_path + ": " + key + " '" + token + "' is not in the vocabulary of " + path_);
        return id;
    };
    bos_id_ = resolve(bos, "bos_token");
    eos_id_ = resolve(eos, "eos_token");
    pad_id_ = resolve(pad, "pad_token");
    unk_id_ = model_unk_id_;
}

// ---- lookups ----------------------------------------------------------------------------------------------------

int32_t Tokenizer::token_id(std::string_view token) const {
    if (auto it = added_ids_.find(token); it != added_ids_.end()) return it->second;
    if (auto it = vocab_.find(token); it != vocab_.end()) return it->second;
    return -1;
}

std::string_view Tokenizer::token_text(int32_t id) const {
    if (id < 0 || id >= vocab_size())
        throw Error(path_ + ": token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                    std::to_string(vocab_size()) + ")");
    return id_text_[id];
}

bool Tokenizer::is_special(int32_t id) const { return id >= 0 && id < vocab_size() && id_known_[id] == 2; }

// ---- encoding ---------------------------------------------------------------------------------------------------

void Tokenizer::add_to_trie(AddedTokenTrie& trie, std::string_view content, int32_t added_index) {
    if (content.empty()) return;
    int32_t node = 0;
    for (char ch : content) {
        const auto byte = static_cast<unsigned char>(ch);
        int32_t child = -1;
        for (const auto& [b, n] : trie.nodes[node].next)
            if (b == byte) child = n;
        if (child < 0) {
            child = static_cast<int32_t>(trie.nodes.size());
            trie.nodes[node].next.emplace_back(byte, child);
            trie.nodes.push_back(TrieNode{});
        }
        node = child;
    }
    trie.nodes[node].added = added_index;
    trie.first_byte[static_cast<unsigned char>(content[0])] = true;
}

// Cuts `text` at the added tokens of `trie`, like AddedVocabulary::find_matches: leftmost-longest non-overlapping
// matches (the search always resumes at the end of the match it found, even when single_word then discards it or
// rstrip extends it), lstrip/rstrip widening the match over white space. Empty pieces are dropped.
void Tokenizer::split_added_tokens(std::string_view text, const AddedTokenTrie& trie, std::vector<Piece>& out) const {
    size_t piece_start = 0;
    auto emit_text = [&](size_t begin, size_t end) {
        if (begin < end) out.push_back(Piece{std::string(text.substr(begin, end - begin)), -1});
    };
    if (!trie.empty()) {
        for (size_t pos = 0; pos < text.size();) {
            if (!trie.first_byte[static_cast<unsigned char>(text[pos])]) {
                ++pos;
                continue;
            }
            int32_t node = 0, found = -1;
            size_t found_end = 0;
            for (size_t i = pos; i < text.size(); ++i) {
                int32_t child = -1;
                for (const auto& [b, n] : trie.nodes[node].next)
                    if (b == static_cast<unsigned char>(text[i])) child = n;
                if (child < 0) break;
                node = child;
                if (trie.nodes[node].added >= 0) found = trie.nodes[node].added, found_end = i + 1;
            }
            if (found < 0) {
                ++pos;
                continue;
            }
            const AddedToken& token = added_tokens_[found];
            size_t start = pos, stop = found_end;
            pos = found_end;
            if (token.single_word) {
                const bool word_before =
                    start > 0 && is_word_char(next_char(text, last_char_start(text.substr(0, start))).code_point);
                const bool word_after = stop < text.size() && is_word_char(next_char(text, stop).code_point);
                if (word_before || word_after) continue;
            }
            if (token.lstrip) {
                size_t new_start = start;
                while (new_start > 0) {
                    const size_t c = last_char_start(text.substr(0, new_start));
                    if (!is_white_space(next_char(text, c).code_point)) break;
                    new_start = c;
                }
                start = std::max(new_start, piece_start);
            }
            if (token.rstrip) {
                while (stop < text.size()) {
                    const Utf8Char c = next_char(text, stop);
                    if (!is_white_space(c.code_point)) break;
                    stop += c.length;
                }
            }
            emit_text(piece_start, start);
            out.push_back(Piece{std::string(), token.id});
            piece_start = stop;
        }
    }
    emit_text(piece_start, text.size());
}

std::string Tokenizer::normalize(std::string_view text) const {
    std::string out(text);
    for (const NormalizeStep& step : normalizer_) {
        if (step.prepend) {
            if (!out.empty()) out.insert(0, step.content);  // HF prepends only to a non-empty string
        } else {
            replace_all(out, step.pattern, step.content);
        }
    }
    return out;
}

// Splits a normalized piece into the words the BPE runs on. With no pre-tokenizer the piece is one word.
void Tokenizer::pre_tokenize(std::string_view text, std::vector<std::string_view>& words) const {
    words.assign(1, text);
    for (const SplitStep& step : pre_tokenizer_) {
        std::vector<std::string_view> next;
        for (std::string_view word : words) {
            // Alternating spans of the word: (text, is_delimiter).
            std::vector<std::pair<std::string_view, bool>> spans;
            size_t pos = 0;
            for (size_t hit; !step.pattern.empty() && (hit = word.find(step.pattern, pos)) != std::string_view::npos;
                 pos = hit + step.pattern.size()) {
                if (hit > pos) spans.emplace_back(word.substr(pos, hit - pos), false);
                spans.emplace_back(word.substr(hit, step.pattern.size()), true);
            }
            if (pos < word.size()) spans.emplace_back(word.substr(pos), false);

            // Joins two adjacent spans of `word` (views into the same string) into one view.
            auto join = [](std::string_view a, std::string_view b) {
                return std::string_view(a.data(), static_cast<size_t>(b.data() + b.size() - a.data()));
            };
            std::vector<std::string_view> pieces;
            switch (step.behavior) {
            case SplitBehavior::removed:
                for (const auto& [s, delim] : spans)
                    if (!delim) pieces.push_back(s);
                break;
            case SplitBehavior::isolated:
                for (const auto& span : spans) pieces.push_back(span.first);
                break;
            case SplitBehavior::merged_with_previous: {  // a delimiter joins the piece before it, unless that was one
                bool previous_delim = false;
                for (const auto& [s, delim] : spans) {
                    if (delim && !previous_delim && !pieces.empty()) pieces.back() = join(pieces.back(), s);
                    else pieces.push_back(s);
                    previous_delim = delim;
                }
                break;
            }
            case SplitBehavior::merged_with_next: {  // a delimiter joins the piece after it, unless that is one
                bool next_delim = false;
                for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
                    if (it->second && !next_delim && !pieces.empty()) pieces.back() = join(it->first, pieces.back());
                    else pieces.push_back(it->first);
                    next_delim = it->second;
                }
                std::reverse(pieces.begin(), pieces.end());
                break;
            }
            case SplitBehavior::contiguous: {  // runs of delimiters become one piece
                bool previous_delim = false;
                for (const auto& [s, delim] : spans) {
                    if (delim && previous_delim) pieces.back() = join(pieces.back(), s);
                    else pieces.push_back(s);
                    previous_delim = delim;
                }
                break;
            }
            }
            for (std::string_view p : pieces)
                if (!p.empty()) next.push_back(p);
        }
        words = std::move(next);
    }
    std::erase_if(words, [](std::string_view w) { return w.empty(); });
}

// BPE on one word. A long word (a line of prose with no newline is one word for Gemma) is cut where no token can
// span the cut: between two characters that both have their own token and never stand side by side inside any
// vocabulary string. No merge can then join the two sides, so the result is the same as merging the whole word,
// and the heap stays small (4 MB of one-line English: 0.8 → 4 MB/s; see `gemma4 tokenize --bench`).
void Tokenizer::bpe(std::string_view word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (ignore_merges_) {
        if (auto it = vocab_.find(word); it != vocab_.end()) {
            out.push_back(it->second);
            return;
        }
    }
    constexpr size_t kPieceBytes = 256;  // look for a cut once a piece is this long
    size_t begin = 0;
    uint32_t previous = kInvalidCodePoint;
    for (size_t i = 0; i < word.size();) {
        const Utf8Char c = next_char(word, i);
        if (i - begin >= kPieceBytes && char_ids_.count(previous) && char_ids_.count(c.code_point) &&
            !adjacent_chars_.count(pair_key(static_cast<int32_t>(previous), static_cast<int32_t>(c.code_point)))) {
            bpe_merge(word.substr(begin, i - begin), out);
            begin = i;
        }
        previous = c.code_point;
        i += c.length;
    }
    bpe_merge(word.substr(begin), out);
}

// BPE merges on one word, as models/bpe (merge_word + Word::merge_all): one symbol per character (the character's
// token, else its "<0xXX>" byte tokens, else the unknown token), then repeatedly apply the lowest-ranked merge of two
// neighbours, leftmost first, via a min-heap of candidates. A candidate is stale when its left symbol was merged
// away or the pair at its place no longer gives the same merged id.
void Tokenizer::bpe_merge(std::string_view word, std::vector<int32_t>& out) const {
    struct Symbol {
        int32_t id;
        int32_t prev, next;  // neighbours in the word, -1 at the ends
        bool alive;          // false once merged into its left neighbour
    };
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    auto add = [&](int32_t id) {
        const auto index = static_cast<int32_t>(symbols.size());
        if (index > 0) symbols.back().next = index;
        symbols.push_back(Symbol{id, index - 1, -1, true});
    };

    bool unknown_pending = false;  // consecutive unknown characters become one <unk> when fuse_unk
    for (size_t i = 0; i < word.size();) {
        const Utf8Char c = next_char(word, i);
        const std::string_view bytes = word.substr(i, c.length);
        i += c.length;
        auto known = c.code_point == kInvalidCodePoint ? char_ids_.end() : char_ids_.find(c.code_point);
        if (known != char_ids_.end()) {
            if (unknown_pending) add(model_unk_id_), unknown_pending = false;
            add(known->second);
            continue;
        }
        if (byte_fallback_ && std::all_of(bytes.begin(), bytes.end(), [&](char b) {
                return byte_ids_[static_cast<unsigned char>(b)] >= 0;
            })) {
            // Hugging Face does not flush a pending <unk> here, so it lands after these bytes; same here.
            for (char b : bytes) add(byte_ids_[static_cast<unsigned char>(b)]);
            continue;
        }
        if (model_unk_id_ < 0) continue;  // no unknown token: the character is dropped, as HF does
        if (unknown_pending && !fuse_unk_) add(model_unk_id_);
        unknown_pending = true;
    }
    if (unknown_pending) add(model_unk_id_);

    auto find_rule = [&](int32_t left, int32_t right) -> const MergeRule* {
        auto it = merges_.find(pair_key(left, right));
        return it == merges_.end() ? nullptr : &it->second;
    };
    struct Candidate {
        int32_t rank, pos, merged_id;
    };
    auto comes_later = [](const Candidate& a, const Candidate& b) {
        return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
    };
    std::priority_queue<Candidate, std::vector<Candidate>, decltype(comes_later)> queue(comes_later);
    for (int32_t pos = 0; pos + 1 < static_cast<int32_t>(symbols.size()); ++pos)
        if (const MergeRule* rule = find_rule(symbols[pos].id, symbols[pos + 1].id))
            queue.push({rule->rank, pos, rule->merged_id});

    while (!queue.empty()) {
        const Candidate top = queue.top();
        queue.pop();
        Symbol& left = symbols[top.pos];
        if (!left.alive || left.next < 0) continue;
        const Symbol right = symbols[left.next];
        const MergeRule* rule = find_rule(left.id, right.id);
        if (rule == nullptr || rule->merged_id != top.merged_id) continue;  // stale candidate

        symbols[left.next].alive = false;
        left.id = top.merged_id;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = top.pos;
        if (left.prev >= 0) {
            if (const MergeRule* r = find_rule(symbols[left.prev].id, left.id))
                queue.push({r->rank, left.prev, r->merged_id});
        }
        if (left.next >= 0) {
            if (const MergeRule* r = find_rule(left.id, symbols[left.next].id))
                queue.push({r->rank, top.pos, r->merged_id});
        }
    }
    for (const Symbol& s : symbols)
        if (s.alive) out.push_back(s.id);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
    std::vector<int32_t> ids;
    if (add_bos) {
        if (bos_id_ < 0) fail("a BOS token was asked for, but the tokenizer files name none");
        ids.push_back(bos_id_);
    }
    std::vector<Piece> raw_pieces, pieces;
    std::vector<std::string_view> words;
    split_added_tokens(text, raw_trie_, raw_pieces);  // 1. added tokens written in the raw text
    for (const Piece& raw : raw_pieces) {
        if (raw.id >= 0) {
            ids.push_back(raw.id);
            continue;
        }
        pieces.clear();
        split_added_tokens(normalize(raw.text), normalized_trie_, pieces);  // 2. normalize, then normalized tokens
        for (const Piece& piece : pieces) {
            if (piece.id >= 0) {
                ids.push_back(piece.id);
                continue;
            }
            pre_tokenize(piece.text, words);  // 3. words, 4. BPE on each
            for (std::string_view word : words) bpe(word, ids);
        }
    }
    return ids;
}

// ---- decoding ---------------------------------------------------------------------------------------------------

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int32_t id : ids) {
        if (id < 0 || id >= vocab_size())
            fail("cannot decode token id " + std::to_string(id) + ": outside the vocabulary [0, " +
                 std::to_string(vocab_size()) + ")");
        if (id_known_[id] == 0) continue;  // a hole in the id range: HF drops ids it does not know
        if (skip_special && id_known_[id] == 2) continue;
        const int32_t o = id_decode_override_[id];
        tokens.push_back(o >= 0 ? decode_texts_[o] : id_text_[id]);
    }
    if (!has_decoder_) {  // HF joins the raw tokens with spaces when the file has no decoder
        std::string out;
        for (size_t i = 0; i < tokens.size(); ++i) {
            if (i > 0) out += ' ';
            out += tokens[i];
        }
        return out;
    }
    for (const DecodeStep& step : decoder_) {
        switch (step.kind) {
        case DecodeStep::Kind::replace:
            for (std::string& t : tokens) replace_all(t, step.pattern, step.content);
            break;
        case DecodeStep::Kind::fuse: {
            std::string fused;
            for (const std::string& t : tokens) fused += t;
            tokens.assign(1, fused);
            break;
        }
        case DecodeStep::Kind::byte_fallback: {
            // Runs of "<0xXX>" tokens become their bytes; a run that is not valid UTF-8 becomes one U+FFFD per byte.
            std::vector<std::string> merged;
            std::string run;
            size_t run_length = 0;
            auto flush = [&] {
                if (run_length == 0) return;
                if (is_valid_utf8(run)) merged.push_back(run);
                else
                    for (size_t k = 0; k < run_length; ++k) merged.emplace_back("\xEF\xBF\xBD");
                run.clear();
                run_length = 0;
            };
            for (std::string& t : tokens) {
                int value = -1;  // Rust's u8::from_str_radix(&t[3..5], 16), which also accepts "+F"
                if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
                    if (hex_digit(t[3]) >= 0 && hex_digit(t[4]) >= 0) value = hex_digit(t[3]) * 16 + hex_digit(t[4]);
                    else if (t[3] == '+' && hex_digit(t[4]) >= 0) value = hex_digit(t[4]);
                }
                if (value >= 0) {
                    run += static_cast<char>(value);
                    ++run_length;
                } else {
                    flush();
                    merged.push_back(std::move(t));
                }
            }
            flush();
            tokens = std::move(merged);
            break;
        }
        case DecodeStep::Kind::strip:
            for (std::string& t : tokens) {
                std::vector<std::pair<uint32_t, size_t>> chars;  // (code point, byte offset)
                for (size_t i = 0; i < t.size();) {
                    const Utf8Char c = next_char(t, i);
                    chars.emplace_back(c.code_point, i);
                    i += c.length;
                }
                size_t first = 0, last = chars.size();
                while (first < chars.size() && first < static_cast<size_t>(step.strip_start) &&
                       chars[first].first == step.strip_char)
                    ++first;
                for (int k = 0; k < step.strip_stop && last > first && chars[last - 1].first == step.strip_char; ++k)
                    --last;
                const size_t begin = first < chars.size() ? chars[first].second : t.size();
                const size_t end = last < chars.size() ? chars[last].second : t.size();
                t = t.substr(begin, end - begin);
            }
            break;
        }
    }
    std::string out;
    for (const std::string& t : tokens) out += t;
    return out;
}

}  // namespace gemma4
