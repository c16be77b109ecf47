// audio.cl — the audio Conformer's own steps (reference: conv2d_subsample, causal_dwconv and audio_attention in
// reference/ops.cpp, used by reference/audio_tower.cpp):
//   conv2d_subsample  one subsampling stage (Gemma4AudioSubSampleConvProjectionLayer): Conv2d 3×3, stride 2, padding
//                     1, no bias, on channel-last x[T, F, Cin] whose rows with row_valid[t] == 0 read as zeros →
//                     [T2, F2, Cout] with T2 = ⌈T/2⌉, F2 = ⌈F/2⌉; then LayerNorm over the Cout channels of each cell
//                     (weight norm_w, no bias) and ReLU. w [Cout, Cin, 3, 3] (torch's layout), norm_w[Cout],
//                     row_valid[T] (uchar).
//   causal_dwconv     depthwise conv1d over time without bias, K − 1 zeros on the left (Gemma4AudioCausalConv1d):
//                     out[t, c] = Σ_k w[c, k] · x[t − K + 1 + k, c]. x, out [T, C]; w [C, K].
//   audio_attention   chunked local self-attention (Gemma4AudioAttention after the projections and q/k scales):
//                     queries in blocks of C; block b sees the W = C + P + Fr keys b·C − P + j (zero outside the clip);
//                     logit = cap · tanh((q·k + q_r·R[p]) / cap) with R = rel_k[W/2 + 1, H, Dh] placed by
//                     Transformer-XL's rel_shift (slot j of query i of the block is flat index i·W + j of a
//                     [C, W + 1] matrix whose row r is q_{b·C + r} · R[0 .. W/2] followed by zeros); keys that are
//                     padding (key_valid == 0), outside the clip or outside the window (0 ≤ t − key < P, or
//                     0 < key − t < Fr) get `invalid`; softmax over the W slots (an all-invalid row is uniform, as
//                     in the reference); out = Σ over in-clip slots of p · v.
//                     q, k, v [T, H, Dh], key_valid[T] (uchar) → out [T, H·Dh]; probabilities scores[H, T, W];
//                     optional weights[H, T, P]: slot m ↔ context slot i + 1 + m (the query itself is m = P − 1).
// Versions:
//   v1  naive port. conv2d_subsample: one work-group per output cell (f2, t2); each lane computes the channels
//       co = lane, lane + L, ... in the reference's order (kt, kf, ci), keeps them in out, then the group reduces
//       Σo for the mean and Σ(o − mean)² for the variance in local memory (two passes in float, where the reference
//       uses double: no cl_khr_fp64 needed). causal_dwconv: one work-item per (c, t). audio_attention: three launches
//       — one work-item per logit (j, t, h) into scores[H, T, W]; one per row (t, h) for the softmax in place (the
//       reference's three passes: max, Σexp, × 1/sum); one per output element (d, t, h) summing p · v over the
//       slots in order; and a fourth, only when weights are asked for, copying the P probe slots.
// Global size: conv2d_subsample (L, F2, T2) with local (L, 1, 1), L a power of two; causal_dwconv (C, T);
// audio_attn_logits (W, T, H); audio_attn_softmax (T, H); audio_attn_values (Dh, T, H); audio_attn_weights (P, T, H).

// out[T2, F2, Cout]; partial[L] is the group's local scratch for the two reductions.
__kernel void conv2d_subsample(__global float* out, __global const float* x, __global const uchar* row_valid,
                               __global const float* w, __global const float* norm_w, __local float* partial, int T, int F,
                               int Cin, int Cout, float eps) {
    const int lane = get_local_id(0);
    const int L = get_local_size(0);
    const int f2 = get_global_id(1);
    const int t2 = get_global_id(2);
    const int F2 = (F - 1) / 2 + 1;
    __global float* o = out + ((long)t2 * F2 + f2) * Cout;

    // The convolution, channel co summed over (kt, kf, ci) in the reference's order.
    float sum = 0.0f;
    for (int co = lane; co < Cout; co += L) {
        float acc = 0.0f;
        for (int kt = 0; kt < 3; ++kt) {
            const int t = 2 * t2 + kt - 1;
            if (t < 0 || t >= T || !row_valid[t]) continue;  // zero padding, and masked rows
            for (int kf = 0; kf < 3; ++kf) {
                const int f = 2 * f2 + kf - 1;
                if (f < 0 || f >= F) continue;
                __global const float* in = x + ((long)t * F + f) * Cin;
                __global const float* wk = w + (long)co * Cin * 9 + kt * 3 + kf;
                for (int ci = 0; ci < Cin; ++ci) acc += in[ci] * wk[ci * 9];
            }
        }
        o[co] = acc;  // read back only by this lane
        sum += acc;
    }

    // mean = Σo / Cout
    partial[lane] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = L / 2; stride > 0; stride /= 2) {
        if (lane < stride) partial[lane] += partial[lane + stride];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float mean = partial[0] / (float)Cout;
    barrier(CLK_LOCAL_MEM_FENCE);

    // var = Σ(o − mean)² / Cout
    float sq = 0.0f;
    for (int co = lane; co < Cout; co += L) {
        const float dev = o[co] - mean;
        sq += dev * dev;
    }
    partial[lane] = sq;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = L / 2; stride > 0; stride /= 2) {
        if (lane < stride) partial[lane] += partial[lane + stride];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float var = partial[0] / (float)Cout;
    const float inv = 1.0f / sqrt(var + eps);

    for (int co = lane; co < Cout; co += L) o[co] = fmax(0.0f, (o[co] - mean) * inv * norm_w[co]);
}

