// recording.cpp — the inspector data model (recording.h): a trace or a live run plus its ModelConfig, and the derived
// quantities the panels plot. Leaves out everything that draws (viz/panels/) and every forward pass (reference/); the
// fast versions of the ops live in kernels/, but nothing here is hot enough to need one.
#include "recording.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <numbers>
#include <random>

#include "checkpoint.h"
#include "error.h"
#include "mask.h"
#include "ops.h"

namespace gemma4::viz {

namespace {

int64_t numel_of(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::string shape_str(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

// The ModelConfig a trace names: a checkpoint directory or bundled name (its config.json; the weights are not needed to
// look at a run), else a variant builder name ("gemma-4-e2b", "tiny-e2b"). Errors name what was tried.
ModelConfig config_for_model(const std::string& name_or_dir) {
    std::string dir_problem;
    try {
        const std::string dir = resolve_model_dir(name_or_dir);
        const std::filesystem::path config_path = std::filesystem::path(dir) / "config.json";
        if (!std::filesystem::is_regular_file(config_path)) throw Error(dir + ": no config.json");
        ModelConfig cfg = load_config(config_path.string());
        cfg.name = std::filesystem::path(dir).filename().string();
        if (cfg.name.empty()) cfg.name = std::filesystem::path(dir).parent_path().filename().string();
        return cfg;
    } catch (const Error& e) {
        dir_problem = e.what();
    }
    try {
        return config_for_variant(name_or_dir);
    } catch (const Error&) {
        throw Error(dir_problem);
    }
}

// Row norms ‖x[t, :]‖ of a [T, D] tensor.
std::vector<float> row_norms(const Tensor& x) {
    const int64_t T = x.dim(0), D = T > 0 ? static_cast<int64_t>(x.data.size()) / T : 0;
    std::vector<float> out(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) {
        double s = 0;
        for (int64_t d = 0; d < D; ++d) s += double(x.data[t * D + d]) * x.data[t * D + d];
        out[t] = static_cast<float>(std::sqrt(s));
    }
    return out;
}

void require_rank(const Tensor& t, size_t rank) {
    if (t.shape.size() != rank)
        throw Error(t.name + ": expected a rank-" + std::to_string(rank) + " tensor, recorded " + shape_str(t.shape));
}

// Standard normal samples from std::mt19937, whose output sequence the C++ standard fixes (std::normal_distribution
// is implementation-defined), so rope_score_error gives the same number with every standard library.
class FixedNormal {
public:
    explicit FixedNormal(uint32_t seed) : gen_(seed) {}
    double next() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        const double u1 = (static_cast<double>(gen_()) + 1.0) / 4294967297.0;  // (0, 1)
        const double u2 = static_cast<double>(gen_()) / 4294967296.0;          // [0, 1)
        const double r = std::sqrt(-2.0 * std::log(u1));
        spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
        has_spare_ = true;
        return r * std::cos(2.0 * std::numbers::pi * u2);
    }

private:
    std::mt19937 gen_;
    double spare_ = 0;
    bool has_spare_ = false;
};

}  // namespace

// ---- layers ---------------------------------------------------------------------------------------------------------

std::vector<LayerInfo> layer_infos(const TextConfig& cfg) {
    std::vector<LayerInfo> out;
    out.reserve(static_cast<size_t>(cfg.num_hidden_layers));
    for (int l = 0; l < cfg.num_hidden_layers; ++l) {
        LayerInfo li;
        li.index = l;
        li.global = cfg.is_global(l);
        li.window = cfg.window(l);
        li.q_heads = cfg.num_attention_heads;
        li.kv_heads = cfg.kv_heads(l);
        li.head_dim = cfg.layer_head_dim(l);
        li.rope_pairs = li.head_dim / 2;
        li.rotated_pairs = cfg.rotated_pairs(l);
        li.rope_theta = cfg.rope(l).theta;
        li.rope_factor = cfg.rope(l).factor;
        li.kv_shared = cfg.is_kv_shared(l);
        li.kv_source = cfg.kv_source_layer(l);
        li.k_eq_v = cfg.k_eq_v(l);
        li.moe = cfg.is_moe(l);
        li.ple = cfg.has_ple();
        li.mlp_width = cfg.mlp_width(l);
        out.push_back(li);
    }
    return out;
}

// ---- Recording ------------------------------------------------------------------------------------------------------

Recording Recording::from_trace(const std::string& npz_path, const std::string& model_dir_or_name) {
    std::vector<NpyArray> arrays = read_npz(npz_path);  // its errors name the file
    std::string model = model_dir_or_name;
    if (model.empty()) {
        model = trace_meta(arrays, npz_path).model;
        if (model.empty())
            throw Error(npz_path + ": the trace has no meta.model entry, so its model is unknown; give the model (-m DIR "
                                   "or a bundled name such as demo-e2b-mini)");
    }
    ModelConfig cfg;
    try {
        cfg = config_for_model(model);
    } catch (const Error& e) {
        throw Error(npz_path + ": " + (model_dir_or_name.empty() ? "meta.model '" + model + "'" : "model '" + model + "'") +
                    " does not open (" + e.what() + ")" + (model_dir_or_name.empty() ? "; give the model with -m" : ""));
    }
    return from_arrays_consuming(cfg, std::move(arrays), npz_path);
}

Recording Recording::from_arrays_consuming(const ModelConfig& cfg, std::vector<NpyArray>&& arrays, const std::string& where) {
    Recording r;
    r.config_ = cfg;
    r.meta_ = trace_meta(arrays, where);
    r.layers_ = layer_infos(cfg.text);
    r.tensors_.reserve(arrays.size());
    for (NpyArray& a : arrays) {
        if (a.name.rfind("meta.", 0) == 0) continue;
        Tensor t;
        try {
            t.data = a.to_f32();  // reads the shape: name and shape move only after it
        } catch (const Error& err) {
            throw Error(where + ": " + a.name + ": " + err.what());
        }
        t.name = std::move(a.name);
        t.shape = std::move(a.shape);
        std::vector<std::byte>().swap(a.data);  // the bytes go as soon as their floats exist
        r.add_tensor(std::move(t));
    }
    r.finish(r.meta_.tokens);
    return r;
}

Recording Recording::from_arrays(const ModelConfig& cfg, const std::vector<NpyArray>& arrays, const std::string& where) {
    Recording r;
    r.config_ = cfg;
    r.meta_ = trace_meta(arrays, where);
    r.layers_ = layer_infos(cfg.text);
    for (const NpyArray& a : arrays) {
        if (a.name.rfind("meta.", 0) == 0) continue;
        Tensor t{a.name, a.shape, {}};
        try {
            t.data = a.to_f32();
        } catch (const Error& err) {
            throw Error(where + ": " + a.name + ": " + err.what());
        }
        r.add_tensor(std::move(t));
    }
    r.finish(r.meta_.tokens);
    return r;
}

Recording Recording::from_probes(const ModelConfig& cfg, const std::vector<RecordingSink::Entry>& probes, const TraceMeta& meta) {
    Recording r;
    r.config_ = cfg;
    r.meta_ = meta;
    r.layers_ = layer_infos(cfg.text);
    for (const RecordingSink::Entry& e : probes) r.add_tensor(Tensor{e.name, e.shape, e.data});
    r.finish(meta.tokens);
    return r;
}

// A name recorded twice (a live run that recorded several steps) keeps its first place with the latest data.
void Recording::add_tensor(Tensor&& t) {
    if (numel_of(t.shape) != static_cast<int64_t>(t.data.size()))
        throw Error(t.name + ": shape " + shape_str(t.shape) + " holds " + std::to_string(numel_of(t.shape)) + " values, recorded " +
                    std::to_string(t.data.size()));
    auto it = index_.find(t.name);
    if (it != index_.end()) {
        tensors_[it->second] = std::move(t);
    } else {
        index_[t.name] = tensors_.size();
        tensors_.push_back(std::move(t));
    }
}

void Recording::finish(const std::vector<int64_t>& tokens) {
    // Execution order from the probe table (goldens written by numpy may list their arrays in another order).
    std::stable_sort(tensors_.begin(), tensors_.end(),
                     [](const Tensor& a, const Tensor& b) { return probe_order_key(a.name) < probe_order_key(b.name); });
    index_.clear();
    for (size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
    // Labels default to the ids of the last tokens() tokens (a decode step records T = 1 at the end of meta.tokens).
    const int T = this->tokens();
    const size_t n = tokens.size();
    token_labels.clear();
    for (int t = 0; t < T; ++t) {
        const int64_t i = static_cast<int64_t>(n) - T + t;
        token_labels.push_back(i >= 0 ? std::to_string(tokens[static_cast<size_t>(i)]) : "?");
    }
}

const Tensor* Recording::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

const Tensor* Recording::probe(Probe p, int layer) const {
    if (probe_info(p).per_layer && layer < 0) return nullptr;  // a per-layer point needs its layer
    return find(probe_name(p, layer));
}

int Recording::tokens() const {
    // Every text probe but two has T first; rope_inv_freq has none and attn_weights [H, T, S] has it second.
    for (const Tensor& t : tensors_) {
        Probe p;
        int layer = -1;
        if (!parse_probe_name(t.name, &p, &layer) || probe_info(p).tower != "text") continue;
        if (p == Probe::text_rope_inv_freq) continue;
        return static_cast<int>(p == Probe::text_attn_weights ? t.dim(1) : t.dim(0));
    }
    return 0;
}

void Recording::save(const std::string& npz_path) const {
    std::vector<RecordingSink::Entry> entries;
    entries.reserve(tensors_.size());
    for (const Tensor& t : tensors_) entries.push_back({t.name, t.shape, t.data});
    TraceMeta meta = meta_;
    if (meta.model.empty()) meta.model = config_.name;  // so that from_trace finds the config again
    if (meta.tool_version.empty()) meta.tool_version = kToolVersion;
    write_trace(npz_path, entries, meta);
}

// ---- attention windows ----------------------------------------------------------------------------------------------

bool mask_allows(const LayerInfo& layer, int64_t q, int64_t k) { return attention_allowed(q, k, layer.window); }

std::vector<int> kv_head_of_query_heads(const LayerInfo& layer) {
    if (layer.q_heads <= 0 || layer.kv_heads <= 0 || layer.q_heads % layer.kv_heads != 0)
        throw Error("layer " + std::to_string(layer.index) + ": " + std::to_string(layer.q_heads) + " query heads do not share " +
                    std::to_string(layer.kv_heads) + " KV heads evenly");
    const int group = layer.q_heads / layer.kv_heads;
    std::vector<int> out(static_cast<size_t>(layer.q_heads));
    for (int h = 0; h < layer.q_heads; ++h) out[h] = h / group;
    return out;
}

std::optional<AttentionMap> attention_map(const Recording& r, int layer, int head) {
    const Tensor* w = r.probe(Probe::text_attn_weights, layer);
    if (w == nullptr) return std::nullopt;
    require_rank(*w, 3);
    if (head < 0 || head >= w->dim(0)) return std::nullopt;
    AttentionMap m;
    m.T = static_cast<int>(w->dim(1));
    m.S = static_cast<int>(w->dim(2));
    m.w = w->data.data() + int64_t(head) * m.T * m.S;
    return m;
}

// Block edges: the range [t0, t1) is clamped to [0, T) and split into `rows` blocks, block r covering
// [t0 + ⌊r·n/rows⌋, t0 + ⌊(r+1)·n/rows⌋) with n = t1 − t0 (exact integer arithmetic, so every cell belongs to exactly
// one block when rows ≤ n). When rows > n a block would be empty; it then shows the single cell t0 + ⌊r·n/rows⌋, so
// cells repeat (nearest-neighbour enlargement). Columns likewise. An empty range gives zeros. Memory: only out.
std::vector<float> attention_tile(const AttentionMap& m, int t0, int t1, int s0, int s1, int rows, int cols) {
    if (rows <= 0 || cols <= 0) return {};
    std::vector<float> out(static_cast<size_t>(rows) * cols, 0.0f);
    t0 = std::clamp(t0, 0, m.T);
    t1 = std::clamp(t1, 0, m.T);
    s0 = std::clamp(s0, 0, m.S);
    s1 = std::clamp(s1, 0, m.S);
    if (t1 <= t0 || s1 <= s0 || m.w == nullptr) return out;
    const int64_t nt = t1 - t0, ns = s1 - s0;
    for (int r = 0; r < rows; ++r) {
        const int64_t ta = t0 + int64_t(r) * nt / rows;
        const int64_t tb = std::max(t0 + int64_t(r + 1) * nt / rows, ta + 1);
        for (int c = 0; c < cols; ++c) {
            const int64_t sa = s0 + int64_t(c) * ns / cols;
            const int64_t sb = std::max(s0 + int64_t(c + 1) * ns / cols, sa + 1);
            float best = -std::numeric_limits<float>::infinity();
            for (int64_t t = ta; t < tb; ++t)
                for (int64_t s = sa; s < sb; ++s) best = std::max(best, m.w[t * m.S + s]);
            out[int64_t(r) * cols + c] = best;
        }
    }
    return out;
}

std::pair<int, int> AttentionSource::allowed(int t) const {
    const int64_t q = int64_t(t) + offset();
    const int64_t first = window > 0 ? std::max<int64_t>(0, q - window + 1) : 0;
    const int64_t last = std::min<int64_t>(q, S - 1);
    return {static_cast<int>(first), static_cast<int>(last)};
}

void AttentionSource::row(int t, float* out) const {
    if (!computed) {
        std::copy_n(recorded.w + int64_t(t) * S, S, out);
        return;
    }
    std::fill(out, out + S, 0.0f);
    const auto [first, last] = allowed(t);
    if (last < first) return;  // every key masked: a row of zeros, as ops.cpp softmax defines it
    // ops.cpp attention: the same float32 dot products in the same order; softmax over the allowed span equals softmax
    // over all S with −inf outside it (the max is the same and the masked exp(−inf) terms add exact zeros).
    const float* qv = q + int64_t(t) * q_stride;
    for (int s = first; s <= last; ++s) {
        const float* kv = k + int64_t(s) * k_stride;
        float dot = 0.0f;
        for (int d = 0; d < Dh; ++d) dot += qv[d] * kv[d];
        out[s] = dot;
    }
    softmax(out + first, last - first + 1);
}

std::optional<AttentionSource> attention_source(const Recording& r, int layer, int head) {
    if (layer < 0 || layer >= static_cast<int>(r.layers().size()) || head < 0) return std::nullopt;
    const LayerInfo& info = r.layers()[layer];
    AttentionSource src;
    src.layer = layer, src.head = head, src.window = info.window;
    if (const std::optional<AttentionMap> m = attention_map(r, layer, head)) {
        src.recorded = *m;
        src.T = m->T, src.S = m->S;
        return src;
    }
    if (r.find(probe_name(Probe::text_attn_weights, layer)) != nullptr) return std::nullopt;  // recorded, head out of range
    const Tensor* q = r.probe(Probe::text_attn_q_rope, layer);
    const Tensor* k = r.probe(Probe::text_attn_k_rope, info.kv_source);
    if (q == nullptr || k == nullptr) return std::nullopt;
    require_rank(*q, 3);
    require_rank(*k, 3);
    const int H = static_cast<int>(q->dim(1)), Hkv = static_cast<int>(k->dim(1)), Dh = static_cast<int>(q->dim(2));
    if (head >= H) return std::nullopt;
    if (k->dim(2) != Dh || Hkv <= 0 || H % Hkv != 0)
        throw Error(q->name + " " + shape_str(q->shape) + " and " + k->name + " " + shape_str(k->shape) +
                    " do not make one attention (head dims or GQA groups differ)");
    src.T = static_cast<int>(q->dim(0));
    src.S = static_cast<int>(k->dim(0));
    // The keys must cover the whole context: a decode step's probes hold only the new rows, not the cached ones.
    if (src.S < src.T || (!r.meta().tokens.empty() && static_cast<int64_t>(r.meta().tokens.size()) > src.S)) return std::nullopt;
    const int kvh = head / (H / Hkv);
    src.computed = true;
    src.key_layer = info.kv_source;
    src.Dh = Dh;
    src.q = q->data.data() + int64_t(head) * Dh;
    src.q_stride = int64_t(H) * Dh;
    src.k = k->data.data() + int64_t(kvh) * Dh;
    src.k_stride = int64_t(Hkv) * Dh;
    return src;
}

std::vector<float> attention_rows(const Recording& r, int layer, int head, int t0, int t1) {
    const std::optional<AttentionSource> src = attention_source(r, layer, head);
    if (!src) return {};
    t0 = std::clamp(t0, 0, src->T);
    t1 = std::clamp(t1, t0, src->T);
    std::vector<float> out(static_cast<size_t>(t1 - t0) * src->S);
    for (int t = t0; t < t1; ++t) src->row(t, out.data() + int64_t(t - t0) * src->S);
    return out;
}

std::vector<float> attention_tile(const AttentionSource& src, int t0, int t1, int s0, int s1, int rows, int cols,
                                  int rows_per_block) {
    if (!src.computed) return attention_tile(src.recorded, t0, t1, s0, s1, rows, cols);
    if (rows <= 0 || cols <= 0) return {};
    std::vector<float> out(static_cast<size_t>(rows) * cols, 0.0f);
    t0 = std::clamp(t0, 0, src.T);
    t1 = std::clamp(t1, 0, src.T);
    s0 = std::clamp(s0, 0, src.S);
    s1 = std::clamp(s1, 0, src.S);
    if (t1 <= t0 || s1 <= s0) return out;
    const int64_t nt = t1 - t0, ns = s1 - s0;
    // Blocks as in attention_tile(AttentionMap); rows in parallel (a global layer's late rows cost more: dynamic).
#pragma omp parallel
    {
        std::vector<float> row(static_cast<size_t>(src.S));
#pragma omp for schedule(dynamic, 1)
        for (int r = 0; r < rows; ++r) {
            const int64_t ta = t0 + int64_t(r) * nt / rows;
            const int64_t tb = std::max(t0 + int64_t(r + 1) * nt / rows, ta + 1);
            const int64_t n = tb - ta;
            const int64_t picks = rows_per_block > 0 ? std::min<int64_t>(n, rows_per_block) : n;
            float* o = out.data() + int64_t(r) * cols;
            std::fill(o, o + cols, -std::numeric_limits<float>::infinity());
            for (int64_t i = 0; i < picks; ++i) {
                const int64_t t = picks == n ? ta + i : ta + (2 * i + 1) * n / (2 * picks);
                src.row(static_cast<int>(t), row.data());
                for (int c = 0; c < cols; ++c) {
                    const int64_t sa = s0 + int64_t(c) * ns / cols;
                    const int64_t sb = std::max(s0 + int64_t(c + 1) * ns / cols, sa + 1);
                    float best = o[c];
                    for (int64_t s = sa; s < sb; ++s) best = std::max(best, row[s]);
                    o[c] = best;
                }
            }
        }
    }
    return out;
}

// ---- p-RoPE ---------------------------------------------------------------------------------------------------------

std::vector<RopePair> rope_pairs(const LayerInfo& layer, RopeConvention convention) {
    const int Dh = layer.head_dim, n = layer.rope_pairs;
    std::vector<float> inv;
    switch (convention) {
        case RopeConvention::gemma4:
            // The decoder's own table (text_weights.cpp builds inv_freq_full / inv_freq_sliding with this call).
            inv = rope_inv_freq(Dh, layer.rope_theta, layer.rotated_pairs, layer.rope_factor);
            break;
        case RopeConvention::rotary_denominator:
            // The exponent 2i / (2·rotated) stretches the rotated pairs over the whole θ range, as if the head had only
            // the rotated dimensions; computed in float32 like rope_inv_freq.
            inv.assign(static_cast<size_t>(n), 0.0f);
            for (int i = 0; i < layer.rotated_pairs && i < n; ++i) {
                const float exponent = static_cast<float>(2 * i) / static_cast<float>(2 * layer.rotated_pairs);
                inv[i] = 1.0f / std::pow(static_cast<float>(layer.rope_theta), exponent) / static_cast<float>(layer.rope_factor);
            }
            break;
        case RopeConvention::all_pairs:
            inv = rope_inv_freq(Dh, layer.rope_theta, n, layer.rope_factor);
            break;
    }
    std::vector<RopePair> out(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
        out[i].pair = i;
        out[i].inv_freq = inv[i];
        out[i].rotated = inv[i] != 0.0f;
        out[i].wavelength = inv[i] != 0.0f ? 2.0 * std::numbers::pi / inv[i] : std::numeric_limits<double>::infinity();
    }
    return out;
}

// With rotate-half RoPE pair i of q at position p is the complex number z = q[i] + i·q[i + Dh/2] turned by p·ω_i, so
// the score of a query d positions after the key is Σ_i Re(z_q conj(z_k) e^{i d ω_i}) = Σ_i A_i cos(dω_i) − B_i sin(dω_i)
// with A_i = q_i k_i + q_j k_j, B_i = q_j k_i − q_i k_j (j = i + Dh/2): it depends only on d (RoPE's point).
// The error is ‖s_wrong − s_right‖ / ‖s_right‖ over all 64 samples and distances 0 … max_distance together.
double rope_score_error(const LayerInfo& layer, RopeConvention convention, int max_distance) {
    constexpr int kSamples = 64;
    constexpr uint32_t kSeed = 20250401;
    const std::vector<RopePair> right = rope_pairs(layer, RopeConvention::gemma4);
    const std::vector<RopePair> wrong = rope_pairs(layer, convention);
    const int n = layer.rope_pairs, Dh = layer.head_dim, distances = std::max(max_distance, 0) + 1;
    // cos / sin of d·ω_i for both tables, computed once: [n, distances] each.
    std::vector<double> cos_r(size_t(n) * distances), sin_r(cos_r.size()), cos_w(cos_r.size()), sin_w(cos_r.size());
    for (int i = 0; i < n; ++i)
        for (int d = 0; d < distances; ++d) {
            const size_t at = size_t(i) * distances + d;
            cos_r[at] = std::cos(d * double(right[i].inv_freq));
            sin_r[at] = std::sin(d * double(right[i].inv_freq));
            cos_w[at] = std::cos(d * double(wrong[i].inv_freq));
            sin_w[at] = std::sin(d * double(wrong[i].inv_freq));
        }
    FixedNormal normal(kSeed);
    double err2 = 0, ref2 = 0;
    std::vector<double> q(static_cast<size_t>(Dh)), k(static_cast<size_t>(Dh));
    std::vector<double> s_right(static_cast<size_t>(distances)), s_wrong(static_cast<size_t>(distances));
    for (int sample = 0; sample < kSamples; ++sample) {
        for (std::vector<double>* v : {&q, &k}) {
            double norm = 0;
            for (double& x : *v) {
                x = normal.next();
                norm += x * x;
            }
            for (double& x : *v) x /= std::sqrt(norm);
        }
        std::fill(s_right.begin(), s_right.end(), 0.0);
        std::fill(s_wrong.begin(), s_wrong.end(), 0.0);
        for (int i = 0; i < n; ++i) {
            const int j = i + n;
            const double A = q[i] * k[i] + q[j] * k[j], B = q[j] * k[i] - q[i] * k[j];
            const size_t row = size_t(i) * distances;
            for (int d = 0; d < distances; ++d) {
                s_right[d] += A * cos_r[row + d] - B * sin_r[row + d];
                s_wrong[d] += A * cos_w[row + d] - B * sin_w[row + d];
            }
        }
        for (int d = 0; d < distances; ++d) {
            err2 += (s_wrong[d] - s_right[d]) * (s_wrong[d] - s_right[d]);
            ref2 += s_right[d] * s_right[d];
        }
    }
    return ref2 > 0 ? std::sqrt(err2 / ref2) : 0.0;
}

// ---- MoE routing ----------------------------------------------------------------------------------------------------

std::optional<MoeLayerStats> moe_stats(const Recording& r, int layer) {
    const Tensor* ids = r.probe(Probe::text_moe_topk_ids, layer);
    if (ids == nullptr) return std::nullopt;
    require_rank(*ids, 2);
    MoeLayerStats s;
    s.T = static_cast<int>(ids->dim(0));
    s.K = static_cast<int>(ids->dim(1));
    s.E = r.config().text.num_experts;
    const Tensor* probs = r.probe(Probe::text_moe_router_probs, layer);
    if (probs) {
        require_rank(*probs, 2);
        if (probs->dim(0) != s.T) throw Error(probs->name + ": " + shape_str(probs->shape) + " does not match " + ids->name + " " + shape_str(ids->shape));
        if (s.E <= 0) s.E = static_cast<int>(probs->dim(1));
    }
    if (s.E <= 0) throw Error(ids->name + ": the config has no experts (num_experts = 0) and no router probabilities were recorded");
    s.ids.resize(ids->data.size());
    s.load.assign(static_cast<size_t>(s.E), 0);
    for (size_t i = 0; i < ids->data.size(); ++i) {
        const float v = ids->data[i];
        if (!(v >= 0 && v < s.E) || v != std::floor(v))
            throw Error(ids->name + ": entry " + std::to_string(i) + " = " + std::to_string(v) + " is not an expert id in [0, " +
                        std::to_string(s.E) + ")");
        s.ids[i] = static_cast<int32_t>(v);
        ++s.load[s.ids[i]];
    }
    if (const Tensor* w = r.probe(Probe::text_moe_topk_weights, layer)) {
        if (w->shape != ids->shape) throw Error(w->name + ": " + shape_str(w->shape) + " does not match " + ids->name + " " + shape_str(ids->shape));
        s.weights = w->data;
    }
    if (probs) {
        const int64_t E = probs->dim(1);
        s.entropy.resize(static_cast<size_t>(s.T));
        for (int t = 0; t < s.T; ++t) {
            double h = 0;
            for (int64_t e = 0; e < E; ++e) {
                const double p = probs->data[t * E + e];
                if (p > 0) h -= p * std::log(p);
            }
            s.entropy[t] = static_cast<float>(h);
        }
    }
    if (const Tensor* x = r.probe(Probe::text_moe_dense_post, layer)) s.shared_norm = row_norms(*x);
    if (const Tensor* x = r.probe(Probe::text_moe_experts_post, layer)) s.routed_norm = row_norms(*x);
    return s;
}

std::vector<int> moe_total_load(const Recording& r) {
    std::vector<int> total;
    for (int l = 0; l < r.config().text.num_hidden_layers; ++l) {
        const std::optional<MoeLayerStats> s = moe_stats(r, l);
        if (!s) continue;
        if (total.empty()) total.assign(s->load.size(), 0);
        for (size_t e = 0; e < total.size() && e < s->load.size(); ++e) total[e] += s->load[e];
    }
    return total;
}

// ---- PLE ------------------------------------------------------------------------------------------------------------

std::optional<PleMaps> ple_maps(const Recording& r) {
    PleMaps m;
    m.L = r.config().text.num_hidden_layers;
    for (int l = 0; l < m.L && m.T == 0; ++l) {
        if (const Tensor* g = r.probe(Probe::text_ple_gate, l)) m.T = static_cast<int>(g->dim(0));
        else if (const Tensor* o = r.probe(Probe::text_ple_out, l)) m.T = static_cast<int>(o->dim(0));
    }
    if (m.T == 0) return std::nullopt;
    const size_t cells = static_cast<size_t>(m.L) * m.T;
    m.gate_mean_abs.assign(cells, 0.0f);
    m.contribution_norm.assign(cells, 0.0f);
    m.recorded.assign(static_cast<size_t>(m.L), 0);
    for (int l = 0; l < m.L; ++l) {
        const Tensor* gate = r.probe(Probe::text_ple_gate, l);
        const Tensor* out = r.probe(Probe::text_ple_out, l);
        for (const Tensor* x : {gate, out})
            if (x && x->dim(0) != m.T)
                throw Error(x->name + ": " + shape_str(x->shape) + " has " + std::to_string(x->dim(0)) + " tokens, other PLE probes " +
                            std::to_string(m.T));
        if (gate) {
            const int64_t P = m.T > 0 ? static_cast<int64_t>(gate->data.size()) / m.T : 0;
            for (int t = 0; t < m.T; ++t) {
                double s = 0;
                for (int64_t p = 0; p < P; ++p) s += std::fabs(gate->data[t * P + p]);
                m.gate_mean_abs[size_t(l) * m.T + t] = P > 0 ? static_cast<float>(s / P) : 0.0f;
            }
        }
        if (out) {
            const std::vector<float> norms = row_norms(*out);
            std::copy(norms.begin(), norms.end(), m.contribution_norm.begin() + int64_t(l) * m.T);
        }
        m.recorded[l] = gate || out;
    }
    return m;
}

// ---- vision / audio -------------------------------------------------------------------------------------------------

std::optional<VisionGrid> vision_grid(const Recording& r) {
    const Tensor* grid = r.probe(Probe::vision_patch_grid);
    if (grid == nullptr) return std::nullopt;
    if (grid->data.size() != 2) throw Error(grid->name + ": expected [rows, cols], recorded shape " + shape_str(grid->shape));
    if (!r.config().vision) throw Error(grid->name + ": recorded, but the config of " + r.config().name + " has no vision tower");
    const VisionConfig& v = *r.config().vision;
    VisionGrid g;
    g.patch_rows = static_cast<int>(grid->data[0]);
    g.patch_cols = static_cast<int>(grid->data[1]);
    g.pool = v.pooling_kernel_size;
    g.patch_px = v.patch_size;
    // The pooler puts patch (x, y) in cell x/k + (cols/k)·(y/k) (ops.h vision_pool): integer division.
    g.cells_rows = g.pool > 0 ? g.patch_rows / g.pool : 0;
    g.cells_cols = g.pool > 0 ? g.patch_cols / g.pool : 0;
    return g;
}

std::optional<AudioSummary> audio_summary(const Recording& r) {
    const Tensor* mel = r.probe(Probe::audio_mel);
    const Tensor* subsample = r.probe(Probe::audio_subsample);
    const Tensor* encoder = r.probe(Probe::audio_encoder_out);
    const Tensor* soft = r.probe(Probe::audio_soft_tokens);
    const Tensor* layer0 = r.probe(Probe::audio_layer_out, 0);
    if (!mel && !subsample && !encoder && !soft && !layer0) return std::nullopt;
    if (!r.config().audio) throw Error("audio probes recorded, but the config of " + r.config().name + " has no audio tower");
    const AudioConfig& cfg = *r.config().audio;
    AudioSummary a;
    a.mel_frames = mel ? static_cast<int>(mel->dim(0)) : 0;
    // Steps after subsampling: from any probe with A' rows, else two stride-2 convolutions of the mel frames.
    if (subsample) a.steps = static_cast<int>(subsample->dim(0));
    else if (encoder) a.steps = static_cast<int>(encoder->dim(0));
    else if (layer0) a.steps = static_cast<int>(layer0->dim(0));
    else a.steps = ((a.mel_frames + 1) / 2 + 1) / 2;
    a.soft_tokens = soft ? static_cast<int>(soft->dim(0)) : 0;
    a.chunk = cfg.attention_chunk_size;
    a.left = cfg.attention_context_left - 1;
    a.right = cfg.attention_context_right;
    return a;
}

// reference/ops.cpp audio_attention: a key at distance q − k sees the query when 0 ≤ q − k < left, or 0 < k − q < right.
// The chunk only groups the computation (every such key lies in the chunk's context), so it does not move the edges.
std::pair<int, int> audio_window(const AudioSummary& a, int step) {
    const int first = std::max(0, step - std::max(a.left, 1) + 1);
    int last = step + std::max(a.right - 1, 0);
    if (a.steps > 0) last = std::min(last, a.steps - 1);
    return {first, last};
}

// ---- divergence -----------------------------------------------------------------------------------------------------

namespace {
std::vector<NpyArray> arrays_of(const Recording& r) {
    std::vector<RecordingSink::Entry> entries;
    entries.reserve(r.tensors().size());
    for (const Tensor& t : r.tensors()) entries.push_back({t.name, t.shape, t.data});
    return to_arrays(entries);
}
}  // namespace

TraceDiff compare_recordings(const Recording& candidate, const Recording& reference, double tol) {
    return compare_traces(arrays_of(candidate), arrays_of(reference), tol);
}

int layer_of_probe(const std::string& name) {
    // "tower.N.point": the second dot-separated field when it is all digits (also for names outside the probe table).
    const size_t dot = name.find('.');
    if (dot == std::string::npos) return -1;
    const size_t dot2 = name.find('.', dot + 1);
    if (dot2 == std::string::npos || dot2 == dot + 1) return -1;
    int layer = -1;
    const char* begin = name.data() + dot + 1;
    const char* end = name.data() + dot2;
    auto [ptr, ec] = std::from_chars(begin, end, layer);
    if (ec != std::errc() || ptr != end || layer < 0) return -1;
    return layer;
}

}  // namespace gemma4::viz
