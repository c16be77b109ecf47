// rmsnorm.cl — RMSNorm over the last dim (reference: rms_norm): y = x · (mean(x²) + eps)^(-1/2) · w, where the
// weight multiplies directly (Gemma 4, not 1 + w); rms_norm_plain is the weightless form (v_norm, router norm).
// Versions:
//   v1  naive port: one work-group per row; each lane sums squares with a stride of the group size, a tree
//       reduction in local memory (group size a power of two, chosen by the host), then every lane scales its
//       elements. out may equal x (each element is read before it is written, by the same lane).
// Global size: (rows · group), local size: (group); `scratch` holds `group` floats.

inline void rms_norm_row(__global float* out, __global const float* x, __global const float* w, int n, float eps,
                         __local float* scratch) {
    const int row = get_group_id(0);
    const int lane = get_local_id(0);
    const int group = get_local_size(0);
    __global const float* xr = x + (long)row * n;
    __global float* yr = out + (long)row * n;

    float sum_sq = 0.0f;
    for (int i = lane; i < n; i += group) sum_sq += xr[i] * xr[i];
    scratch[lane] = sum_sq;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int half_size = group / 2; half_size > 0; half_size /= 2) {
        if (lane < half_size) scratch[lane] += scratch[lane + half_size];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float inv = pow(scratch[0] / (float)n + eps, -0.5f);  // as transformers: torch.pow(mean + eps, -0.5)
    for (int i = lane; i < n; i += group) yr[i] = xr[i] * inv * (w ? w[i] : 1.0f);
}

__kernel void rms_norm(__global float* out, __global const float* x, __global const float* w, int n, float eps,
                       __local float* scratch) {
    rms_norm_row(out, x, w, n, eps, scratch);
}

__kernel void rms_norm_plain(__global float* out, __global const float* x, int n, float eps, __local float* scratch) {
    rms_norm_row(out, x, 0, n, eps, scratch);
}
