// attention.cl — the attention inner loop of one layer (reference: attention_forward in reference/attention.cpp):
// scores = q·k with scale 1.0 (the q/k norms replace 1/√Dh) where attention_allowed(q_pos, k_pos, window) holds and
// -inf elsewhere, softmax over all S keys in float32 (masked keys give exactly 0, an all-masked row gives zeros),
// out = Σ_s p[s] · v[s]. GQA: query head h reads KV head h / (H / Hkv).
// Layouts: q[T, H, Dh], k and v[S, Hkv, Dh], q_pos[T], k_pos[S] (long), scores[H, T, S], out[T, H·Dh].
// Versions:
//   v1  naive port: one work-item per (head, query) row, looping over the keys in the reference's order. The row's
//       scores live in a global scratch [H, T, S] (which is also the optional attention-weights output), so S and Dh
//       have no private-memory limit; the softmax is the reference's three passes (max, Σexp, × 1/sum) and each
//       output element sums p·v over s in order, skipping p == 0 as the reference does.
// Global size: (T, H).

// The mask rule of reference/attention.h: causal, and on sliding layers (window > 0) only keys with k > q − window.
inline bool attention_allowed(long q_pos, long k_pos, int window) {
    return k_pos <= q_pos && (window == 0 || k_pos > q_pos - window);
}

__kernel void attention_rows(__global float* out, __global float* scores, __global const float* q, __global const float* k,
                             __global const float* v, __global const long* q_pos, __global const long* k_pos, int T, int S,
                             int H, int Hkv, int Dh, int window) {
    const int t = get_global_id(0);
    const int h = get_global_id(1);
    if (t >= T || h >= H) return;
    const int kvh = h / (H / Hkv);
    __global const float* qr = q + ((long)t * H + h) * Dh;
    __global float* p = scores + ((long)h * T + t) * S;
    const long qp = q_pos[t];

    float max_v = -INFINITY;
    for (int s = 0; s < S; ++s) {
        if (!attention_allowed(qp, k_pos[s], window)) {
            p[s] = -INFINITY;
            continue;
        }
        __global const float* kr = k + ((long)s * Hkv + kvh) * Dh;
        float dot = 0.0f;
        for (int d = 0; d < Dh; ++d) dot += qr[d] * kr[d];
        p[s] = dot;
        max_v = fmax(max_v, dot);
    }

    __global float* o = out + ((long)t * H + h) * Dh;
    if (max_v == -INFINITY) {  // every key masked: weights and output are zeros
        for (int s = 0; s < S; ++s) p[s] = 0.0f;
        for (int d = 0; d < Dh; ++d) o[d] = 0.0f;
        return;
    }
    float sum = 0.0f;
    for (int s = 0; s < S; ++s) {
        const float e = exp(p[s] - max_v);  // exp(-inf) = 0
        p[s] = e;
        sum += e;
    }
    const float inv = 1.0f / sum;
    for (int s = 0; s < S; ++s) p[s] *= inv;

    for (int d = 0; d < Dh; ++d) {
        float acc = 0.0f;
        for (int s = 0; s < S; ++s) {
            const float w = p[s];
            if (w == 0.0f) continue;
            acc += w * v[((long)s * Hkv + kvh) * Dh + d];
        }
        o[d] = acc;
    }
}
