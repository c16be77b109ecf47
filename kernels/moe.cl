// moe.cl — the mixture-of-experts steps of reference/ops.cpp: the router's selection (moe_route: for each token, the
// K largest of probs[E] (ties: the lower expert index first, as torch.topk returns them), renormalised to sum 1 and
// multiplied by per_expert_scale[id]), and the moves of token rows to and from one expert (gather_rows,
// scatter_add_rows).
// Layouts: probs[T, E], per_expert_scale[E], ids[T, K] (int), weights[T, K]; gather_rows x[·, D] → out[n, D];
// scatter_add_rows y[n, D], weights[n] → out[·, D] += ... (rows[n] int, minus the host's row offset `row0`).
// Versions:
//   v1  naive port. moe_route: one work-item per token, K selection passes over the E probabilities; each pass takes
//       the largest entry that ranks after the previous pick in the order (value descending, index ascending), so
//       exact ties come out lowest index first without a scratch array. The sum runs in pick order, as the
//       reference's.
//   v2  gather_rows: one work-item per output element. scatter_add_rows: one work-item per column d, looping over the
//       n rows in order, so a row that repeats gets its additions in the reference's order (no atomics, no races).
// Global size: moe_route (T); gather_rows (D, n); scatter_add_rows (D).

// Does expert a (value pa) rank before expert b (value pb)? Larger first; equal values: lower index first.
inline bool ranks_before(float pa, int a, float pb, int b) { return pa > pb || (pa == pb && a < b); }

__kernel void moe_route(__global int* ids, __global float* weights, __global const float* probs,
                        __global const float* per_expert_scale, int T, int E, int K) {
    const int t = get_global_id(0);
    if (t >= T) return;
    __global const float* pr = probs + (long)t * E;
    __global int* id_out = ids + (long)t * K;
    __global float* w_out = weights + (long)t * K;

    int prev = -1;
    float prev_p = 0.0f;
    float sum = 0.0f;
    for (int j = 0; j < K; ++j) {
        int best = -1;
        float best_p = 0.0f;
        for (int e = 0; e < E; ++e) {
            const float pe = pr[e];
            if (prev >= 0 && !ranks_before(prev_p, prev, pe, e)) continue;  // already picked (ranks at or before prev)
            if (best < 0 || ranks_before(pe, e, best_p, best)) {
                best = e;
                best_p = pe;
            }
        }
        id_out[j] = best;
        w_out[j] = best_p;
        sum += best_p;
        prev = best;
        prev_p = best_p;
    }
    for (int j = 0; j < K; ++j) w_out[j] = w_out[j] / sum * per_expert_scale[id_out[j]];
}

// out[i, :] = x[rows[i] − row0, :] for i < n (the host uploads x from row row0 on)
__kernel void gather_rows(__global float* out, __global const float* x, __global const int* rows, int n, int D, int row0) {
    const int d = get_global_id(0);
    const int i = get_global_id(1);
    if (d >= D || i >= n) return;
    out[(long)i * D + d] = x[(long)(rows[i] - row0) * D + d];
}

// out[rows[i] − row0, d] += y[i, d] · weights[i], i = 0 … n − 1 in order (the host uploads out from row row0 on)
__kernel void scatter_add_rows(__global float* out, __global const float* y, __global const int* rows,
                               __global const float* weights, int n, int D, int row0) {
    const int d = get_global_id(0);
    if (d >= D) return;
    for (int i = 0; i < n; ++i) out[(long)(rows[i] - row0) * D + d] += y[(long)i * D + d] * weights[i];
}
