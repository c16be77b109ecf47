// ple.cl — the per-layer-embedding (PLE) element-wise steps (reference: ple_mix and ple_gate in reference/ops.cpp):
// the mix of the context and token parts, and the gate of one layer, whose gate input is already through gelu.
// Layouts: ple_mix flat [n]; ple_gate gate[T, P], inputs[T, L, P] → out[T, P].
// Versions:
//   v1  naive port, formula for formula: one work-item per element.
//   v2  ple_gate takes the gate after the gelu (the reference moved gelu_tanh out of the gate, so the backend runs it
//       as its own op): out = gate ⊙ inputs[:, l, :].
// Global size: ple_mix (n); ple_gate (P, T). Every kernel checks its range, so the host may round the size up.

// out[n] = (context[n] + token[n]) · mix, mix = 2^-1/2 computed by the host (out may alias either input)
__kernel void ple_mix(__global float* out, __global const float* context, __global const float* token, long n, float mix) {
    const long i = get_global_id(0);
    if (i < n) out[i] = (context[i] + token[i]) * mix;
}

// out[T, P] = gate[T, P] · inputs[t, l, :] of inputs[T, L, P] (out may alias gate)
__kernel void ple_gate(__global float* out, __global const float* gate, __global const float* inputs, int T, int L, int P,
                       int l) {
    const int p = get_global_id(0);
    const int t = get_global_id(1);
    if (p >= P || t >= T) return;
    const long i = (long)t * P + p;
    out[i] = gate[i] * inputs[((long)t * L + l) * P + p];
}
