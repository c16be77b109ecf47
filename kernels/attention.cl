// attention.cl — the text self-attention after the projections (reference: attention in reference/ops.cpp):
// scores = q·k with scale 1.0 (the q/k norms replace 1/√Dh) where the mask allows and -inf elsewhere, softmax over all
// S keys in float32 (masked keys give exactly 0, an all-masked row gives zeros), out = Σ_s p[s] · v[s]. GQA: query
// head h reads KV head h / (H / Hkv).
// The mask is reference/mask.h's attention_allowed: causal, and on sliding layers (window > 0) only keys with
// k > q − window; with image blocks (q_block / k_block not NULL) a query and key of one image (q_block[t] ≥ 0 and
// q_block[t] == k_block[s]) follow the ImageMask rule passed as `rule` (the IMAGE_MASK_* numbers below, mapped from
// the enum by the host).
// Layouts: q[T, H, Dh], k and v[S, Hkv, Dh], q_pos[T], k_pos[S] (long), q_block[T], k_block[S] (int, −1 = text),
// scores[H, Tc, S] for the Tc queries t0 … t0 + Tc − 1 of this launch, out[T, H·Dh].
// Versions:
//   v1  naive port: one work-item per (head, query) row, looping over the keys in the reference's order. The row's
//       scores live in a global scratch (which is also the optional attention-weights output), so S and Dh have no
//       private-memory limit; the softmax is the reference's three passes (max, Σexp, × 1/sum) and each output
//       element sums p·v over s in order, skipping p == 0 as the reference does.
//   v2  image blocks and the ImageMask rules; queries in chunks (t0, Tc) so the host can bound the scratch.
// Global size: (Tc, H).

#define IMAGE_MASK_TRANSFORMERS 0
#define IMAGE_MASK_0246B4F 1
#define IMAGE_MASK_C308A309 2
#define IMAGE_MASK_JAX 3
#define IMAGE_MASK_CAUSAL 4

// reference/mask.h attention_allowed(q_pos, k_pos, window, same_image, rule)
inline bool attention_allowed(long q_pos, long k_pos, int window, bool same_image, int rule) {
    const bool causal = k_pos <= q_pos;
    const bool in_window = window == 0 || k_pos > q_pos - window;
    if (!same_image) return causal && in_window;
    switch (rule) {
        case IMAGE_MASK_TRANSFORMERS: return window == 0 ? causal : in_window;
        case IMAGE_MASK_0246B4F: return true;
        case IMAGE_MASK_C308A309: return window == 0 ? causal : true;
        case IMAGE_MASK_JAX: return window == 0 ? causal : (q_pos - k_pos < window && k_pos - q_pos < window);
        default: return causal && in_window;  // IMAGE_MASK_CAUSAL
    }
}

__kernel void attention_rows(__global float* out, __global float* scores, __global const float* q, __global const float* k,
                             __global const float* v, __global const long* q_pos, __global const long* k_pos,
                             __global const int* q_block, __global const int* k_block, int rule, int T, int S, int H,
                             int Hkv, int Dh, int window, int t0, int Tc) {
    const int tc = get_global_id(0);
    const int h = get_global_id(1);
    if (tc >= Tc || h >= H) return;
    const int t = t0 + tc;
    if (t >= T) return;
    const int kvh = h / (H / Hkv);
    __global const float* qr = q + ((long)t * H + h) * Dh;
    __global float* p = scores + ((long)h * Tc + tc) * S;
    const long qp = q_pos[t];
    const int qb = q_block ? q_block[t] : -1;

    float max_v = -INFINITY;
    for (int s = 0; s < S; ++s) {
        const bool same_image = qb >= 0 && qb == k_block[s];  // qb < 0 without blocks: k_block is not read
        if (!attention_allowed(qp, k_pos[s], window, same_image, rule)) {
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
