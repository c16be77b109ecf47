// recording.h — what the inspector's panels draw, with no ImGui in sight (design §7): one run of a model (a trace
// file, or a live run recorded by a RecordingSink) plus the model's ModelConfig, and the derived quantities each panel
// plots, as plain functions that the unit tests (tests/test_recording.cpp) check with exact values. Every number here
// comes from the loaded config or the recorded probes, never from the seed texts.
//
// Probe names follow reference/probes.h ("text.3.attn_weights", "vision.pooled", ...). Shapes in the comments use the
// legend of reference/ops.h (T tokens, S keys, H heads, E experts, K chosen experts, P PLE width, L layers).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compare.h"
#include "config.h"
#include "npz.h"
#include "probes.h"
#include "trace.h"

namespace gemma4::viz {

// One recorded tensor (float32, row-major).
struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> data;
    int64_t dim(int i) const { return i < static_cast<int>(shape.size()) ? shape[i] : 1; }
};

// The architecture facts of one decoder layer, from TextConfig (what the architecture map draws).
struct LayerInfo {
    int index = 0;
    bool global = false;    // full attention (else sliding)
    int window = 0;         // sliding window, 0 on global layers
    int q_heads = 0, kv_heads = 0, head_dim = 0;
    int rope_pairs = 0;     // Dh / 2
    int rotated_pairs = 0;  // pairs that RoPE turns (p-RoPE on global layers: fewer than rope_pairs)
    double rope_theta = 0;
    double rope_factor = 1;  // divides inv_freq (RopeParams::factor; 1 in every released model)
    bool kv_shared = false;  // reads the K/V of kv_source
    int kv_source = 0;
    bool k_eq_v = false;
    bool moe = false;
    bool ple = false;
    int64_t mlp_width = 0;
};
std::vector<LayerInfo> layer_infos(const TextConfig& cfg);

class Recording {
public:
    Recording() = default;
    // A trace written by `gemma4 trace` (or a golden). The config comes from `model_dir_or_name` when given, else from
    // the trace's meta.model when it names a checkpoint that opens (bundled names work; only config.json is read) or a
    // variant of config_for_variant ("gemma-4-e2b"); else an Error naming the file. Tensors are kept in execution order.
    static Recording from_trace(const std::string& npz_path, const std::string& model_dir_or_name = "");
    // A run recorded in memory (live runs of the inspector).
    static Recording from_probes(const ModelConfig& cfg, const std::vector<RecordingSink::Entry>& probes, const TraceMeta& meta);
    // Arrays already in memory (read_npz, trace_forward): meta.* entries give the meta, the rest become tensors.
    // `where` names the source in errors.
    static Recording from_arrays(const ModelConfig& cfg, const std::vector<NpyArray>& arrays, const std::string& where);

    const ModelConfig& config() const { return config_; }
    const TraceMeta& meta() const { return meta_; }
    const std::vector<LayerInfo>& layers() const { return layers_; }
    const std::vector<Tensor>& tensors() const { return tensors_; }  // in recording (execution) order
    const Tensor* find(const std::string& name) const;                 // nullptr when not recorded
    const Tensor* probe(Probe p, int layer = -1) const;                // by table entry; layer -1 for model-level probes
    int tokens() const;                                                // T of the text run (0 without text probes)
    // Labels of the text tokens (decoded pieces when set by the caller, else the ids), size tokens().
    std::vector<std::string> token_labels;
    // Wall time of each decoder layer in seconds, measured by a live run (a second forward pass that listens only to
    // the layer outputs, so the timing is not the cost of recording every probe); empty for a replayed trace.
    std::vector<double> layer_seconds;

    // Writes the recording as a trace .npz that from_trace reopens (record and replay).
    void save(const std::string& npz_path) const;

private:
    // Adds a tensor (a name seen before keeps its first place with the latest data), then orders and indexes them.
    void add_tensor(Tensor&& t);
    void finish(const std::vector<int64_t>& tokens);
    // Consumes `arrays`: each array's bytes are freed as soon as its float32 copy is made, so replaying a trace peaks at
    // about the file's size, not twice it.
    static Recording from_arrays_consuming(const ModelConfig& cfg, std::vector<NpyArray>&& arrays, const std::string& where);

    ModelConfig config_;
    TraceMeta meta_;
    std::vector<LayerInfo> layers_;
    std::vector<Tensor> tensors_;
    std::map<std::string, size_t> index_;
};

