// softmax.cl — row softmax (reference: softmax) and the logit soft-cap (reference: soft_cap).
// softmax_rows: x[rows, n] in place, max subtracted first; -inf entries (masked keys) give exactly 0 and a row that
// is entirely -inf becomes all zeros (the reference's definition, not NaN).
// Versions:
//   v1  naive port: one work-group per row, three passes over the row (max, Σexp, scale) with tree reductions in
//       local memory (group size a power of two, chosen by the host). soft_cap: one work-item per element.
// softmax_rows: global (rows · group), local (group), `scratch` holds `group` floats. soft_cap: global (n).

__kernel void softmax_rows(__global float* x, int n, __local float* scratch) {
    const int row = get_group_id(0);
    const int lane = get_local_id(0);
    const int group = get_local_size(0);
    __global float* xr = x + (long)row * n;

    float max_v = -INFINITY;
    for (int i = lane; i < n; i += group) max_v = fmax(max_v, xr[i]);
    scratch[lane] = max_v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int half_size = group / 2; half_size > 0; half_size /= 2) {
        if (lane < half_size) scratch[lane] = fmax(scratch[lane], scratch[lane + half_size]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    max_v = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);  // everyone has read scratch[0] before it is reused for the sum

    if (max_v == -INFINITY) {  // every entry masked: the row is defined as zeros
        for (int i = lane; i < n; i += group) xr[i] = 0.0f;
        return;
    }
    float sum = 0.0f;
    for (int i = lane; i < n; i += group) {
        const float e = exp(xr[i] - max_v);  // exp(-inf) = 0
        xr[i] = e;
        sum += e;
    }
    scratch[lane] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int half_size = group / 2; half_size > 0; half_size /= 2) {
        if (lane < half_size) scratch[lane] += scratch[lane + half_size];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float inv = 1.0f / scratch[0];
    for (int i = lane; i < n; i += group) xr[i] *= inv;
}

// c · tanh(x / c), in place (Gemma's final logit soft-cap).
__kernel void soft_cap(__global float* x, long n, float cap) {
    const long i = get_global_id(0);
    if (i < n) x[i] = cap * tanh(x[i] / cap);
}
