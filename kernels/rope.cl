// rope.cl — RoPE in the rotate-half (NeoX) layout, in place on x[T, heads, Dh] (reference: rope_rotate_half).
// Pair (i, i + Dh/2) of token t is rotated by angle positions[t] · inv_freq[i], a float32 product as transformers
// computes it; inv_freq[i] = 0 leaves the pair unchanged (p-RoPE pass-through: cos 0 = 1, sin 0 = 0 exactly).
// Versions:
//   v1  naive port: one work-item per (pair i, head h, token t), computing its own cos/sin (no table).
// Global size: (Dh/2, heads, T).

__kernel void rope_rotate_half(__global float* x, __global const long* positions, __global const float* inv_freq,
                               int T, int heads, int Dh) {
    const int i = get_global_id(0);
    const int h = get_global_id(1);
    const int t = get_global_id(2);
    const int half_dim = Dh / 2;
    if (i >= half_dim || h >= heads || t >= T) return;
    const float angle = (float)positions[t] * inv_freq[i];
    const float c = cos(angle), s = sin(angle);
    __global float* v = x + ((long)t * heads + h) * Dh;
    const float a = v[i], b = v[i + half_dim];
    // x·cos + rotate_half(x)·sin, rotate_half(x) = cat(−x[half:], x[:half])
    v[i] = a * c - b * s;
    v[i + half_dim] = b * c + a * s;
}
