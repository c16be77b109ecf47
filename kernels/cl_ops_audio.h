// cl_ops_audio.h — the audio Conformer's own ops (reference/ops.h: causal_dwconv, conv2d_subsample, audio_attention)
// run by the kernels of kernels/audio.cl. Like cl_ops.h: host pointers, activations through the context's HostIo
// (uploaded and downloaded per call on a bare context, device mirrors under the Backend). Semantics exactly as the reference functions; every call throws gemma4::Error on
// failure or on a shape the op cannot take.
#pragma once

#include <cstdint>

#include "cl_runtime.h"
#include "ops.h"

namespace gemma4::cl {

// Causal depthwise conv1d without bias, K − 1 zeros on the left: out[t, c] = Σ_k w[c, k] · x[t − K + 1 + k, c].
// x, out [T, C]; w [C, K].
void cl_causal_dwconv(ClContext& cl, float* out, const float* x, const float* w, int T, int C, int K);

// One audio subsampling stage on channel-last x[T, F, Cin]: rows with row_valid[t] == 0 read as zeros (row_valid
// nullptr: every row valid); Conv2d 3×3 stride 2 padding 1 without bias (w [Cout, Cin, 3, 3]) → out[⌈T/2⌉, ⌈F/2⌉,
// Cout]; LayerNorm over the channels (norm_w[Cout], no bias; float32 two-pass mean and variance) then ReLU.
void cl_conv2d_subsample(ClContext& cl, float* out, const float* x, const uint8_t* row_valid, int T, int F, int Cin, int Cout,
                         const float* w, const float* norm_w, float eps);

// Audio chunked local self-attention (see audio_attention in ops.h): q, k, v [T, H, Dh], rel_k [W/2 + 1, H·Dh] with
// W = C + P + Fr, key_valid[T] → out[T, H·Dh] and, when weights != nullptr, weights[H, T, P].
void cl_audio_attention(ClContext& cl, float* out, float* weights, const float* q, const float* k, const float* v, const float* rel_k,
                        const uint8_t* key_valid, const AudioAttentionShape& s);

}  // namespace gemma4::cl
