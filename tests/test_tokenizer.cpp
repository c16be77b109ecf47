// test_tokenizer.cpp — the tokenizer.json loader against Hugging Face `tokenizers` goldens (assets/tokenizer/, written
// by tools/goldens_tokenizer.py): identical ids on every corpus line, identical decode, robustness, malformed files.
// The Gemma 3 fixture lives in ../shared (skipped with a message when absent); speed is only printed, never asserted.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "error.h"
#include "tokenizer.h"

namespace {

namespace fs = std::filesystem;
using gemma4::Tokenizer;

const std::string kAssets = std::string(GEMMA4_ASSETS_DIR) + "/tokenizer";
const std::string kGemma3Dir = std::string(GEMMA4_SHARED_DIR) + "/assets/tokenizer-gemma3";

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

std::vector<std::string> read_corpus() {
    std::vector<std::string> corpus;
    for (const std::string& line : read_lines(kAssets + "/corpus.jsonl"))
        corpus.push_back(nlohmann::json::parse(line).get<std::string>());
    return corpus;
}

std::vector<int32_t> parse_ids(const std::string& line) {
    std::vector<int32_t> ids;
    std::istringstream in(line);
    for (int32_t id; in >> id;) ids.push_back(id);
    return ids;
}

std::string ids_to_string(const std::vector<int32_t>& ids) {
    std::string s;
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i > 0) s += ' ';
        s += std::to_string(ids[i]);
    }
    return s;
}

bool is_valid_utf8(const std::string& s) {
    try {
        (void)nlohmann::json(s).dump();  // nlohmann refuses invalid UTF-8
        return true;
    } catch (const nlohmann::json::type_error&) {
        return false;
    }
}

// Loaded once per process: the Gemma 3 tokenizer.json is 33 MB.
const Tokenizer* gemma3() {
    static const Tokenizer* tok =
        fs::exists(kGemma3Dir + "/tokenizer.json") ? new Tokenizer(Tokenizer::load(kGemma3Dir)) : nullptr;
    return tok;
}

// Every golden file of `name` (name.ids.txt, name.decoded.jsonl, name.random_decode.jsonl) against `tok`.
void check_goldens(const Tokenizer& tok, const std::string& name) {
    const std::vector<std::string> corpus = read_corpus();
    const std::vector<std::string> expected_ids = read_lines(kAssets + "/" + name + ".ids.txt");
    const std::vector<std::string> expected_text = read_lines(kAssets + "/" + name + ".decoded.jsonl");
    REQUIRE(expected_ids.size() == corpus.size());
    REQUIRE(expected_text.size() == corpus.size());

    size_t id_mismatches = 0, decode_mismatches = 0, round_trips = 0;
    for (size_t i = 0; i < corpus.size(); ++i) {
        const std::vector<int32_t> ids = tok.encode(corpus[i]);
        if (ids_to_string(ids) != expected_ids[i]) {
            if (id_mismatches++ == 0)
                MESSAGE(name << ": first differing corpus line " << i + 1 << ": " << nlohmann::json(corpus[i]).dump()
                             << "\n  expected: " << expected_ids[i] << "\n  got:      " << ids_to_string(ids));
        }
        const std::string want = nlohmann::json::parse(expected_text[i]).get<std::string>();
        const std::string got = tok.decode(parse_ids(expected_ids[i]));
        if (got != want && decode_mismatches++ == 0)
            MESSAGE(name << ": first differing decode, line " << i + 1
                         << "\n  expected: " << nlohmann::json(want).dump()
                         << "\n  got:      " << nlohmann::json(got).dump());
        if (want == corpus[i]) {  // where HF round-trips the text, so must we
            CHECK(tok.decode(ids) == corpus[i]);
            ++round_trips;
        }
    }
    MESSAGE(name << ": " << corpus.size() - id_mismatches << "/" << corpus.size()
                 << " corpus lines give identical ids; " << round_trips << " lines round-trip through decode in HF and here");
    CHECK(id_mismatches == 0);
    CHECK(decode_mismatches == 0);

    size_t random_mismatches = 0;
    for (const std::string& line : read_lines(kAssets + "/" + name + ".random_decode.jsonl")) {
        const auto golden = nlohmann::json::parse(line);
        const std::string got = tok.decode(golden.at("ids").get<std::vector<int32_t>>(), golden.at("skip_special"));
        if (got != golden.at("text").get<std::string>() && random_mismatches++ == 0)
            MESSAGE(name << ": random decode differs for " << line << "\n  got: " << nlohmann::json(got).dump());
    }
    CHECK(random_mismatches == 0);
}

