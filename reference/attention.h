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

// The mask rule lives in mask.h (attention_allowed).

}  // namespace gemma4
