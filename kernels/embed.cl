// embed.cl — out[T, cols] = row(ids[t]) of a f32 / bf16 / f16 table × scale (reference: weight_row_f32 then scale, as
// ple_compute_inputs's token part and the text embedding use them).
// Versions:
//   v1  naive port: one work-item per output element. The table never goes to the device: the host (cl_embed_rows)
//       copies the T requested rows, in their stored dtype, into a small staging buffer staged[T, cols] (the real
//       tables are over 1 GB, beyond PoCL's per-buffer limit), and the kernel converts and scales them. One kernel
//       per dtype: f32; bf16 read as ushort and shifted into a float's high half; f16 through vload_half.
// Global size: (cols, T).

inline float bf16_to_f32(ushort bits) { return as_float(((uint)bits) << 16); }

// staged[T, cols] (f32) → out[T, cols] · scale
__kernel void embed_f32(__global float* out, __global const float* staged, int T, int cols, float scale) {
    const int c = get_global_id(0);
    const int t = get_global_id(1);
    if (c >= cols || t >= T) return;
    const long i = (long)t * cols + c;
    out[i] = staged[i] * scale;
}

// staged[T, cols] (bf16 bits) → out[T, cols] · scale
__kernel void embed_bf16(__global float* out, __global const ushort* staged, int T, int cols, float scale) {
    const int c = get_global_id(0);
    const int t = get_global_id(1);
    if (c >= cols || t >= T) return;
    const long i = (long)t * cols + c;
    out[i] = bf16_to_f32(staged[i]) * scale;
}

// staged[T, cols] (f16 bits) → out[T, cols] · scale
__kernel void embed_f16(__global float* out, __global const half* staged, int T, int cols, float scale) {
    const int c = get_global_id(0);
    const int t = get_global_id(1);
    if (c >= cols || t >= T) return;
    const long i = (long)t * cols + c;
    out[i] = vload_half(i, staged) * scale;
}