// ---- attention windows --------------------------------------------------------------------------------------------
// May query position q see key position k on this layer (causal; sliding layers: k > q − window)? Same rule as
// reference/mask.h.
bool mask_allows(const LayerInfo& layer, int64_t q, int64_t k);
// The KV head each query head reads (GQA): head h → h / (q_heads / kv_heads).
std::vector<int> kv_head_of_query_heads(const LayerInfo& layer);
// Attention weights of one layer and head as a [T, S] view into the recording's text.<l>.attn_weights [H, T, S];
// nullptr when not recorded.
struct AttentionMap {
    int T = 0, S = 0;
    const float* w = nullptr;  // row-major [T, S]
    float at(int t, int s) const { return w[int64_t(t) * S + s]; }
};
std::optional<AttentionMap> attention_map(const Recording& r, int layer, int head);
// Down-sampled tile of an attention map for drawing: the max of each block of (T / rows) × (S / cols) cells, so a
// 32 k × 32 k map is drawn from what is visible ([t0, t1) × [s0, s1)) at the panel's resolution. out[rows, cols].
// The range is clamped to the map; block r covers rows [t0 + ⌊r·n/rows⌋, t0 + ⌊(r+1)·n/rows⌋) (n = t1 − t0), and when
// rows > n a block shows the one cell t0 + ⌊r·n/rows⌋ (cells repeat); columns likewise. Empty range → zeros.
std::vector<float> attention_tile(const AttentionMap& m, int t0, int t1, int s0, int s1, int rows, int cols);

// Attention weights of one layer and head, wherever they come from: the recorded text.<l>.attn_weights (a view), or,
// when those were not recorded, computed row by row from the recorded queries text.<l>.attn_q_rope [T, H, Dh] and the
// keys of the layer's KV source text.<src>.attn_k_rope [S, Hkv, Dh] (src = l except on KV-shared layers; with K=V the
// keys are still attn_k_rope, only the values differ). The computation is reference/ops.cpp attention's: scores q·k
// with scale 1.0 over the keys the layer's mask allows (causal, sliding window), float32 softmax, zero elsewhere; image
// blocks of the 26B / 31B "vision" masks are not modelled (text prompts). Query row t is at position t + (S − T).
// So a 32 k-token run needs O(T·H·Dh) floats, never T×S: rows are made on demand.
struct AttentionSource {
    int T = 0, S = 0;
    int layer = -1, head = -1;
    int window = 0;           // the layer's sliding window, 0 on global layers
    bool computed = false;    // false: `recorded` views text.<l>.attn_weights; true: rows are computed from q and k
    AttentionMap recorded;
    int key_layer = -1;       // computed: the layer whose attn_k_rope is read (kv_source on KV-shared layers)
    const float* q = nullptr; // computed: row t of this head at q + t·q_stride, Dh floats
    const float* k = nullptr; // computed: key s of the KV head at k + s·k_stride, Dh floats
    int64_t q_stride = 0, k_stride = 0;
    int Dh = 0;
    int offset() const { return S - T; }
    // The keys query row t may see, [first, last] (the mask of reference/mask.h).
    std::pair<int, int> allowed(int t) const;
    // The weights of query row t over all S keys into out[S] (exact zeros where the mask forbids).
    void row(int t, float* out) const;
};
// nullopt when neither the weights nor the queries and keys of this layer were recorded, for a head out of range, and
// for computed sources whose keys do not cover the queries' context (a decode step's probes hold only the new rows).
std::optional<AttentionSource> attention_source(const Recording& r, int layer, int head);
// Rows [t0, t1) of the weights, [t1 − t0, S] (empty when there is no source); the range is clamped to [0, T).
std::vector<float> attention_rows(const Recording& r, int layer, int head, int t0, int t1);
// attention_tile of a source. Recorded weights: exactly attention_tile of the map. Computed rows: the same blocks,
// but when rows_per_block > 0 each block takes the max over at most that many of its query rows, spread evenly over the
// block (so a zoomed-out 32 k map costs rows × rows_per_block softmax rows, not T); 0 = every row (exact).
std::vector<float> attention_tile(const AttentionSource& src, int t0, int t1, int s0, int s1, int rows, int cols,
                                  int rows_per_block = 0);

