// vision.cl — the vision tower's own steps of reference/vision.cpp: the pooler's k×k average by patch position
// (Gemma4VisionPooler._avg_pool_by_positions, × √Dv) and the 2-D RoPE of q and k (rope_2d).
// Versions:
//   v1  naive port. vision_pool: one work-item per (d, cell), summing its patches in patch order from a host-built
//       list (cell_start[G + 1], patches[N]: the patches of cell g, ascending), so the float sums match the reference
//       loop's order. rope_2d: one work-item per (pair i, head h, patch n), both axes, computing its own cos/sin.
// Global size: vision_pool (Dv, G); rope_2d (Dh/4, H, N).

// out[G, Dv] = (Σ over the patches of cell g, in patch order, of cell_weight · x[n, :]) · scale
__kernel void vision_pool(__global float* out, __global const float* x, __global const int* cell_start,
                          __global const int* patches, int G, int Dv, float cell_weight, float scale) {
    const int d = get_global_id(0);
    const int g = get_global_id(1);
    if (d >= Dv || g >= G) return;
    float acc = 0.0f;
    for (int j = cell_start[g]; j < cell_start[g + 1]; ++j) acc += cell_weight * x[(long)patches[j] * Dv + d];
    out[(long)g * Dv + d] = acc * scale;
}

// x[N, H, Dh] in place: half a = 0 (first Dh/2 values) rotated by pos_x[n], half a = 1 by pos_y[n]; inside a half of
// m = Dh/2 values, pair (i, i + m/2) turned by pos · inv_freq[i] (float32 product), i < m/2.
__kernel void rope_2d(__global float* x, __global const int* pos_x, __global const int* pos_y, __global const float* inv_freq,
                      int N, int H, int Dh) {
    const int i = get_global_id(0);
    const int h = get_global_id(1);
    const int n = get_global_id(2);
    const int m = Dh / 2, pairs = m / 2;
    if (i >= pairs || h >= H || n >= N) return;
    for (int axis = 0; axis < 2; ++axis) {
        const float pos = (float)(axis == 0 ? pos_x[n] : pos_y[n]);
        const float angle = pos * inv_freq[i];
        const float c = cos(angle), s = sin(angle);
        __global float* half_v = x + ((long)n * H + h) * Dh + axis * m;
        const float a = half_v[i], b = half_v[i + pairs];
        half_v[i] = a * c - b * s;
        half_v[i + pairs] = b * c + a * s;
    }
}