// A scratch file holding `text`, named so error messages can be checked for it.
std::string write_temp(const std::string& name, const std::string& text) {
    const fs::path dir = fs::temp_directory_path() / "gemma4_test_tokenizer";
    fs::create_directories(dir);
    const fs::path path = dir / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
}

// The load error for a tokenizer.json holding `text`; "" if it loaded.
std::string load_error(const std::string& name, const std::string& text) {
    const std::string path = write_temp(name, text);
    try {
        Tokenizer::load_files(path, "");
    } catch (const gemma4::Error& e) {
        const std::string what = e.what();
        CHECK_MESSAGE(what.find(path) != std::string::npos, "error does not name the file: " << what);
        return what;
    }
    return "";
}

const char* kSmallModel = R"({"type": "BPE", "vocab": {"<unk>": 0, "a": 1, "b": 2, "ab": 3}, "merges": [["a", "b"]],
                              "unk_token": "<unk>", "byte_fallback": false})";

std::string small_tokenizer_json(const std::string& model, const std::string& extra = "") {
    return std::string(R"({"version": "1.0", "added_tokens": [], )") + extra + R"("model": )" + model + "}";
}

}  // namespace

TEST_CASE("tokenizer: Gemma 3 tokenizer.json gives Hugging Face's ids and text on every corpus line") {
    const Tokenizer* tok = gemma3();
    if (tok == nullptr) {
        MESSAGE("skipped: " << kGemma3Dir << " is absent");
        return;
    }
    check_goldens(*tok, "gemma3");
}

TEST_CASE("tokenizer: Gemma 3 special tokens, ids and config come from the files") {
    const Tokenizer* tok = gemma3();
    if (tok == nullptr) {
        MESSAGE("skipped: " << kGemma3Dir << " is absent");
        return;
    }
    CHECK(tok->vocab_size() == 262145);  // 262144 pieces + <image_soft_token>, an added token outside the vocab
    CHECK(tok->bos_id() == tok->token_id("<bos>"));
    CHECK(tok->token_id("<bos>") == 2);
    CHECK(tok->eos_id() == tok->token_id("<end_of_turn>"));  // tokenizer_config.json names <end_of_turn> as EOS
    CHECK(tok->pad_id() == 0);
    CHECK(tok->unk_id() == 3);
    CHECK(tok->add_bos_token());
    CHECK_FALSE(tok->add_eos_token());
    CHECK(tok->chat_template().find("<start_of_turn>") != std::string::npos);
    CHECK(tok->token_id("no such token") == -1);
    CHECK(tok->token_text(2) == "<bos>");
    CHECK(tok->is_special(tok->token_id("<start_of_turn>")));
    CHECK_FALSE(tok->is_special(tok->token_id("<mask>")));  // an added token, but not a special one
    CHECK_THROWS_AS(tok->token_text(-1), gemma4::Error);
    CHECK_THROWS_AS(tok->token_text(tok->vocab_size()), gemma4::Error);

    const int32_t start = tok->token_id("<start_of_turn>"), end = tok->token_id("<end_of_turn>");
    const std::vector<int32_t> ids = tok->encode("<start_of_turn>user\nHi<end_of_turn>", true);
    REQUIRE(ids.size() >= 4);
    CHECK(ids.front() == tok->bos_id());
    CHECK(ids[1] == start);
    CHECK(ids.back() == end);
    CHECK(tok->decode(ids) == "<bos><start_of_turn>user\nHi<end_of_turn>");
    CHECK(tok->decode(ids, true) == "user\nHi");
    CHECK(tok->encode("<bos>") == std::vector<int32_t>{tok->bos_id()});
    CHECK(tok->encode("").empty());
    // Byte fallback: U+00A0 is not a piece of the vocabulary, so it travels as its two UTF-8 bytes.
    const std::vector<int32_t> nbsp = tok->encode("\u00a0");
    CHECK(nbsp == std::vector<int32_t>{tok->token_id("<0xC2>"), tok->token_id("<0xA0>")});
    // Half a character decodes to U+FFFD per byte, as in HF.
    CHECK(tok->decode({tok->token_id("<0xC2>")}) == "\xEF\xBF\xBD");
}

