// config.cpp — config.json → ModelConfig, with errors that name the file and the field, and the derived per-layer
// facts that need more than one line. Field names and defaults follow transformers' configuration_gemma4.py.
#include "config.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "error.h"

namespace gemma4 {

using json = nlohmann::json;

const char* layer_kind_name(LayerKind k) { return k == LayerKind::Full ? "full_attention" : "sliding_attention"; }

std::vector<LayerKind> make_layer_types(int num_layers, int full_every) {
    std::vector<LayerKind> types(num_layers > 0 ? num_layers : 0, LayerKind::Sliding);
    for (int i = 0; i < num_layers; ++i)
        if ((i + 1) % full_every == 0) types[i] = LayerKind::Full;
    if (!types.empty()) types.back() = LayerKind::Full;  // transformers forces the last layer to full attention
    return types;
}

int TextConfig::kv_source_layer(int l) const {
    if (!is_kv_shared(l)) return l;
    // kv_sharing_modes in configuration_gemma4.py: the last non-shared layer of the same kind stores its K/V.
    for (int src = first_kv_shared_layer() - 1; src >= 0; --src)
        if (layer_types[src] == layer_types[l]) return src;
    return l;  // validate_config() rejects configs where this happens
}

int TextConfig::rotated_pairs(int l) const {
    const RopeParams& r = rope(l);
    const int dh = layer_head_dim(l);
    if (r.type == "proportional") return static_cast<int>(r.partial_rotary_factor * dh / 2);
    return dh / 2;
}

// ---- reading fields ---------------------------------------------------------------------------------------------

namespace {

// Reads one optional field with a type check; the error names the file, the JSON path and the expected type.
class FieldReader {
public:
    FieldReader(const json& obj, std::string file, std::string path) : obj_(obj), file_(std::move(file)), path_(std::move(path)) {}

    bool present(const char* key) const { return obj_.contains(key) && !obj_.at(key).is_null(); }

