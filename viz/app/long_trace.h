// long_trace.h — a synthetic long trace for the inspector's memory and frame-time tests (issue 7: "a test opens a
// 32 k-token trace in the attention panel and stays under 1 GB"): tiny-e2b's config, meta.tokens of T ids, and for a
// sliding layer (0), a global layer (4) and a KV-shared global layer (9, reading layer 4's keys) the rotated queries
// text.<l>.attn_q_rope [T, H, Dh] and, for layers that own their keys, text.<l>.attn_k_rope [T, Hkv, Dh] — never the
// T×T weights, which the attention panel computes for what is visible. Deterministic (fixed seed, mt19937): the same
// file every time. Values: one random direction per head rotated by the layer's own RoPE at each position plus noise,
// so the weights fall off with distance like real heads do, and token 0's key gets a bias (an attention sink).
#pragma once

#include <string>

namespace gemma4::viz {

// Writes the trace to `path` and returns its size in bytes.
long long make_long_trace(const std::string& path, int tokens);

}  // namespace gemma4::viz
