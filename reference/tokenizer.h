// tokenizer.h — the Hugging Face tokenizer.json of the Gemma kind: byte-fallback BPE, added (special) tokens matched
// in the text first, Replace/Prepend normalizers, a plain-string Split pre-tokenizer, Replace/ByteFallback/Fuse/Strip
// decoding. Left out: other model types (Unigram, WordPiece), regex patterns, offsets, pairs, truncation, padding.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace gemma4 {

// One entry of tokenizer.json's "added_tokens". Added tokens are found in the text before anything else runs, longest
// match first, and each becomes its id directly (no BPE); the flags say how, exactly as Hugging Face `tokenizers`.
struct AddedToken {
    int32_t id = -1;
    std::string content;
    bool special = false;      // decode(..., skip_special = true) drops it
    bool lstrip = false;       // the match also swallows the whitespace on its left
    bool rstrip = false;       // ... and on its right
    bool single_word = false;  // not matched when a word character touches it on either side
    bool normalized = false;   // matched in the normalized text (so " " must be written "▁"); else in the raw input
};

class Tokenizer {
public:
    // model_dir/tokenizer.json, plus model_dir/tokenizer_config.json and model_dir/chat_template.jinja when present
    // (the .jinja file wins over a chat_template inside the config, as in transformers).
    static Tokenizer load(const std::string& model_dir);
    // tokenizer_config_json may be "": then bos/eos/pad are "<bos>", "<eos>", "<pad>" when the vocabulary has them.
    static Tokenizer load_files(const std::string& tokenizer_json, const std::string& tokenizer_config_json);

    // Ids for `text`, equal to HF `Tokenizer.encode(text, add_special_tokens=False).ids`, with bos_id() in front when
    // add_bos. Special tokens written in the text ("<bos>", "<|turn>") become their ids, as HF does by default.
    // Bytes that are not valid UTF-8 (HF cannot receive them) are encoded one by one through byte fallback.
    std::vector<int32_t> encode(std::string_view text, bool add_bos = false) const;

    // Text for `ids`, equal to HF `Tokenizer.decode(ids, skip_special_tokens=skip_special)`: byte tokens are joined
    // into UTF-8 and a run of them that is not valid UTF-8 becomes one U+FFFD per byte. An id outside
    // [0, vocab_size()) throws gemma4::Error naming it (HF silently drops it; a model emitting one is a bug to see).
    std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;

    int32_t token_id(std::string_view token) const;  // added tokens first, then the BPE vocabulary; -1 if absent
    std::string_view token_text(int32_t id) const;   // vocabulary string ("▁world", "<0x41>"); Error if out of range
    int32_t vocab_size() const { return static_cast<int32_t>(id_text_.size()); }  // highest id + 1
    bool is_special(int32_t id) const;               // an added token marked "special"

    int32_t bos_id() const { return bos_id_; }  // -1 when the files name none
    int32_t eos_id() const { return eos_id_; }
    int32_t pad_id() const { return pad_id_; }
    int32_t unk_id() const { return unk_id_; }
    bool add_bos_token() const { return add_bos_token_; }  // what the files ask for (encode() adds BOS only if told)
    bool add_eos_token() const { return add_eos_token_; }
    const std::string& chat_template() const { return chat_template_; }  // "" if none
    const std::vector<AddedToken>& added_tokens() const { return added_tokens_; }
    const std::string& path() const { return path_; }  // the tokenizer.json it was loaded from

private:
    // Hashing std::string keys so that lookups with a string_view need no copy.
    struct StringHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    using StringIds = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

    // A normalizer step ("Replace" pattern→content, or "Prepend" content); a "Sequence" is flattened into these.
    struct NormalizeStep {
        bool prepend = false;
        std::string pattern, content;
    };
    // The pre-tokenizer "Split" on a plain string; none means the whole normalized piece is one word.
    enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };
    struct SplitStep {
        std::string pattern;
        SplitBehavior behavior = SplitBehavior::isolated;
    };
    // A decoder step of the chain; "Sequence" is flattened into these.
    struct DecodeStep {
        enum class Kind { replace, byte_fallback, fuse, strip } kind = Kind::fuse;
        std::string pattern, content;  // replace
        uint32_t strip_char = ' ';     // strip: remove up to strip_start of it in front, strip_stop at the end
        int strip_start = 0, strip_stop = 0;
    };
    // A byte trie over added-token contents for leftmost-longest matching.
    struct TrieNode {
        int32_t added = -1;  // index into added_tokens_ of the token ending here
        std::vector<std::pair<unsigned char, int32_t>> next;
    };
    struct AddedTokenTrie {
        std::vector<TrieNode> nodes;
        std::array<bool, 256> first_byte{};  // quick reject: no token starts with this byte
        bool empty() const { return nodes.size() <= 1; }
    };
    // A text piece on its way through the pipeline, or an added token already resolved to its id.
    struct Piece {
        std::string text;
        int32_t id = -1;
    };
    struct MergeRule {
        int32_t rank;
        int32_t merged_id;
    };

    Tokenizer() = default;
    void parse_tokenizer_json(const std::string& json_text);
    void parse_tokenizer_config(const std::string& config_path, const std::string& json_text);
    [[noreturn]] void fail(const std::string& what) const;

    static void add_to_trie(AddedTokenTrie& trie, std::string_view content, int32_t added_index);
    void split_added_tokens(std::string_view text, const AddedTokenTrie& trie, std::vector<Piece>& out) const;
    std::string normalize(std::string_view text) const;
    void pre_tokenize(std::string_view text, std::vector<std::string_view>& words) const;
    void bpe(std::string_view word, std::vector<int32_t>& out) const;
    void bpe_merge(std::string_view word, std::vector<int32_t>& out) const;

    std::string path_;
    // BPE model
    StringIds vocab_;                                    // model.vocab: token string → id
    std::unordered_map<uint64_t, MergeRule> merges_;     // (left id << 32 | right id) → rank and merged id
    std::unordered_map<uint32_t, int32_t> char_ids_;     // code point → id of the one-character token
    std::unordered_set<uint64_t> adjacent_chars_;        // (a << 32 | b) for code points a, b side by side in a token
    std::array<int32_t, 256> byte_ids_{};                // byte → id of "<0xXX>", -1 if missing
    bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
    int32_t model_unk_id_ = -1;                          // model.unk_token, used for characters with no token
    // pipeline
    std::vector<NormalizeStep> normalizer_;
    std::vector<SplitStep> pre_tokenizer_;
    std::vector<DecodeStep> decoder_;
    bool has_decoder_ = false;
    // added tokens
    std::vector<AddedToken> added_tokens_;
    StringIds added_ids_;                                // content → id
    AddedTokenTrie raw_trie_, normalized_trie_;
    // id → text (vocab string, or added-token content), and what decode() feeds the decoder for it
    std::vector<std::string> id_text_;
    std::vector<int32_t> id_decode_override_;           // index into decode_texts_ or -1 (normalized added tokens)
    std::vector<std::string> decode_texts_;
    std::vector<uint8_t> id_known_;                      // 0: a gap in the id range, 1: a token, 2: a special token
    // tokenizer_config.json
    int32_t bos_id_ = -1, eos_id_ = -1, pad_id_ = -1, unk_id_ = -1;
    bool add_bos_token_ = false, add_eos_token_ = false;
    std::string chat_template_;
};

// True when `bytes` is valid UTF-8 by the rules Hugging Face's tokenizers apply (Rust's String::from_utf8: no overlong
// forms, no surrogates): text the reference and transformers can both take as a prompt.
bool is_valid_utf8_text(std::string_view bytes);

}  // namespace gemma4
