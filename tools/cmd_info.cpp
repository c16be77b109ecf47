// cmd_info.cpp — `gemma4 info`: a model's architecture as a readable table (per layer: kind, window, heads, head dim,
// KV sharing, MLP width, MoE, PLE), its parameter counts from the registry, and with --context N what it needs in
// memory. `-m DIR` also validates every tensor of the checkpoint; `--variant` describes a released variant from its
// builder. `--cl` lists OpenCL devices.
#include <cinttypes>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "checkpoint.h"
#include "cli.h"
#include "error.h"
#include "footprint.h"
#include "registry.h"

#if GEMMA4_HAVE_OPENCL
#include "cl_devices.h"
#endif

namespace gemma4::cli {

namespace {

using json = nlohmann::json;

std::string with_commas(int64_t v) {
    std::string digits = std::to_string(v < 0 ? -v : v), out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return (v < 0 ? "-" : "") + out;
}

std::string human_count(int64_t v) {
    char buf[32];
    if (v >= 1'000'000'000) std::snprintf(buf, sizeof buf, "%.2f B", v / 1e9);
    else if (v >= 1'000'000) std::snprintf(buf, sizeof buf, "%.1f M", v / 1e6);
    else if (v >= 1'000) std::snprintf(buf, sizeof buf, "%.1f k", v / 1e3);
    else std::snprintf(buf, sizeof buf, "%" PRId64, v);
    return buf;
}

std::string human_bytes(double b) {
    char buf[32];
    if (b >= 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024) std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
    else if (b >= 1024.0) std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
    else std::snprintf(buf, sizeof buf, "%.0f B", b);
    return buf;
}

struct LayerRow {
    int index;
    const char* type;
    int window;
    int q_heads, kv_heads, head_dim, rotated_pairs;
    int kv_source;  // == index when the layer computes its own K/V
    bool k_eq_v;
    int mlp_width;
    bool moe, ple;
};

LayerRow layer_row(const TextConfig& t, int l) {
    return LayerRow{l,
                    t.is_global(l) ? "full" : "sliding",
                    t.window(l),
                    t.num_attention_heads,
                    t.kv_heads(l),
                    t.layer_head_dim(l),
                    t.rotated_pairs(l),
                    t.kv_source_layer(l),
                    t.k_eq_v(l),
                    t.mlp_width(l),
                    t.is_moe(l),
                    t.has_ple()};
}

// Bytes of the weights as stored: from the files for a checkpoint, bf16 (as released) for a variant builder.
struct WeightBytes {
    int64_t total = 0;
    int64_t ple_table = 0;
    std::string how;
};

WeightBytes weight_bytes(const ModelConfig& cfg, const WeightStore* store) {
    WeightBytes wb;
    wb.how = store ? "as stored in the checkpoint" : "bf16, as the released checkpoints are stored";
    for_each_tensor(cfg, [&](const TensorSpec& s) {
        int64_t bytes = s.numel() * 2;
        if (store) {
            if (const TensorRef* t = store->find(s.name)) bytes = static_cast<int64_t>(t->nbytes);
        }
        wb.total += bytes;
        if (s.role == Role::PleTable) wb.ple_table += bytes;
    });
    return wb;
}

void print_text(const ModelConfig& cfg, const std::string& source, const WeightStore* store, int64_t context) {
    const TextConfig& t = cfg.text;
    int n_full = 0;
    for (int l = 0; l < t.num_hidden_layers; ++l) n_full += t.is_global(l);
    std::printf("%s  (%s)\n\n", cfg.name.c_str(), source.c_str());
    std::printf("text decoder: %d layers (%d sliding, %d full), width %d, vocab %d, final soft-cap %g\n", t.num_hidden_layers,
                t.num_hidden_layers - n_full, n_full, t.hidden_size, t.vocab_size, t.final_logit_softcapping);
    std::printf("  RoPE: sliding theta %g, all pairs rotate; full theta %g, %s, %d of %d pairs rotate\n", t.rope_sliding.theta,
                t.rope_full.theta, t.rope_full.type.c_str(), n_full ? t.rotated_pairs(t.num_hidden_layers - 1) : 0,
                t.global_head_dim / 2);
    if (t.has_ple())
        std::printf("  PLE: %d per layer, table %d x %d\n", t.hidden_size_per_layer_input, t.vocab_size_per_layer_input,
                    t.num_hidden_layers * t.hidden_size_per_layer_input);
    if (t.num_kv_shared_layers > 0)
        std::printf("  KV sharing: layers %d..%d reuse the K/V of earlier layers%s\n", t.first_kv_shared_layer(), t.num_hidden_layers - 1,
                    t.use_double_wide_mlp ? " and have a double-wide MLP" : "");
    if (t.enable_moe_block)
        std::printf("  MoE: %d experts of width %d, top-%d, plus the dense MLP of width %d beside them\n", t.num_experts,
                    t.moe_intermediate_size, t.top_k_experts, t.intermediate_size);
    if (t.attention_k_eq_v) std::printf("  K=V on full layers (no v_proj; V is the raw key projection)\n");
    if (!t.use_bidirectional_attention.empty())
        std::printf("  bidirectional attention: %s\n", t.use_bidirectional_attention.c_str());
    if (cfg.vision)
        std::printf("vision tower: width %d, %d layers, %d heads x %d, MLP %d, patch %d, pooling %dx%d%s%s\n", cfg.vision->hidden_size,
                    cfg.vision->num_hidden_layers, cfg.vision->num_attention_heads, cfg.vision->head_dim, cfg.vision->intermediate_size,
                    cfg.vision->patch_size, cfg.vision->pooling_kernel_size, cfg.vision->pooling_kernel_size,
                    cfg.vision->use_clipped_linears ? ", clipped linears" : "", cfg.vision->standardize ? ", standardize" : "");
    if (cfg.audio)
        std::printf("audio tower: width %d, %d Conformer layers, %d heads, output %d\n", cfg.audio->hidden_size,
                    cfg.audio->num_hidden_layers, cfg.audio->num_attention_heads, cfg.audio->output_proj_dims);

    std::printf("\n%5s  %-7s %6s %7s %8s %8s %7s %8s %6s %7s %-9s %s\n", "layer", "type", "window", "q_heads", "kv_heads", "head_dim",
                "rotated", "kv_from", "K=V", "mlp", "moe", "ple");
    for (int l = 0; l < t.num_hidden_layers; ++l) {
        LayerRow r = layer_row(t, l);
        std::string window = r.window ? std::to_string(r.window) : "all";
        std::string kv_from = r.kv_source == l ? "-" : std::to_string(r.kv_source);
        std::string moe = r.moe ? std::to_string(t.top_k_experts) + "/" + std::to_string(t.num_experts) : "-";
        std::printf("%5d  %-7s %6s %7d %8d %8d %7d %8s %6s %7d %-9s %s\n", l, r.type, window.c_str(), r.q_heads, r.kv_heads, r.head_dim,
                    r.rotated_pairs, kv_from.c_str(), r.k_eq_v ? "yes" : "-", r.mlp_width, moe.c_str(), r.ple ? "yes" : "-");
    }

    ParamCounts c = count_params(cfg);
    auto row = [](const char* what, int64_t v, const char* note = "") {
        std::printf("  %-34s %18s  %-9s %s\n", what, with_commas(v).c_str(), human_count(v).c_str(), note);
    };
    std::printf("\nparameters (from the tensor registry)\n");
    row("total", c.total);
    row("token embedding (tied LM head)", c.token_embedding);
    if (c.ple_table) row("PLE table", c.ple_table, "a lookup: can stay on disk");
    if (c.ple_other) row("PLE projections and norms", c.ple_other);
    row("text decoder layers", c.text_layers);
    if (c.moe_experts) row("  of which MoE experts", c.moe_experts);
    if (c.vision) row("vision tower + projector", c.vision);
    if (c.audio) row("audio tower + projector", c.audio);
    std::string active_note = c.moe_experts ? "top-k experts only" : "every text weight";
    if (c.ple_table) active_note += ", one PLE row";
    row("active per token (text)", c.active_per_token, active_note.c_str());
    if (c.ple_table) row("effective (all but the PLE table)", c.effective());

    if (context > 0) {
        WeightBytes wb = weight_bytes(cfg, store);
        Footprint f = kv_footprint(t, context);
        std::printf("\nmemory at context %s tokens\n", with_commas(context).c_str());
        std::printf("  %-44s %12s  (%s)\n", "weights", human_bytes(double(wb.total)).c_str(), wb.how.c_str());
        if (wb.ple_table)
            std::printf("  %-44s %12s  (memory-mapped: can stay on disk)\n", "  of which PLE table", human_bytes(double(wb.ple_table)).c_str());
        auto kv_row = [&](const char* kind, const KvFootprint& k) {
            if (k.layers_with_cache == 0) return;
            char what[96];
            std::snprintf(what, sizeof what, "KV cache, %s: %d layers x %s tokens", kind, k.layers_with_cache, with_commas(k.tokens_cached).c_str());
            std::printf("  %-44s %12s  (float32; %s in bf16)\n", what, human_bytes(4.0 * k.total_elems).c_str(),
                        human_bytes(2.0 * k.total_elems).c_str());
        };
        kv_row("sliding", f.sliding);
        kv_row("full", f.full);
        const double resident_bf16 = double(wb.total - wb.ple_table) + 2.0 * f.kv_elems();
        std::printf("  %-44s %12s  (weights without the PLE table + bf16 KV cache)\n", "resident total", human_bytes(resident_bf16).c_str());
    }
}

json to_json(const ModelConfig& cfg, const std::string& source, const WeightStore* store, int64_t context) {
    const TextConfig& t = cfg.text;
    ParamCounts c = count_params(cfg);
    json j;
    j["name"] = cfg.name;
    j["source"] = source;
    j["params_total"] = c.total;
    j["params_ple"] = c.ple_table;
    j["params_ple_other"] = c.ple_other;
    j["params_token_embedding"] = c.token_embedding;
    j["params_text_layers"] = c.text_layers;
    j["params_moe_experts"] = c.moe_experts;
    j["params_vision"] = c.vision;
    j["params_audio"] = c.audio;
    j["params_active"] = c.active_per_token;
    j["params_effective"] = c.effective();
    j["hidden_size"] = t.hidden_size;
    j["vocab_size"] = t.vocab_size;
    j["num_layers"] = t.num_hidden_layers;
    j["layers"] = json::array();
    for (int l = 0; l < t.num_hidden_layers; ++l) {
        LayerRow r = layer_row(t, l);
        j["layers"].push_back({{"index", l},
                               {"type", t.is_global(l) ? "full_attention" : "sliding_attention"},
                               {"window", r.window},
                               {"q_heads", r.q_heads},
                               {"kv_heads", r.kv_heads},
                               {"head_dim", r.head_dim},
                               {"rotated_pairs", r.rotated_pairs},
                               {"kv_source", r.kv_source},
                               {"k_eq_v", r.k_eq_v},
                               {"mlp_width", r.mlp_width},
                               {"moe", r.moe},
                               {"ple", r.ple}});
    }
    j["has_vision"] = cfg.vision.has_value();
    j["has_audio"] = cfg.audio.has_value();
    if (context > 0) {
        WeightBytes wb = weight_bytes(cfg, store);
        Footprint f = kv_footprint(t, context);
        j["memory"] = {{"context", context},
                       {"weights_bytes", wb.total},
                       {"weights_dtype", wb.how},
                       {"ple_table_bytes", wb.ple_table},
                       {"kv_sliding_layers", f.sliding.layers_with_cache},
                       {"kv_full_layers", f.full.layers_with_cache},
                       {"kv_sliding_bytes_f32", 4 * f.sliding.total_elems},
                       {"kv_full_bytes_f32", 4 * f.full.total_elems},
                       {"kv_bytes_bf16", 2 * f.kv_elems()},
                       {"resident_bytes_bf16_kv", wb.total - wb.ple_table + 2 * f.kv_elems()}};
    }
    return j;
}

int list_cl_devices() {
#if GEMMA4_HAVE_OPENCL
    auto devices = gemma4::cl::list_devices();
    if (devices.empty()) {
        std::printf("no OpenCL device found (is an ICD installed? PoCL: apt-get install pocl-opencl-icd)\n");
        return 1;
    }
    for (const auto& d : devices)
        std::printf("[%d] %s — %s (%s, %s), %u compute units, %s global memory, %s max buffer\n", d.index, d.name.c_str(),
                    d.platform.c_str(), d.type.c_str(), d.version.c_str(), d.compute_units, human_bytes(double(d.global_mem_bytes)).c_str(),
                    human_bytes(double(d.max_alloc_bytes)).c_str());
    return 0;
#else
    std::printf("this build has no OpenCL support (configure with -DGEMMA4_OPENCL=ON)\n");
    return 1;
#endif
}

}  // namespace

int cmd_info(int argc, char** argv) {
    const std::vector<Option> options = {
        {"--model", "-m", "MODEL", "checkpoint directory or bundled name; validates every tensor"},
        {"--variant", "", "NAME", "a released variant from its builder: e2b, e4b, 26b-a4b, 31b (or tiny-*)"},
        {"--context", "", "N", "also print the memory needed at a context of N tokens"},
        {"--json", "", "", "print JSON instead of tables"},
        {"--cl", "", "", "list OpenCL platforms and devices"},
        {"--help", "-h", "", "show this help"},
    };
    Args args(argc, argv, 2, options);
    if (args.has("--help")) {
        std::printf("%s", usage("gemma4 info (-m MODEL | --variant NAME) [--context N] [--json]\n       gemma4 info --cl",
                                "Prints a Gemma 4 model's architecture: one row per layer, parameter counts computed from\n"
                                "the tensor registry, and with --context N the memory it needs at that context.",
                                options)
                              .c_str());
        return 0;
    }
    if (args.has("--cl")) return list_cl_devices();
    if (args.has("--model") == args.has("--variant")) throw Error("give exactly one of -m MODEL or --variant NAME (see --help)");
    const int64_t context = args.get_int("--context", 0);
    if (args.has("--context") && (context <= 0 || context > (int64_t(1) << 31)))
        throw Error("--context must be a positive number of tokens, got " + args.get("--context"));
    if (!args.positional().empty()) throw Error("unexpected argument '" + args.positional()[0] + "'");

    auto check_context = [&](const ModelConfig& cfg) {
        if (context > cfg.text.max_position_embeddings)
            throw Error("--context " + std::to_string(context) + " is beyond the model's context of " +
                        std::to_string(cfg.text.max_position_embeddings) + " tokens (text_config.max_position_embeddings)");
    };
    if (args.has("--variant")) {
        ModelConfig cfg = config_for_variant(args.get("--variant"));
        check_context(cfg);
        const std::string source = "variant builder; published config values";
        if (args.has("--json")) std::printf("%s\n", to_json(cfg, source, nullptr, context).dump(2).c_str());
        else print_text(cfg, source, nullptr, context);
        return 0;
    }
    Checkpoint ck = Checkpoint::open(args.get("--model"));
    check_context(ck.config);
    std::string source = ck.dir + "; " + std::to_string(ck.check.checked) + " tensors checked against the registry, all present with the right shape";
    if (!ck.check.ignored.empty()) source += "; " + std::to_string(ck.check.ignored.size()) + " ignored as transformers does";
    if (args.has("--json")) {
        json j = to_json(ck.config, source, &ck.weights, context);
        j["tensors_checked"] = ck.check.checked;
        j["tensors_unexpected"] = ck.check.unexpected;
        j["tensors_ignored"] = ck.check.ignored;
        std::printf("%s\n", j.dump(2).c_str());
    } else {
        print_text(ck.config, source, &ck.weights, context);
    }
    return 0;
}

}  // namespace gemma4::cli
