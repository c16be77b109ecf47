// elementwise.cl — one work-item per element: gelu_tanh, the MLP's gelu(gate) · up, add, scale
// (reference: gelu_tanh, add, scale in ops.cpp; gelu_mul is the reference MLP's gelu_tanh(gate) then · up).
// Versions:
//   v1  naive port, formula for formula (no fused or vectorised variants yet).
// Global size: (n); every kernel checks i < n, so the host may round the size up.

inline float gelu_tanh_one(float x) {
    const float k = 0.7978845608028654f;  // sqrt(2/pi)
    return 0.5f * x * (1.0f + tanh(k * (x + 0.044715f * x * x * x)));
}

__kernel void gelu_tanh(__global float* x, long n) {
    const long i = get_global_id(0);
    if (i < n) x[i] = gelu_tanh_one(x[i]);
}

// out[n] = gelu_tanh(gate[n]) · up[n] (out may alias gate or up)
__kernel void gelu_mul(__global float* out, __global const float* gate, __global const float* up, long n) {
    const long i = get_global_id(0);
    if (i < n) out[i] = gelu_tanh_one(gate[i]) * up[i];
}

// out[n] = a[n] + b[n] (out may alias a or b)
__kernel void add(__global float* out, __global const float* a, __global const float* b, long n) {
    const long i = get_global_id(0);
    if (i < n) out[i] = a[i] + b[i];
}

// x[n] *= s
__kernel void scale(__global float* x, long n, float s) {
    const long i = get_global_id(0);
    if (i < n) x[i] *= s;
}
