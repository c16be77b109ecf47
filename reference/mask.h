// mask.h — which key a query may see, in one place: causal, sliding windows, and the image blocks of the 26B / 31B
// decoders (use_bidirectional_attention "vision"), whose rule differs between versions of the reference code (spec §4).
#pragma once

#include <cstdint>
#include <string>

namespace gemma4 {

// How the 26B / 31B decoders let the soft tokens of one image see each other. The default is what transformers 5.23,
// which made the goldens, does. Irrelevant for E2B / E4B and for text-only prompts.
enum class ImageMask {
    transformers,           // 5.23 create_masks_for_vision_model: full layers causal; sliding (causal OR same image) AND k > q − window
    transformers_0246b4f,   // full and sliding: (causal or sliding-causal) OR same image
    transformers_c308a309,  // full causal; sliding: sliding-causal OR same image
    jax,                    // google-deepmind/gemma: full causal; sliding (causal OR same image) AND |q − k| < window
    causal,                 // ignore image blocks: plain causal / sliding-causal everywhere
};
ImageMask parse_image_mask(const std::string& name);  // "transformers", "0246b4f", "c308a309", "jax", "causal"

// May a query at q_pos see a key at k_pos? Causal, and on sliding layers (window > 0) only the last `window` positions
// including the query itself (masking_utils.sliding_window_overlay: k > q − window).
inline bool attention_allowed(int64_t q_pos, int64_t k_pos, int window) {
    return k_pos <= q_pos && (window == 0 || k_pos > q_pos - window);
}

// The same with image blocks: same_image is true when query and key are soft tokens of one image.
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
