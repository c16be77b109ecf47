// attention.h — one decoder layer's self-attention (Gemma4TextAttention): q/k/v projections, q/k RMSNorm, RoPE or
// p-RoPE, the weightless v_norm, K=V on full layers where configured, KV sharing, GQA, sliding-window or causal
// mask, softmax with scale 1.0 (the q/k norms replace 1/√Dh), and o_proj. Bidirectional image blocks (26B/31B) and
// the OpenCL kernels live elsewhere.
#pragma once

#include "text_model.h"

namespace gemma4 {

// Reads a.attn_norm [T, D]; appends this layer's K/V to the cache (unless KV-shared); writes a.attn_o [T, D].
void attention_forward(const TextConfig& cfg, const TextWeights& w, int l, TextActivations& a, KvCache& cache,
                       const int64_t* positions, const ForwardOptions& opts);

// The mask rule, in one place: may a query at q_pos see a key at k_pos? Causal, and on sliding layers only the last
// `window` positions including the query itself (masking_utils.sliding_window_overlay: k > q − window).
inline bool attention_allowed(int64_t q_pos, int64_t k_pos, int window) {
    return k_pos <= q_pos && (window == 0 || k_pos > q_pos - window);
}

// The same with image blocks (26B / 31B): same_image is true when query and key are soft tokens of one image.
// window == 0 means a full-attention layer. See ImageMask for where each rule comes from.
inline bool attention_allowed(int64_t q_pos, int64_t k_pos, int window, bool same_image, ImageMask rule) {
    const bool causal = k_pos <= q_pos;
    const bool in_window = window == 0 || k_pos > q_pos - window;
    if (!same_image) return causal && in_window;
    switch (rule) {
        case ImageMask::transformers: return window == 0 ? causal : in_window;
        case ImageMask::transformers_0246b4f: return true;
        case ImageMask::transformers_c308a309: return window == 0 ? causal : true;
        case ImageMask::jax: return window == 0 ? causal : (q_pos - k_pos < window && k_pos - q_pos < window);
        case ImageMask::causal: return causal && in_window;
    }
    return causal && in_window;
}

}  // namespace gemma4