    void get_int(const char* key, int* out) const {
        if (!present(key)) return;
        const json& v = obj_.at(key);
        if (!v.is_number_integer()) fail(key, "an integer", v);
        long long x = v.get<long long>();
        if (x < -2147483648LL || x > 2147483647LL) fail(key, "an integer that fits in 32 bits", v);
        *out = static_cast<int>(x);
    }
    void get_double(const char* key, double* out) const {
        if (!present(key)) return;
        const json& v = obj_.at(key);
        if (!v.is_number()) fail(key, "a number", v);
        *out = v.get<double>();
    }
    void get_bool(const char* key, bool* out) const {
        if (!present(key)) return;
        const json& v = obj_.at(key);
        if (!v.is_boolean()) fail(key, "true or false", v);
        *out = v.get<bool>();
    }
    void get_string(const char* key, std::string* out) const {
        if (!present(key)) return;
        const json& v = obj_.at(key);
        if (!v.is_string()) fail(key, "a string", v);
        *out = v.get<std::string>();
    }
    [[noreturn]] void fail(const char* key, const std::string& expected, const json& got) const {
        std::string shown = got.dump();
        if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
        throw Error(file_ + ": field " + path_ + key + " must be " + expected + ", got " + shown);
    }
    [[noreturn]] void fail_msg(const std::string& key, const std::string& msg) const {
        throw Error(file_ + ": field " + path_ + key + ": " + msg);
    }
    const json& obj() const { return obj_; }

private:
    const json& obj_;
    std::string file_;
    std::string path_;
};

RopeParams parse_rope(const json& j, const std::string& file, const std::string& path) {
    if (!j.is_object()) throw Error(file + ": field " + path + " must be an object");
    FieldReader f(j, file, path + ".");
    RopeParams r;
    f.get_string("rope_type", &r.type);
    f.get_double("rope_theta", &r.theta);
    f.get_double("partial_rotary_factor", &r.partial_rotary_factor);
    f.get_double("factor", &r.factor);
    if (r.type != "default" && r.type != "proportional")
        f.fail_msg("rope_type", "'" + r.type + "' is not supported (expected default or proportional)");
    if (!(r.theta > 0)) f.fail_msg("rope_theta", "must be > 0");
    if (!(r.partial_rotary_factor > 0 && r.partial_rotary_factor <= 1)) f.fail_msg("partial_rotary_factor", "must be in (0, 1]");
    if (!(r.factor > 0)) f.fail_msg("factor", "must be > 0");
    return r;
}

TextConfig parse_text(const json& j, const std::string& file, const std::string& path) {
    FieldReader f(j, file, path);
    TextConfig t;
    f.get_int("vocab_size", &t.vocab_size);
    f.get_int("hidden_size", &t.hidden_size);
    f.get_int("intermediate_size", &t.intermediate_size);
    f.get_int("num_hidden_layers", &t.num_hidden_layers);
    f.get_int("num_attention_heads", &t.num_attention_heads);
    f.get_int("num_key_value_heads", &t.num_key_value_heads);
    f.get_int("head_dim", &t.head_dim);
    f.get_string("hidden_activation", &t.hidden_activation);
    f.get_int("max_position_embeddings", &t.max_position_embeddings);
    f.get_double("rms_norm_eps", &t.rms_norm_eps);
    f.get_int("pad_token_id", &t.pad_token_id);
    f.get_int("bos_token_id", &t.bos_token_id);
    if (f.present("eos_token_id")) {
        const json& e = j.at("eos_token_id");
        t.eos_token_ids.clear();
        if (e.is_number_integer()) {
            t.eos_token_ids.push_back(e.get<int>());
        } else if (e.is_array()) {
            for (const json& x : e) {
                if (!x.is_number_integer()) f.fail("eos_token_id", "an integer or a list of integers", e);
                t.eos_token_ids.push_back(x.get<int>());
            }
        } else {
            f.fail("eos_token_id", "an integer or a list of integers", e);
        }
    }
    f.get_bool("tie_word_embeddings", &t.tie_word_embeddings);
    f.get_bool("attention_bias", &t.attention_bias);
    f.get_int("sliding_window", &t.sliding_window);
    if (f.present("final_logit_softcapping")) f.get_double("final_logit_softcapping", &t.final_logit_softcapping);
    f.get_string("use_bidirectional_attention", &t.use_bidirectional_attention);
    f.get_int("vocab_size_per_layer_input", &t.vocab_size_per_layer_input);
    f.get_int("hidden_size_per_layer_input", &t.hidden_size_per_layer_input);
    f.get_bool("attention_k_eq_v", &t.attention_k_eq_v);
    f.get_int("num_kv_shared_layers", &t.num_kv_shared_layers);
    f.get_bool("enable_moe_block", &t.enable_moe_block);
    f.get_bool("use_double_wide_mlp", &t.use_double_wide_mlp);
    f.get_int("num_experts", &t.num_experts);
    f.get_int("top_k_experts", &t.top_k_experts);
    f.get_int("moe_intermediate_size", &t.moe_intermediate_size);

    if (t.num_hidden_layers <= 0 || t.num_hidden_layers > 100000)
        f.fail_msg("num_hidden_layers", "must be between 1 and 100000, got " + std::to_string(t.num_hidden_layers));

    // layer_types: given, or transformers' default 5:1 rhythm; the last layer is forced to full attention.
    if (f.present("layer_types")) {
        const json& lt = j.at("layer_types");
        if (!lt.is_array()) f.fail("layer_types", "a list of \"sliding_attention\"/\"full_attention\"", lt);
        for (const json& x : lt) {
            if (x == "sliding_attention") t.layer_types.push_back(LayerKind::Sliding);
            else if (x == "full_attention") t.layer_types.push_back(LayerKind::Full);
            else f.fail("layer_types", "a list of \"sliding_attention\"/\"full_attention\"", x);
        }
        if (static_cast<int>(t.layer_types.size()) != t.num_hidden_layers)
            f.fail_msg("layer_types", "has " + std::to_string(t.layer_types.size()) + " entries but num_hidden_layers is " +
                                          std::to_string(t.num_hidden_layers));
        t.layer_types.back() = LayerKind::Full;
    } else {
        t.layer_types = make_layer_types(t.num_hidden_layers, 6);
    }

    if (f.present("rope_parameters")) {
        const json& rp = j.at("rope_parameters");
        if (!rp.is_object()) f.fail("rope_parameters", "an object keyed by layer type", rp);
        if (rp.contains("sliding_attention")) t.rope_sliding = parse_rope(rp.at("sliding_attention"), file, path + "rope_parameters.sliding_attention");
        if (rp.contains("full_attention")) t.rope_full = parse_rope(rp.at("full_attention"), file, path + "rope_parameters.full_attention");
    }

    // Full-layer head dim and KV heads: the older form has them as fields, the newest folds them into
    // per_layer_config {layer index or layer type: {head_dim, num_key_value_heads}}. We accept both, and require the
    // overrides to describe "every full layer gets X" (the only pattern transformers generates), so the per-layer
    // facts stay derived.
    f.get_int("global_head_dim", &t.global_head_dim);
    f.get_int("num_global_key_value_heads", &t.num_global_key_value_heads);
    if (f.present("per_layer_config")) {
        const json& plc = j.at("per_layer_config");
        if (!plc.is_object()) f.fail("per_layer_config", "an object keyed by layer index", plc);
        bool seen_full = false;
        for (auto it = plc.begin(); it != plc.end(); ++it) {
            const std::string& key = it.key();
            const json& ov = it.value();
            std::string key_path = "per_layer_config." + key;
            if (!ov.is_object()) f.fail(key_path.c_str(), "an object", ov);
            LayerKind kind;
            if (key == "full_attention" || key == "sliding_attention") {
                kind = key == "full_attention" ? LayerKind::Full : LayerKind::Sliding;
            } else {
                int idx = -1;
                try {
                    size_t used = 0;
                    idx = std::stoi(key, &used);
                    if (used != key.size()) idx = -1;
                } catch (...) {
                    idx = -1;
                }
                if (idx < 0 || idx >= t.num_hidden_layers)
                    f.fail_msg(key_path, "is not a layer index in 0.." + std::to_string(t.num_hidden_layers - 1));
                kind = t.layer_types[idx];
            }
            FieldReader o(ov, file, path + key_path + ".");
            for (auto jt = ov.begin(); jt != ov.end(); ++jt)
                if (jt.key() != "head_dim" && jt.key() != "num_key_value_heads")
                    o.fail_msg(jt.key(), "per-layer override of this field is not supported");
            int hd = kind == LayerKind::Full ? t.global_head_dim : t.head_dim;
            int kv = kind == LayerKind::Full && t.num_global_key_value_heads > 0 ? t.num_global_key_value_heads : t.num_key_value_heads;
            o.get_int("head_dim", &hd);
            o.get_int("num_key_value_heads", &kv);
            if (kind == LayerKind::Sliding) {
                if (hd != t.head_dim || kv != t.num_key_value_heads)
                    f.fail_msg(key_path, "overrides a sliding layer; only full-attention layers may differ");
                continue;
            }
            if (ov.contains("num_key_value_heads") && !t.attention_k_eq_v && kv != t.num_key_value_heads)
                f.fail_msg(key_path, "changes the KV heads of a full layer without attention_k_eq_v (not supported)");
            if (!seen_full) {
                t.global_head_dim = hd;
                if (ov.contains("num_key_value_heads")) t.num_global_key_value_heads = kv;
                seen_full = true;
            } else if (hd != t.global_head_dim || (ov.contains("num_key_value_heads") && kv != t.num_global_key_value_heads)) {
                f.fail_msg(key_path, "differs from the other full-attention layers; every full layer must share one shape");
            }
        }
    }
    return t;
}

VisionConfig parse_vision(const json& j, const std::string& file) {
    if (!j.is_object()) throw Error(file + ": field vision_config must be an object");
    FieldReader f(j, file, "vision_config.");
    VisionConfig v;
    f.get_int("hidden_size", &v.hidden_size);
    f.get_int("intermediate_size", &v.intermediate_size);
    f.get_int("num_hidden_layers", &v.num_hidden_layers);
    f.get_int("num_attention_heads", &v.num_attention_heads);
    f.get_int("num_key_value_heads", &v.num_key_value_heads);
    f.get_int("head_dim", &v.head_dim);
    f.get_string("hidden_activation", &v.hidden_activation);
    f.get_double("rms_norm_eps", &v.rms_norm_eps);
    f.get_int("pooling_kernel_size", &v.pooling_kernel_size);
    f.get_int("patch_size", &v.patch_size);
    f.get_int("position_embedding_size", &v.position_embedding_size);
    f.get_bool("use_clipped_linears", &v.use_clipped_linears);
    f.get_bool("standardize", &v.standardize);
    if (f.present("rope_parameters")) {
        const json& rp = j.at("rope_parameters");
        if (!rp.is_object()) f.fail("rope_parameters", "an object", rp);
        FieldReader r(rp, file, "vision_config.rope_parameters.");
        std::string type = "axial";
        r.get_string("rope_type", &type);
        if (type != "axial" && type != "default") r.fail_msg("rope_type", "'" + type + "' is not supported (expected axial)");
        r.get_double("rope_theta", &v.rope_theta);
    }
    return v;
}

AudioConfig parse_audio(const json& j, const std::string& file) {
    if (!j.is_object()) throw Error(file + ": field audio_config must be an object");
    FieldReader f(j, file, "audio_config.");
    AudioConfig a;
    f.get_int("hidden_size", &a.hidden_size);
    f.get_int("num_hidden_layers", &a.num_hidden_layers);
    f.get_int("num_attention_heads", &a.num_attention_heads);
    f.get_string("hidden_act", &a.hidden_act);
    if (f.present("subsampling_conv_channels")) {
        const json& c = j.at("subsampling_conv_channels");
        if (!c.is_array() || c.size() != 2 || !c[0].is_number_integer() || !c[1].is_number_integer())
            f.fail("subsampling_conv_channels", "a list of two integers", c);
        a.subsampling_conv_channels[0] = c[0].get<int>();
        a.subsampling_conv_channels[1] = c[1].get<int>();
    }
    f.get_int("conv_kernel_size", &a.conv_kernel_size);
    f.get_double("residual_weight", &a.residual_weight);
    f.get_int("attention_chunk_size", &a.attention_chunk_size);
    f.get_int("attention_context_left", &a.attention_context_left);
    f.get_int("attention_context_right", &a.attention_context_right);
    f.get_double("attention_logit_cap", &a.attention_logit_cap);
    f.get_double("attention_invalid_logits_value", &a.attention_invalid_logits_value);
    f.get_bool("use_clipped_linears", &a.use_clipped_linears);
    f.get_double("rms_norm_eps", &a.rms_norm_eps);
    f.get_double("gradient_clipping", &a.gradient_clipping);
    f.get_int("output_proj_dims", &a.output_proj_dims);
    return a;
}

}  // namespace

ModelConfig parse_config_json(const std::string& json_text, const std::string& file) {
    json j;
    try {
        j = json::parse(json_text);
    } catch (const json::exception& e) {  // parse_error, and out_of_range for a number such as 1e400
        throw Error(file + ": not valid JSON (" + std::string(e.what()) + ")");
    }
    if (!j.is_object()) throw Error(file + ": expected a JSON object at the top level");
    FieldReader top(j, file, "");
    std::string model_type;
    top.get_string("model_type", &model_type);

    ModelConfig cfg;
    if (model_type == "gemma4") {
        if (!top.present("text_config")) throw Error(file + ": model_type gemma4 but no text_config");
        if (!j.at("text_config").is_object()) top.fail("text_config", "an object", j.at("text_config"));
        cfg.text = parse_text(j.at("text_config"), file, "text_config.");
        if (top.present("vision_config")) cfg.vision = parse_vision(j.at("vision_config"), file);
        if (top.present("audio_config")) cfg.audio = parse_audio(j.at("audio_config"), file);
        top.get_int("boi_token_id", &cfg.boi_token_id);
        top.get_int("eoi_token_id", &cfg.eoi_token_id);
        top.get_int("image_token_id", &cfg.image_token_id);
        top.get_int("video_token_id", &cfg.video_token_id);
        top.get_int("boa_token_id", &cfg.boa_token_id);
        top.get_int("eoa_token_index", &cfg.eoa_token_id);
        top.get_int("audio_token_id", &cfg.audio_token_id);
        // transformers lets the top-level tie flag win for the composite model.
        top.get_bool("tie_word_embeddings", &cfg.text.tie_word_embeddings);
    } else if (model_type == "gemma4_text") {
        cfg.text = parse_text(j, file, "");
        cfg.text_only_layout = true;
    } else {
        throw Error(file + ": model_type is '" + model_type + "', expected 'gemma4' or 'gemma4_text' (is this a Gemma 4 checkpoint?)");
    }
    validate_config(cfg, file);
    return cfg;
}

ModelConfig load_config(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open config.json");
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) throw Error(path + ": read error");
    return parse_config_json(ss.str(), path);
}

