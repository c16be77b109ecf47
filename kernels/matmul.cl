// matmul.cl — out[T, out_dim] = x[T, in] · Wᵀ with W stored (out, in) as in the checkpoint (reference: matmul_ref).
// Versions:
//   v1  naive port: one work-item per output element (o, t), a dot product over `in_dim` with eight partial sums as the
//       reference's dot() uses. One kernel per weight dtype: f32; bf16 read as ushort and shifted into a float's high
//       half; f16 through vload_half (core OpenCL 1.2, no cl_khr_fp16 needed). `row0`/`rows` select a block of
//       weight rows, so a weight larger than CL_DEVICE_MAX_MEM_ALLOC_SIZE is multiplied one buffer at a time.
// Callers: cl_matmul on a WeightView (blocks streamed one at a time), ClWeight (blocks uploaded once and kept),
// cl_matmul_nt (a[M, K] · b[N, K]ᵀ of two activations: b passed as an f32 weight).
// Global size: (rows, T). No local memory, no tiling yet (a tiled v2 lands only with a measured speed-up).

inline float bf16_to_f32(ushort bits) { return as_float(((uint)bits) << 16); }

#define GEMMA4_MATMUL_BODY(LOAD_W)                                                                  \
    const int r = get_global_id(0); /* weight row within this block */                              \
    const int t = get_global_id(1);                                                                 \
    if (r >= rows || t >= T) return;                                                                \
    __global const float* xt = x + (long)t * in_dim;                                                   \
    const long wbase = (long)r * in_dim;                                                               \
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                        \
    int i = 0;                                                                                      \
    for (; i + 8 <= in_dim; i += 8)                                                                     \
        for (int k = 0; k < 8; ++k) acc[k] += xt[i + k] * LOAD_W(wbase + i + k);                   \
    float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));  \
    for (; i < in_dim; ++i) sum += xt[i] * LOAD_W(wbase + i);                                           \
    out[(long)t * out_dim + row0 + r] = sum;

__kernel void matmul_f32(__global float* out, __global const float* x, __global const float* w, int T, int in_dim,
                         int out_dim, int row0, int rows) {
#define LOAD_F32(j) w[j]
    GEMMA4_MATMUL_BODY(LOAD_F32)
#undef LOAD_F32
}

__kernel void matmul_bf16(__global float* out, __global const float* x, __global const ushort* w, int T, int in_dim,
                          int out_dim, int row0, int rows) {
#define LOAD_BF16(j) bf16_to_f32(w[j])
    GEMMA4_MATMUL_BODY(LOAD_BF16)
#undef LOAD_BF16
}

__kernel void matmul_f16(__global float* out, __global const float* x, __global const half* w, int T, int in_dim,
                         int out_dim, int row0, int rows) {
#define LOAD_F16(j) vload_half(j, w)
    GEMMA4_MATMUL_BODY(LOAD_F16)
#undef LOAD_F16
}