TEST_CASE("tokenizer: decoding random ids never crashes, and out-of-range ids throw gemma4::Error") {
    const Tokenizer* gemma = gemma3();
    const Tokenizer synthetic = Tokenizer::load(kAssets + "/synthetic-a");
    for (const Tokenizer* tok : {gemma, &synthetic}) {
        if (tok == nullptr) continue;
        std::vector<int32_t> byte_ids;
        for (int b = 0; b < 256; ++b) {
            char name[8];
            std::snprintf(name, sizeof name, "<0x%02X>", b);
            byte_ids.push_back(tok->token_id(name));
        }
        std::mt19937 rng(1234);
        for (int trial = 0; trial < 2000; ++trial) {
            std::vector<int32_t> ids(rng() % 20);
            bool out_of_range = false;
            for (int32_t& id : ids) {
                const unsigned kind = rng() % 10;
                if (kind < 5) id = byte_ids[rng() % 256];  // mostly bytes: invalid UTF-8 runs
                else if (kind < 9) id = static_cast<int32_t>(rng() % tok->vocab_size());
                else if (rng() % 2) id = -1 - static_cast<int32_t>(rng() % 5);
                else id = tok->vocab_size() + static_cast<int32_t>(rng() % 5);
                out_of_range = out_of_range || id < 0 || id >= tok->vocab_size();
            }
            if (out_of_range) {
                CHECK_THROWS_AS(tok->decode(ids), gemma4::Error);
            } else {
                const std::string text = tok->decode(ids, trial % 2 == 1);
                CHECK(is_valid_utf8(text));
            }
        }
    }
}

TEST_CASE("tokenizer: synthetic tokenizers cover lstrip/rstrip/single_word/normalized, Prepend, Split, Strip, unk") {
    // synthetic-a: byte fallback, Prepend + Replace, Split "▁" merged with next, Strip decoder, "a b" merges, every
    // added-token flag; synthetic-b: no byte fallback (fused <unk>), no normalizer, no decoder, [a, b] merges.
    const Tokenizer a = Tokenizer::load(kAssets + "/synthetic-a");
    check_goldens(a, "synthetic-a");
    CHECK(a.eos_id() == a.token_id("<end_of_turn>"));  // a config token written as an object
    CHECK(a.chat_template().rfind("{{ bos_token }}", 0) == 0);  // the "default" entry of a template list

    const Tokenizer b = Tokenizer::load_files(kAssets + "/synthetic-b/tokenizer.json", "");
    check_goldens(b, "synthetic-b");
    CHECK(b.bos_id() == b.token_id("<bos>"));  // no config: "<bos>" because the vocabulary happens to have it
    CHECK(b.pad_id() == -1);                   // ... and no "<pad>"
}

TEST_CASE("tokenizer: a number beyond double range is an Error naming the file (fuzz finding)") {
    // nlohmann throws out_of_range (not parse_error) for 1e400, which escaped both parsers.
    CHECK(load_error("huge_number.json", R"({"model": {"dropout": 1e400}})").find("not valid JSON") != std::string::npos);
    const std::string good = write_temp("good_for_huge.json", small_tokenizer_json(kSmallModel));
    const std::string config = write_temp("huge_config.json", R"({"add_bos_token": 1e400})");
    CHECK_THROWS_WITH_AS(Tokenizer::load_files(good, config), doctest::Contains((config + ": not valid JSON").c_str()),
                         gemma4::Error);
}