// out[T, C] = Σ_k w[c, k] · x[t − K + 1 + k, c] over the taps inside the clip, k ascending.
__kernel void causal_dwconv(__global float* out, __global const float* x, __global const float* w, int T, int C, int K) {
    const int c = get_global_id(0);
    const int t = get_global_id(1);
    if (c >= C || t >= T) return;
    float acc = 0.0f;
    for (int k = 0; k < K; ++k) {
        const int src = t - (K - 1) + k;
        if (src >= 0) acc += w[(long)c * K + k] * x[(long)src * C + c];
    }
    out[(long)t * C + c] = acc;
}

// scores[H, T, W]: the capped, masked logit of context slot j for query t and head h.
__kernel void audio_attn_logits(__global float* scores, __global const float* q, __global const float* k,
                                __global const float* rel_k, __global const uchar* key_valid, int T, int H, int Dh, int C,
                                int P, int Fr, float cap, float invalid) {
    const int W = C + P + Fr;
    const int j = get_global_id(0);
    const int t = get_global_id(1);
    const int h = get_global_id(2);
    if (j >= W || t >= T || h >= H) return;
    const int n_rel = W / 2 + 1;
    const int b = t / C, i = t % C;
    const int key = b * C - P + j;
    const bool in_clip = key >= 0 && key < T;
    __global float* slot = scores + ((long)h * T + t) * W + j;
    const int dist = t - key;
    const bool in_window = (dist >= 0 && dist < P) || (dist < 0 && -dist < Fr);
    if (!(in_clip && key_valid[key] && in_window)) {
        *slot = invalid;
        return;
    }
    __global const float* qt = q + ((long)t * H + h) * Dh;
    float ac = 0.0f;  // matrix_ac: q · k
    __global const float* kr = k + ((long)key * H + h) * Dh;
    for (int d = 0; d < Dh; ++d) ac += qt[d] * kr[d];
    // matrix_bd after rel_shift: row r, column p of the [C, W + 1] matrix (zero for p ≥ n_rel or a query row past T).
    const int flat = i * W + j, r = flat / (W + 1), p = flat % (W + 1);
    float bd = 0.0f;
    if (p < n_rel && b * C + r < T) {
        __global const float* qr = q + (((long)b * C + r) * H + h) * Dh;
        __global const float* R = rel_k + ((long)p * H + h) * Dh;
        for (int d = 0; d < Dh; ++d) bd += qr[d] * R[d];
    }
    *slot = tanh((ac + bd) / cap) * cap;
}

// scores[H, T, W] in place: softmax of row (t, h) (max, Σexp, × 1/sum; an all −inf row gives zeros).
__kernel void audio_attn_softmax(__global float* scores, int T, int H, int W) {
    const int t = get_global_id(0);
    const int h = get_global_id(1);
    if (t >= T || h >= H) return;
    __global float* p = scores + ((long)h * T + t) * W;
    float max_v = -INFINITY;
    for (int j = 0; j < W; ++j) max_v = fmax(max_v, p[j]);
    if (max_v == -INFINITY) {
        for (int j = 0; j < W; ++j) p[j] = 0.0f;
        return;
    }
    float sum = 0.0f;
    for (int j = 0; j < W; ++j) {
        const float e = exp(p[j] - max_v);
        p[j] = e;
        sum += e;
    }
    const float inv = 1.0f / sum;
    for (int j = 0; j < W; ++j) p[j] *= inv;
}

// out[T, H·Dh]: element d of query t, head h = Σ over the in-clip slots j (ascending) of p[j] · v[key, h, d].
__kernel void audio_attn_values(__global float* out, __global const float* scores, __global const float* v, int T, int H,
                                int Dh, int C, int P, int Fr) {
    const int d = get_global_id(0);
    const int t = get_global_id(1);
    const int h = get_global_id(2);
    if (d >= Dh || t >= T || h >= H) return;
    const int W = C + P + Fr;
    const int key0 = (t / C) * C - P;
    __global const float* p = scores + ((long)h * T + t) * W;
    float acc = 0.0f;
    for (int j = 0; j < W; ++j) {
        const int key = key0 + j;
        if (key < 0 || key >= T) continue;  // zero-padded values
        acc += p[j] * v[((long)key * H + h) * Dh + d];
    }
    out[((long)t * H + h) * Dh + d] = acc;
}

// weights[H, T, P]: probe slot m of query t = context slot t % C + 1 + m.
__kernel void audio_attn_weights(__global float* weights, __global const float* scores, int T, int H, int C, int P, int Fr) {
    const int m = get_global_id(0);
    const int t = get_global_id(1);
    const int h = get_global_id(2);
    if (m >= P || t >= T || h >= H) return;
    const int W = C + P + Fr;
    weights[((long)h * T + t) * P + m] = scores[((long)h * T + t) * W + t % C + 1 + m];
}