std::string config_to_json(const ModelConfig& cfg) {
    const TextConfig& t = cfg.text;
    auto rope = [](const RopeParams& r) {
        json j = {{"rope_type", r.type}, {"rope_theta", r.theta}};
        if (r.type == "proportional") j["partial_rotary_factor"] = r.partial_rotary_factor;
        if (r.factor != 1.0) j["factor"] = r.factor;
        return j;
    };
    json layer_types = json::array();
    json per_layer = json::object();
    for (int l = 0; l < t.num_hidden_layers; ++l) {
        layer_types.push_back(layer_kind_name(t.layer_types[l]));
        if (!t.is_global(l)) continue;
        json o = {{"head_dim", t.global_head_dim}};
        if (t.attention_k_eq_v && t.num_global_key_value_heads > 0) o["num_key_value_heads"] = t.num_global_key_value_heads;
        per_layer[std::to_string(l)] = o;
    }
    json text = {{"model_type", "gemma4_text"},
                 {"vocab_size", t.vocab_size},
                 {"hidden_size", t.hidden_size},
                 {"intermediate_size", t.intermediate_size},
                 {"num_hidden_layers", t.num_hidden_layers},
                 {"num_attention_heads", t.num_attention_heads},
                 {"num_key_value_heads", t.num_key_value_heads},
                 {"head_dim", t.head_dim},
                 {"per_layer_config", per_layer},
                 {"hidden_activation", t.hidden_activation},
                 {"max_position_embeddings", t.max_position_embeddings},
                 {"rms_norm_eps", t.rms_norm_eps},
                 {"pad_token_id", t.pad_token_id},
                 {"bos_token_id", t.bos_token_id},
                 {"eos_token_id", t.eos_token_ids.size() == 1 ? json(t.eos_token_ids[0]) : json(t.eos_token_ids)},
                 {"tie_word_embeddings", t.tie_word_embeddings},
                 {"rope_parameters", {{"sliding_attention", rope(t.rope_sliding)}, {"full_attention", rope(t.rope_full)}}},
                 {"attention_bias", t.attention_bias},
                 {"sliding_window", t.sliding_window},
                 {"layer_types", layer_types},
                 {"final_logit_softcapping", t.final_logit_softcapping > 0 ? json(t.final_logit_softcapping) : json(nullptr)},
                 {"use_bidirectional_attention", t.use_bidirectional_attention.empty() ? json(nullptr) : json(t.use_bidirectional_attention)},
                 {"vocab_size_per_layer_input", t.vocab_size_per_layer_input},
                 {"hidden_size_per_layer_input", t.hidden_size_per_layer_input},
                 {"attention_k_eq_v", t.attention_k_eq_v},
                 {"num_kv_shared_layers", t.num_kv_shared_layers},
                 {"enable_moe_block", t.enable_moe_block},
                 {"use_double_wide_mlp", t.use_double_wide_mlp},
                 {"num_experts", t.enable_moe_block ? json(t.num_experts) : json(nullptr)},
                 {"top_k_experts", t.enable_moe_block ? json(t.top_k_experts) : json(nullptr)},
                 {"moe_intermediate_size", t.enable_moe_block ? json(t.moe_intermediate_size) : json(nullptr)}};
    if (cfg.text_only_layout) return text.dump(2) + "\n";
    json j = {{"model_type", "gemma4"},
              {"architectures", {"Gemma4ForConditionalGeneration"}},
              {"text_config", text},
              {"tie_word_embeddings", t.tie_word_embeddings},
              {"boi_token_id", cfg.boi_token_id},
              {"eoi_token_id", cfg.eoi_token_id},
              {"image_token_id", cfg.image_token_id},
              {"video_token_id", cfg.video_token_id},
              {"boa_token_id", cfg.boa_token_id},
              {"eoa_token_index", cfg.eoa_token_id},
              {"audio_token_id", cfg.audio_token_id},
              {"vision_config", nullptr},
              {"audio_config", nullptr}};
    if (cfg.vision) {
        const VisionConfig& v = *cfg.vision;
        j["vision_config"] = {{"model_type", "gemma4_vision"},
                              {"hidden_size", v.hidden_size},
                              {"intermediate_size", v.intermediate_size},
                              {"num_hidden_layers", v.num_hidden_layers},
                              {"num_attention_heads", v.num_attention_heads},
                              {"num_key_value_heads", v.num_key_value_heads},
                              {"head_dim", v.head_dim},
                              {"hidden_activation", v.hidden_activation},
                              {"rms_norm_eps", v.rms_norm_eps},
                              {"rope_parameters", {{"rope_type", "axial"}, {"rope_theta", v.rope_theta}}},
                              {"pooling_kernel_size", v.pooling_kernel_size},
                              {"patch_size", v.patch_size},
                              {"position_embedding_size", v.position_embedding_size},
                              {"use_clipped_linears", v.use_clipped_linears},
                              {"standardize", v.standardize}};
    }
    if (cfg.audio) {
        const AudioConfig& a = *cfg.audio;
        j["audio_config"] = {{"model_type", "gemma4_audio"},
                             {"hidden_size", a.hidden_size},
                             {"num_hidden_layers", a.num_hidden_layers},
                             {"num_attention_heads", a.num_attention_heads},
                             {"hidden_act", a.hidden_act},
                             {"subsampling_conv_channels", {a.subsampling_conv_channels[0], a.subsampling_conv_channels[1]}},
                             {"conv_kernel_size", a.conv_kernel_size},
                             {"residual_weight", a.residual_weight},
                             {"attention_chunk_size", a.attention_chunk_size},
                             {"attention_context_left", a.attention_context_left},
                             {"attention_context_right", a.attention_context_right},
                             {"attention_logit_cap", a.attention_logit_cap},
                             {"attention_invalid_logits_value", a.attention_invalid_logits_value},
                             {"use_clipped_linears", a.use_clipped_linears},
                             {"rms_norm_eps", a.rms_norm_eps},
                             {"gradient_clipping", a.gradient_clipping},
                             {"output_proj_dims", a.output_proj_dims}};
    }
    return j.dump(2) + "\n";
}