TEST_CASE("tokenizer: a vocabulary id beyond 2^24 is refused by name (fuzz finding)") {
    // The id tables are sized by the largest id: 2147483647 overflowed max_id + 1 (UBSan) and 10^9 asked for ~30 GB.
    for (const char* id : {"2147483647", "1000000000", "16777216"}) {
        CAPTURE(id);
        const std::string msg = load_error(
            "huge_id.json", small_tokenizer_json(std::string(R"({"type": "BPE", "vocab": {"a": 0, "b": )") + id +
                                                 R"(}, "merges": []})"));
        CHECK(msg.find(std::string("entry 'b' has id ") + id) != std::string::npos);  // "model.vocab entry" on i10-badinput
    }
    CHECK(load_error("gap.json", small_tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0, "b": 1000}, "merges": []})"))
              .empty());  // a gap in the ids is fine
}

TEST_CASE("tokenizer: Replace chains that could blow a text up are refused by name (fuzz finding)") {
    // 20 decoder (or normalizer) steps of "a" -> "aaaa" made decode("a") 4^20 bytes long: fuzz_tokenizer timed out.
    std::string steps;
    for (int i = 0; i < 20; ++i)
        steps += std::string(i ? ", " : "") + R"({"type": "Replace", "pattern": {"String": "a"}, "content": "aaaa"})";
    CHECK(load_error("decoder_bomb.json",
                     small_tokenizer_json(kSmallModel, R"("decoder": {"type": "Sequence", "decoders": [)" + steps + "]}, "))
              .find("decoder Replace steps could make a text 1.1e+12 times longer; at most 1024") != std::string::npos);
    CHECK(load_error("normalizer_bomb.json",
                     small_tokenizer_json(kSmallModel, R"("normalizer": {"type": "Sequence", "normalizers": [)" + steps + "]}, "))
              .find("normalizer Replace steps could make a text") != std::string::npos);
    // Gemma's own: " " -> "▁" (3 bytes) in the normalizer, "▁" -> " " in the decoder.
    CHECK(load_error("gemma_like.json", small_tokenizer_json(kSmallModel, R"("normalizer": {"type": "Replace",
                     "pattern": {"String": " "}, "content": "▁"}, )")).empty());
}

TEST_CASE("tokenizer: the tiny test model's tokenizer matches its goldens") {
    const std::string dir = std::string(GEMMA4_ASSETS_DIR) + "/models/tiny-e2b";
    if (!fs::exists(dir + "/tokenizer.json") || !fs::exists(kAssets + "/tiny.ids.txt")) {
        MESSAGE("skipped: " << dir << "/tokenizer.json or its goldens (tools/goldens_tokenizer.py) are absent");
        return;
    }
    check_goldens(Tokenizer::load(dir), "tiny");
}

TEST_CASE("tokenizer: the demo models' tokenizer (BPE learned on the King James Bible) matches its goldens") {
    const std::string dir = std::string(GEMMA4_ASSETS_DIR) + "/models/demo-e2b-mini";
    const Tokenizer tok = Tokenizer::load(dir);
    check_goldens(tok, "demo");
    CHECK(tok.vocab_size() == 2048);
    CHECK(tok.token_id("<|turn>") == 5);
    CHECK(tok.token_id("<turn|>") == 6);
    CHECK(tok.bos_id() == 2);
    // Words of its corpus are single pieces, a leading space included (ids and pieces from `tokenizers`).
    CHECK(tok.encode("And God said, Let there be light", false) == std::vector<int32_t>{366, 458, 578, 1621, 451, 365, 1138});
    CHECK(tok.token_id("\u2581LORD") == 413);
    CHECK(tok.decode(tok.encode("And God said, Let there be light: and there was light.", false)) ==
          "And God said, Let there be light: and there was light.");
}

TEST_CASE("tokenizer: malformed tokenizer.json files are errors that name the file and the problem") {
    CHECK(load_error("not_json.json", "{ this is not json").find("not valid JSON") != std::string::npos);
    CHECK(load_error("array.json", "[1, 2]").find("not a JSON object") != std::string::npos);
    CHECK(load_error("no_model.json", R"({"version": "1.0"})").find("\"model\"") != std::string::npos);
    CHECK(load_error("unigram.json", small_tokenizer_json(R"({"type": "Unigram", "vocab": []})"))
              .find("model type 'Unigram'") != std::string::npos);
    CHECK(load_error("bad_merge.json",
                     small_tokenizer_json(
                         R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "c"]]})"))
              .find("'c', which is not in the vocabulary") != std::string::npos);
    CHECK(load_error("bad_merged.json",
                     small_tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]})"))
              .find("'ab', which is not in the vocabulary") != std::string::npos);
    CHECK(load_error("bad_merge_string.json",
                     small_tokenizer_json(R"({"type": "BPE", "vocab": {"a": 0}, "merges": ["a b c"]})"))
              .find("merge #0") != std::string::npos);
    CHECK(load_error("nfkc.json", small_tokenizer_json(kSmallModel, R"("normalizer": {"type": "NFKC"}, )"))
              .find("normalizer 'NFKC'") != std::string::npos);
    CHECK(load_error("regex.json",
                     small_tokenizer_json(kSmallModel, R"("pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\s+"},
                                                           "behavior": "Isolated", "invert": false}, )"))
              .find("Regex") != std::string::npos);
    CHECK(load_error("bytelevel.json", small_tokenizer_json(kSmallModel, R"("decoder": {"type": "ByteLevel"}, )"))
              .find("decoder 'ByteLevel'") != std::string::npos);
    CHECK(load_error("vocab_type.json",
                     small_tokenizer_json(R"({"type": "BPE", "vocab": {"a": "zero"}, "merges": []})"))
              .find("model.vocab entry 'a' has id \"zero\"") != std::string::npos);
    CHECK(load_error("good.json", small_tokenizer_json(kSmallModel)).empty());

    const std::string good = write_temp("good2.json", small_tokenizer_json(kSmallModel));
    const std::string bad_config = write_temp("bad_config.json", "{ nope");
    try {
        Tokenizer::load_files(good, bad_config);
        FAIL("a broken tokenizer_config.json loaded");
    } catch (const gemma4::Error& e) {
        CHECK(std::string(e.what()).find(bad_config) != std::string::npos);
    }
    const std::string missing_bos = write_temp("missing_bos.json", R"({"bos_token": "<s>"})");
    CHECK_THROWS_WITH_AS(Tokenizer::load_files(good, missing_bos), doctest::Contains("bos_token '<s>'"), gemma4::Error);
    CHECK_THROWS_AS(Tokenizer::load(write_temp("not_a_dir", "")), gemma4::Error);
    CHECK_THROWS_AS(Tokenizer::load_files(kAssets + "/no/such/tokenizer.json", ""), gemma4::Error);

    const Tokenizer small = Tokenizer::load_files(good, "");
    CHECK(small.encode("abba") == std::vector<int32_t>{3, 2, 1});
    CHECK(small.encode("axxb") == std::vector<int32_t>{1, 0, 0, 2});  // fuse_unk off: one <unk> per character
    CHECK(small.decode({3, 2, 1}) == "ab b a");                   // no decoder: tokens joined with spaces, as HF
    CHECK(small.bos_id() == -1);
    CHECK_THROWS_AS(small.encode("a", true), gemma4::Error);       // no BOS token to add
}

TEST_CASE("tokenizer: encoding speed on the corpus (printed, not asserted)") {
    const Tokenizer* tok = gemma3();
    if (tok == nullptr) {
        MESSAGE("skipped: " << kGemma3Dir << " is absent");
        return;
    }
    std::string text;
    for (const std::string& s : read_corpus()) text += s + "\n";
    size_t bytes = 0, tokens = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int rep = 0; rep < 5; ++rep) {
        tokens += tok->encode(text).size();
        bytes += text.size();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE("Gemma 3 tokenizer: " << bytes / seconds / 1e6 << " MB/s, " << tokens / seconds / 1e6
                                  << " M tokens/s on the golden corpus (mixed scripts, code, emoji)");
}
