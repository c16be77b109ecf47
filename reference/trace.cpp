// trace.cpp — writing and reading the meta of .npz traces (trace.h).
#include "trace.h"

#include <openssl/evp.h>

#include <cstring>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "error.h"
#include "multimodal.h"

namespace gemma4 {

void write_trace(const std::string& path, const std::vector<RecordingSink::Entry>& probes, const TraceMeta& meta) {
    NpzWriter out(path);
    for (const RecordingSink::Entry& e : probes) out.add_f32(e.name, e.data.data(), e.shape);
    out.add_string("meta.model", meta.model);
    out.add_string("meta.config_hash", meta.config_hash);
    out.add_string("meta.prompt", meta.prompt);
    out.add_i64("meta.tokens", meta.tokens.data(), {static_cast<int64_t>(meta.tokens.size())});
    out.add_string("meta.backend", meta.backend);
    out.add_string("meta.tool_version", meta.tool_version);
    out.close();
}

std::vector<NpyArray> to_arrays(const std::vector<RecordingSink::Entry>& probes) {
    std::vector<NpyArray> out;
    out.reserve(probes.size());
    for (const RecordingSink::Entry& e : probes) {
        NpyArray a;
        a.name = e.name;
        a.descr = "<f4";
        a.shape = e.shape;
        a.data.resize(e.data.size() * sizeof(float));
        std::memcpy(a.data.data(), e.data.data(), a.data.size());
        out.push_back(std::move(a));
    }
    return out;
}

std::vector<NpyArray> trace_forward(const Checkpoint& ck, const TextInput& input, const std::vector<std::string>& globs,
                                    ForwardOptions opts) {
    RecordingSink sink(globs);
    opts.probes = &sink;
    TextModel model(ck);
    KvCache cache(model.config());
    std::vector<float> logits;
    model.forward(input, cache, logits, opts);
    return to_arrays(sink.entries());
}

TextInput golden_text_input(const ModelConfig& cfg, const std::vector<NpyArray>& golden, const std::string& path) {
    const TraceMeta meta = trace_meta(golden, path);
    if (meta.tokens.empty()) throw Error(path + ": no meta.tokens entry (the token ids the golden was made with)");
    const NpyArray* image = find_array(golden, "vision.soft_tokens");
    const NpyArray* audio = find_array(golden, "audio.soft_tokens");
    return attach_soft_tokens(cfg, std::vector<int32_t>(meta.tokens.begin(), meta.tokens.end()),
                              image ? image->to_f32() : std::vector<float>{}, audio ? audio->to_f32() : std::vector<float>{});
}

TraceMeta trace_meta(const std::vector<NpyArray>& arrays, const std::string& path) {
    TraceMeta m;
    auto text = [&](const char* name, std::string* out) {
        if (const NpyArray* a = find_array(arrays, name)) {
            try {
                *out = a->to_string();
            } catch (const Error& e) {
                throw Error(path + ": " + name + ": " + e.what());
            }
        }
    };
    text("meta.model", &m.model);
    text("meta.config_hash", &m.config_hash);
    text("meta.prompt", &m.prompt);
    text("meta.backend", &m.backend);
    text("meta.tool_version", &m.tool_version);
    if (const NpyArray* a = find_array(arrays, "meta.tokens")) {
        if (a->shape.size() != 1)
            throw Error(path + ": meta.tokens must be a 1-D list of token ids, got " + std::to_string(a->shape.size()) + " dimensions");
        try {
            m.tokens = a->to_i64();
        } catch (const Error& e) {
            throw Error(path + ": meta.tokens: " + e.what());
        }
    }
    return m;
}

std::string sha256_file_hex(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open to hash");
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    char buf[1 << 16];
    while (in) {
        in.read(buf, sizeof buf);
        EVP_DigestUpdate(ctx, buf, static_cast<size_t>(in.gcount()));
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, digest, &len);
    EVP_MD_CTX_free(ctx);
    std::ostringstream hex;
    for (unsigned int i = 0; i < len; ++i) hex << std::hex << std::setw(2) << std::setfill('0') << static_cast<int>(digest[i]);
    return hex.str();
}

}  // namespace gemma4