void validate_config(const ModelConfig& cfg, const std::string& where) {
    const TextConfig& t = cfg.text;
    auto bad = [&](const std::string& field, const std::string& msg) { throw Error(where + ": " + field + ": " + msg); };
    auto positive = [&](const std::string& field, long long v, long long max) {
        if (v <= 0 || v > max) bad(field, "must be between 1 and " + std::to_string(max) + ", got " + std::to_string(v));
    };
    // Bounds are generous (10x the largest released value) but keep parameter counts far from overflow.
    positive("text_config.vocab_size", t.vocab_size, 4'000'000);
    positive("text_config.hidden_size", t.hidden_size, 65536);
    positive("text_config.intermediate_size", t.intermediate_size, 1 << 20);
    positive("text_config.num_hidden_layers", t.num_hidden_layers, 4096);
    positive("text_config.num_attention_heads", t.num_attention_heads, 1024);
    positive("text_config.num_key_value_heads", t.num_key_value_heads, 1024);
    positive("text_config.head_dim", t.head_dim, 4096);
    positive("text_config.global_head_dim", t.global_head_dim, 4096);
    positive("text_config.sliding_window", t.sliding_window, 1 << 24);
    positive("text_config.max_position_embeddings", t.max_position_embeddings, 1 << 24);
    if (t.head_dim % 2 || t.global_head_dim % 2) bad("text_config.head_dim", "head dims must be even for RoPE");
    if (static_cast<int>(t.layer_types.size()) != t.num_hidden_layers) bad("text_config.layer_types", "length differs from num_hidden_layers");
    for (int l = 0; l < t.num_hidden_layers; ++l) {
        if (t.num_attention_heads % t.kv_heads(l) != 0)
            bad("text_config", "layer " + std::to_string(l) + ": num_attention_heads " + std::to_string(t.num_attention_heads) +
                                   " is not a multiple of its " + std::to_string(t.kv_heads(l)) + " KV heads");
    }
    if (t.attention_k_eq_v && t.num_global_key_value_heads < 0) bad("text_config.num_global_key_value_heads", "must be >= 0");
    if (t.hidden_activation != "gelu_pytorch_tanh")
        bad("text_config.hidden_activation", "'" + t.hidden_activation + "' is not supported (Gemma 4 uses gelu_pytorch_tanh)");
    if (t.use_bidirectional_attention != "" && t.use_bidirectional_attention != "vision" && t.use_bidirectional_attention != "all")
        bad("text_config.use_bidirectional_attention", "must be null, \"vision\" or \"all\"");
    if (t.final_logit_softcapping < 0) bad("text_config.final_logit_softcapping", "must be >= 0");
    if (t.hidden_size_per_layer_input < 0 || t.hidden_size_per_layer_input > 65536)
        bad("text_config.hidden_size_per_layer_input", "must be between 0 and 65536");
    if (t.has_ple()) positive("text_config.vocab_size_per_layer_input", t.vocab_size_per_layer_input, 4'000'000);
    if (t.num_kv_shared_layers < 0 || t.num_kv_shared_layers >= t.num_hidden_layers)
        bad("text_config.num_kv_shared_layers", "must be between 0 and num_hidden_layers - 1");
    if (t.num_kv_shared_layers > 0) {
        for (int l = t.first_kv_shared_layer(); l < t.num_hidden_layers; ++l)
            if (t.kv_source_layer(l) == l)
                bad("text_config.num_kv_shared_layers", "layer " + std::to_string(l) + " (" + layer_kind_name(t.layer_types[l]) +
                                                            ") shares KV but no earlier layer of that kind produces it");
    }
    if (t.enable_moe_block) {
        positive("text_config.num_experts", t.num_experts, 65536);
        positive("text_config.top_k_experts", t.top_k_experts, t.num_experts);
        positive("text_config.moe_intermediate_size", t.moe_intermediate_size, 1 << 20);
    }
    for (int l = 0; l < t.num_hidden_layers; ++l)
        if (t.rotated_pairs(l) > t.layer_head_dim(l) / 2 || t.rotated_pairs(l) < 0)
            bad("text_config.rope_parameters", "rotates more pairs than the head has");
    if (cfg.vision) {
        const VisionConfig& v = *cfg.vision;
        positive("vision_config.hidden_size", v.hidden_size, 65536);
        positive("vision_config.intermediate_size", v.intermediate_size, 1 << 20);
        positive("vision_config.num_hidden_layers", v.num_hidden_layers, 4096);
        positive("vision_config.num_attention_heads", v.num_attention_heads, 1024);
        positive("vision_config.num_key_value_heads", v.num_key_value_heads, 1024);
        positive("vision_config.head_dim", v.head_dim, 4096);
        positive("vision_config.patch_size", v.patch_size, 1024);
        positive("vision_config.pooling_kernel_size", v.pooling_kernel_size, 64);
        positive("vision_config.position_embedding_size", v.position_embedding_size, 1 << 20);
        if (v.head_dim % 4) bad("vision_config.head_dim", "must be a multiple of 4 (2-D RoPE splits it into quarters)");
        if (v.num_attention_heads % v.num_key_value_heads) bad("vision_config.num_key_value_heads", "must divide num_attention_heads");
    }
    if (cfg.audio) {
        const AudioConfig& a = *cfg.audio;
        positive("audio_config.hidden_size", a.hidden_size, 65536);
        positive("audio_config.num_hidden_layers", a.num_hidden_layers, 4096);
        positive("audio_config.num_attention_heads", a.num_attention_heads, 1024);
        positive("audio_config.subsampling_conv_channels[0]", a.subsampling_conv_channels[0], 65536);
        positive("audio_config.subsampling_conv_channels[1]", a.subsampling_conv_channels[1], 65536);
        positive("audio_config.conv_kernel_size", a.conv_kernel_size, 1024);
        positive("audio_config.output_proj_dims", a.output_proj_dims, 65536);
        positive("audio_config.attention_chunk_size", a.attention_chunk_size, 65536);
        if (a.hidden_size % a.num_attention_heads) bad("audio_config.num_attention_heads", "must divide hidden_size");
        if (a.subsampling_conv_channels[0] % 4) bad("audio_config.subsampling_conv_channels", "first entry must be a multiple of 4");
    }
}

}  // namespace gemma4
