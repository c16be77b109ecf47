// ple.cl — the per-layer-embedding (PLE) element-wise steps of reference/ple.cpp: the mix of the context and token
// parts (ple_compute_inputs) and the gate of one layer (ple_layer_forward).
// Versions:
//   v1  naive port, formula for formula: one work-item per element.
// Global size: ple_mix (n); ple_gate (P, T). Every kernel checks its range, so the host may round the size up.

inline float gelu_tanh_one(float x) {
    const float k = 0.7978845608028654f;  // sqrt(2/pi)
    return 0.5f * x * (1.0f + tanh(k * (x + 0.044715f * x * x * x)));
}

// out[n] = (context[n] + token[n]) · mix, mix = 2^-1/2 computed by the host (out may alias either input)
__kernel void ple_mix(__global float* out, __global const float* context, __global const float* token, long n, float mix) {
    const long i = get_global_id(0);
    if (i < n) out[i] = (context[i] + token[i]) * mix;
}

// out[T, P] = gelu_tanh(gate[T, P]) · inputs[t, l, :] of inputs[T, L, P]
__kernel void ple_gate(__global float* out, __global const float* gate, __global const float* inputs, int T, int L, int P,
                       int l) {
    const int p = get_global_id(0);
    const int t = get_global_id(1);
    if (p >= P || t >= T) return;
    const long i = (long)t * P + p;
    out[i] = gelu_tanh_one(gate[i]) * inputs[((long)t * L + l) * P + p];
}