// ---- p-RoPE ---------------------------------------------------------------------------------------------------------
enum class RopeConvention {
    gemma4,             // inv_freq[i] = θ^(−2i/Dh) for the rotated pairs, 0 for the rest (transformers' "proportional")
    rotary_denominator, // wrong: exponent denominator = 2·rotated pairs instead of head_dim
    all_pairs,          // wrong: every pair rotates (no pass-through pairs)
};
struct RopePair {
    int pair = 0;
    float inv_freq = 0;     // radians per position; 0 = pass-through
    double wavelength = 0;  // 2π / inv_freq positions; +inf when 0
    bool rotated = false;
};
std::vector<RopePair> rope_pairs(const LayerInfo& layer, RopeConvention convention = RopeConvention::gemma4);
// Relative error of attention scores q·k when RoPE uses `convention` instead of gemma4, averaged over fixed
// pseudo-random unit q, k (seeded) and relative distances 0 … max_distance: ‖s_wrong − s_right‖ / ‖s_right‖.
double rope_score_error(const LayerInfo& layer, RopeConvention convention, int max_distance);

// ---- MoE routing ----------------------------------------------------------------------------------------------------
struct MoeLayerStats {
    int T = 0, E = 0, K = 0;
    std::vector<int32_t> ids;       // [T, K] chosen experts (text.<l>.moe_topk_ids)
    std::vector<float> weights;     // [T, K] after renormalisation × per-expert scale
    std::vector<int> load;          // [E] tokens routed to each expert; sums to T·K
    std::vector<float> entropy;     // [T] router entropy in nats over all E probabilities (when probs were recorded)
    std::vector<float> shared_norm; // [T] ‖dense (shared) branch after its post-norm‖ (text.<l>.moe_dense_post)
    std::vector<float> routed_norm; // [T] ‖routed experts after their post-norm‖ (text.<l>.moe_experts_post)
};
std::optional<MoeLayerStats> moe_stats(const Recording& r, int layer);  // nullopt when the layer has no MoE probes
std::vector<int> moe_total_load(const Recording& r);                     // [E] over every MoE layer of the prompt

// ---- PLE --------------------------------------------------------------------------------------------------------
// Layer × token heatmaps (row l, column t), from text.<l>.ple_gate [T, P] and text.<l>.ple_out [T, D]:
struct PleMaps {
    int L = 0, T = 0;
    std::vector<float> gate_mean_abs;     // [L, T] mean |gelu(gate)| over P
    std::vector<float> contribution_norm; // [L, T] ‖ple_out‖ (what the layer adds to the residual stream)
    std::vector<uint8_t> recorded;        // [L] 1 where the layer's ple_gate / ple_out were recorded (else rows of 0)
};
std::optional<PleMaps> ple_maps(const Recording& r);

// ---- vision / audio -------------------------------------------------------------------------------------------------
// The patch grid of the recorded image (vision.patch_grid) and its pooled cells.
struct VisionGrid {
    int patch_rows = 0, patch_cols = 0, pool = 0;  // pool = pooling kernel (3)
    int cells_rows = 0, cells_cols = 0;            // pooled grid = soft tokens
    int patch_px = 0;                              // patch size in pixels (16)
};
std::optional<VisionGrid> vision_grid(const Recording& r);
// Audio: mel frames [A, 128] (audio.mel), steps after subsampling, soft tokens, and the chunked-attention window of
// one step (first and last key it may see).
struct AudioSummary {
    int mel_frames = 0, steps = 0, soft_tokens = 0;
    int chunk = 0, left = 0, right = 0;
};
std::optional<AudioSummary> audio_summary(const Recording& r);
// [first, last] key step: first = max(0, step − left + 1), last = min(steps − 1, step + max(right − 1, 0)), the
// rule of reference/ops.cpp audio_attention (0 ≤ q − k < left, or 0 < k − q < right).
std::pair<int, int> audio_window(const AudioSummary& a, int step);

// ---- divergence -----------------------------------------------------------------------------------------------------
// The probe-by-probe comparison against another run (a golden, another backend), in execution order.
TraceDiff compare_recordings(const Recording& candidate, const Recording& reference, double tol);
// The layer a probe name belongs to ("text.7.attn_q" → 7), −1 for model-level probes.
int layer_of_probe(const std::string& name);

}  // namespace gemma4::viz
