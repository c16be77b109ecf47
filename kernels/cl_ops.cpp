// cl_ops.cpp — host wrappers for the kernels of kernels/*.cl: upload, set arguments, enqueue, download. Work-group
// sizes are chosen here (row reductions use a power-of-two group); the kernels' own headers describe their versions.
#include "cl_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "error.h"

namespace gemma4::cl {

namespace {

// A __local argument of `bytes` bytes (clSetKernelArg with a size and no value).
struct LocalBytes {
    size_t bytes;
};

void set_arg(cl_kernel k, cl_uint index, const Buffer& b) {
    const cl_mem mem = b.mem();
    CL_CHECK(clSetKernelArg(k, index, sizeof mem, &mem));
}
void set_arg(cl_kernel k, cl_uint index, cl_int v) { CL_CHECK(clSetKernelArg(k, index, sizeof v, &v)); }
void set_arg(cl_kernel k, cl_uint index, cl_long v) { CL_CHECK(clSetKernelArg(k, index, sizeof v, &v)); }
void set_arg(cl_kernel k, cl_uint index, cl_float v) { CL_CHECK(clSetKernelArg(k, index, sizeof v, &v)); }
void set_arg(cl_kernel k, cl_uint index, LocalBytes v) { CL_CHECK(clSetKernelArg(k, index, v.bytes, nullptr)); }

// Sets every argument in order: set_args(k, out, x, n) is arguments 0, 1, 2.
template <typename... Args>
void set_args(cl_kernel k, const Args&... args) {
    cl_uint index = 0;
    (set_arg(k, index++, args), ...);
}

void run(ClContext& cl, cl_kernel k, cl_uint dims, const size_t* global, const size_t* local) {
    CL_CHECK(clEnqueueNDRangeKernel(cl.queue(), k, dims, nullptr, global, local, 0, nullptr, nullptr));
}

size_t bytes_of(int64_t n) { return static_cast<size_t>(n) * sizeof(float); }

// The group size of row reductions: 64 lanes (enough to cover a 256-wide row in four strides) or the device's
// maximum if lower, rounded down to a power of two for the tree reduction.
size_t reduction_group(const ClContext& cl) {
    size_t group = std::min<size_t>(64, std::max<size_t>(1, cl.info().max_work_group));
    size_t pow2 = 1;
    while (pow2 * 2 <= group) pow2 *= 2;
    return pow2;
}

void check_int_range(int64_t v, const char* what) {
    if (v < 0 || v > 0x7fffffff) throw Error(std::string("OpenCL op: ") + what + " = " + std::to_string(v) + " does not fit the kernels' int");
}

// One element-wise launch over n items (the kernels check i < n).
void run_1d(ClContext& cl, cl_kernel k, int64_t n) {
    const size_t global = static_cast<size_t>(n);
    run(cl, k, 1, &global, nullptr);
}

}  // namespace

void cl_matmul(ClContext& cl, float* out, const float* x, const WeightView& W, int T) {
    const int64_t in = W.cols, out_dim = W.rows;
    if (T <= 0 || out_dim == 0) return;
    check_int_range(in, "in");
    check_int_range(out_dim, "out_dim");
    const char* kernel_name = nullptr;
    switch (W.dtype) {
        case DType::F32: kernel_name = "matmul_f32"; break;
        case DType::BF16: kernel_name = "matmul_bf16"; break;
        case DType::F16: kernel_name = "matmul_f16"; break;
        default:
            throw Error(std::string("cl_matmul: weight dtype ") + dtype_name(W.dtype) + " is not supported (expected F32, BF16 or F16)");
    }
    const size_t elem = dtype_size(W.dtype);
    const size_t row_bytes = static_cast<size_t>(in) * elem;
    // Rows per weight buffer: all of them when the weight fits one allocation, else as many as fit.
    const int64_t block = std::min<int64_t>(out_dim, static_cast<int64_t>(cl.max_alloc_bytes() / std::max<size_t>(row_bytes, 1)));
    if (block < 1)
        throw Error("cl_matmul: one weight row of " + std::to_string(row_bytes) + " bytes exceeds CL_DEVICE_MAX_MEM_ALLOC_SIZE of " +
                    std::to_string(cl.max_alloc_bytes()) + " bytes");
    const Buffer x_buf = cl.upload(x, bytes_of(int64_t(T) * in), "matmul input x[T, in]");
    const Buffer out_buf = cl.alloc(bytes_of(int64_t(T) * out_dim), "matmul output [T, out]");
    cl_kernel k = cl.kernel("matmul", kernel_name);
    for (int64_t row0 = 0; row0 < out_dim; row0 += block) {
        const int64_t rows = std::min(block, out_dim - row0);
        const Buffer w_buf = cl.upload(W.data + row0 * static_cast<int64_t>(row_bytes), static_cast<size_t>(rows) * row_bytes,
                                       "matmul weight block");
        set_args(k, out_buf, x_buf, w_buf, cl_int(T), cl_int(in), cl_int(out_dim), cl_int(row0), cl_int(rows));
        const size_t global[2] = {static_cast<size_t>(rows), static_cast<size_t>(T)};
        run(cl, k, 2, global, nullptr);
        cl.finish();  // w_buf is released at the end of this iteration
    }
    cl.download(out_buf, out, bytes_of(int64_t(T) * out_dim));
}

ClMatmulResident::ClMatmulResident(ClContext& cl, const WeightView& W, int T)
    : cl_(cl), T_(T), in_(W.cols), out_dim_(W.rows) {
    if (T <= 0 || in_ <= 0 || out_dim_ <= 0) throw Error("ClMatmulResident: empty shape");
    check_int_range(in_, "in");
    check_int_range(out_dim_, "out_dim");
    switch (W.dtype) {
        case DType::F32: kernel_name_ = "matmul_f32"; break;
        case DType::BF16: kernel_name_ = "matmul_bf16"; break;
        case DType::F16: kernel_name_ = "matmul_f16"; break;
        default:
            throw Error(std::string("ClMatmulResident: weight dtype ") + dtype_name(W.dtype) + " is not supported (expected F32, BF16 or F16)");
    }
    w_ = cl.upload(W.data, static_cast<size_t>(out_dim_ * in_) * dtype_size(W.dtype), "resident matmul weight");
    x_ = cl.alloc(bytes_of(int64_t(T) * in_), "resident matmul input x[T, in]");
    out_ = cl.alloc(bytes_of(int64_t(T) * out_dim_), "resident matmul output [T, out]");
}

void ClMatmulResident::set_input(const float* x) {
    CL_CHECK(clEnqueueWriteBuffer(cl_.queue(), x_.mem(), CL_TRUE, 0, x_.bytes(), x, 0, nullptr, nullptr));
}

void ClMatmulResident::run(float* out) {
    cl_kernel k = cl_.kernel("matmul", kernel_name_);
    set_args(k, out_, x_, w_, cl_int(T_), cl_int(in_), cl_int(out_dim_), cl_int(0), cl_int(out_dim_));
    const size_t global[2] = {static_cast<size_t>(out_dim_), static_cast<size_t>(T_)};
    gemma4::cl::run(cl_, k, 2, global, nullptr);
    cl_.download(out_, out, out_.bytes());
}

void cl_rms_norm(ClContext& cl, float* out, const float* x, const float* w, int64_t rows, int n, float eps) {
    if (rows <= 0 || n <= 0) return;
    const size_t count = bytes_of(rows * n);
    const Buffer x_buf = cl.upload(x, count, "rms_norm input");
    const size_t group = reduction_group(cl);
    const size_t global = static_cast<size_t>(rows) * group;
    const LocalBytes scratch{group * sizeof(float)};
    if (w) {
        const Buffer w_buf = cl.upload(w, bytes_of(n), "rms_norm weight");
        cl_kernel k = cl.kernel("rmsnorm", "rms_norm");
        set_args(k, x_buf, x_buf, w_buf, cl_int(n), cl_float(eps), scratch);
        run(cl, k, 1, &global, &group);
        cl.download(x_buf, out, count);  // blocking, so w_buf is no longer in use when it is released
    } else {
        cl_kernel k = cl.kernel("rmsnorm", "rms_norm_plain");
        set_args(k, x_buf, x_buf, cl_int(n), cl_float(eps), scratch);
        run(cl, k, 1, &global, &group);
        cl.download(x_buf, out, count);
    }
}

void cl_rope(ClContext& cl, float* x, int T, int heads, int Dh, const int64_t* positions, const float* inv_freq) {
    if (T <= 0 || heads <= 0 || Dh < 2) return;
    if (Dh % 2 != 0) throw Error("cl_rope: head dim " + std::to_string(Dh) + " is odd (rotate-half pairs i with i + Dh/2)");
    const size_t count = bytes_of(int64_t(T) * heads * Dh);
    const Buffer x_buf = cl.upload(x, count, "rope x[T, heads, Dh]");
    const Buffer pos_buf = cl.upload(positions, sizeof(int64_t) * static_cast<size_t>(T), "rope positions[T]");
    const Buffer freq_buf = cl.upload(inv_freq, bytes_of(Dh / 2), "rope inv_freq[Dh/2]");
    cl_kernel k = cl.kernel("rope", "rope_rotate_half");
    set_args(k, x_buf, pos_buf, freq_buf, cl_int(T), cl_int(heads), cl_int(Dh));
    const size_t global[3] = {static_cast<size_t>(Dh / 2), static_cast<size_t>(heads), static_cast<size_t>(T)};
    run(cl, k, 3, global, nullptr);
    cl.download(x_buf, x, count);
}

void cl_softmax_rows(ClContext& cl, float* x, int64_t rows, int n) {
    if (rows <= 0 || n <= 0) return;
    const size_t count = bytes_of(rows * n);
    const Buffer x_buf = cl.upload(x, count, "softmax rows");
    const size_t group = reduction_group(cl);
    const size_t global = static_cast<size_t>(rows) * group;
    cl_kernel k = cl.kernel("softmax", "softmax_rows");
    set_args(k, x_buf, cl_int(n), LocalBytes{group * sizeof(float)});
    run(cl, k, 1, &global, &group);
    cl.download(x_buf, x, count);
}

void cl_soft_cap(ClContext& cl, float* x, int64_t n, float cap) {
    if (n <= 0) return;
    const Buffer x_buf = cl.upload(x, bytes_of(n), "soft_cap x");
    cl_kernel k = cl.kernel("softmax", "soft_cap");
    set_args(k, x_buf, cl_long(n), cl_float(cap));
    run_1d(cl, k, n);
    cl.download(x_buf, x, bytes_of(n));
}

void cl_gelu_tanh(ClContext& cl, float* x, int64_t n) {
    if (n <= 0) return;
    const Buffer x_buf = cl.upload(x, bytes_of(n), "gelu_tanh x");
    cl_kernel k = cl.kernel("elementwise", "gelu_tanh");
    set_args(k, x_buf, cl_long(n));
    run_1d(cl, k, n);
    cl.download(x_buf, x, bytes_of(n));
}

void cl_gelu_mul(ClContext& cl, float* out, const float* gate, const float* up, int64_t n) {
    if (n <= 0) return;
    const Buffer gate_buf = cl.upload(gate, bytes_of(n), "gelu_mul gate");
    const Buffer up_buf = cl.upload(up, bytes_of(n), "gelu_mul up");
    cl_kernel k = cl.kernel("elementwise", "gelu_mul");
    set_args(k, gate_buf, gate_buf, up_buf, cl_long(n));
    run_1d(cl, k, n);
    cl.download(gate_buf, out, bytes_of(n));
}

void cl_add(ClContext& cl, float* out, const float* a, const float* b, int64_t n) {
    if (n <= 0) return;
    const Buffer a_buf = cl.upload(a, bytes_of(n), "add a");
    const Buffer b_buf = cl.upload(b, bytes_of(n), "add b");
    cl_kernel k = cl.kernel("elementwise", "add");
    set_args(k, a_buf, a_buf, b_buf, cl_long(n));
    run_1d(cl, k, n);
    cl.download(a_buf, out, bytes_of(n));
}

void cl_scale(ClContext& cl, float* x, int64_t n, float s) {
    if (n <= 0) return;
    const Buffer x_buf = cl.upload(x, bytes_of(n), "scale x");
    cl_kernel k = cl.kernel("elementwise", "scale");
    set_args(k, x_buf, cl_long(n), cl_float(s));
    run_1d(cl, k, n);
    cl.download(x_buf, x, bytes_of(n));
}

void cl_attention(ClContext& cl, const float* q, const float* k, const float* v, const int64_t* q_pos, const int64_t* k_pos,
                  int T, int S, int H, int Hkv, int Dh, int window, float* out, float* weights) {
    if (T <= 0 || H <= 0 || Dh <= 0) return;
    if (Hkv <= 0 || H % Hkv != 0)
        throw Error("cl_attention: " + std::to_string(H) + " query heads do not divide into " + std::to_string(Hkv) + " KV heads");
    if (window < 0) throw Error("cl_attention: window " + std::to_string(window) + " is negative (0 = full attention)");
    const int64_t out_count = int64_t(T) * H * Dh;
    if (S <= 0) {  // no keys: every query is fully masked
        std::fill(out, out + out_count, 0.0f);
        return;
    }
    const int64_t kv_count = int64_t(S) * Hkv * Dh, score_count = int64_t(H) * T * S;
    const Buffer q_buf = cl.upload(q, bytes_of(out_count), "attention q[T, H, Dh]");
    const Buffer k_buf = cl.upload(k, bytes_of(kv_count), "attention k[S, Hkv, Dh]");
    const Buffer v_buf = cl.upload(v, bytes_of(kv_count), "attention v[S, Hkv, Dh]");
    const Buffer qpos_buf = cl.upload(q_pos, sizeof(int64_t) * static_cast<size_t>(T), "attention q_pos[T]");
    const Buffer kpos_buf = cl.upload(k_pos, sizeof(int64_t) * static_cast<size_t>(S), "attention k_pos[S]");
    const Buffer out_buf = cl.alloc(bytes_of(out_count), "attention out[T, H·Dh]");
    const Buffer score_buf = cl.alloc(bytes_of(score_count), "attention scores[H, T, S]");
    cl_kernel kern = cl.kernel("attention", "attention_rows");
    set_args(kern, out_buf, score_buf, q_buf, k_buf, v_buf, qpos_buf, kpos_buf, cl_int(T), cl_int(S), cl_int(H), cl_int(Hkv),
             cl_int(Dh), cl_int(window));
    const size_t global[2] = {static_cast<size_t>(T), static_cast<size_t>(H)};
    run(cl, kern, 2, global, nullptr);
    cl.download(out_buf, out, bytes_of(out_count));
    if (weights) cl.download(score_buf, weights, bytes_of(score_count));
}

void cl_moe_route(ClContext& cl, const float* probs, int T, int E, int K, const float* per_expert_scale, int32_t* ids,
                  float* weights) {
    if (T <= 0 || K <= 0) return;
    if (K > E) throw Error("cl_moe_route: top-" + std::to_string(K) + " of " + std::to_string(E) + " experts");
    const Buffer probs_buf = cl.upload(probs, bytes_of(int64_t(T) * E), "moe_route probs[T, E]");
    const Buffer scale_buf = cl.upload(per_expert_scale, bytes_of(E), "moe_route per_expert_scale[E]");
    const Buffer ids_buf = cl.alloc(sizeof(int32_t) * static_cast<size_t>(T) * K, "moe_route ids[T, K]");
    const Buffer w_buf = cl.alloc(bytes_of(int64_t(T) * K), "moe_route weights[T, K]");
    cl_kernel kern = cl.kernel("moe", "moe_route");
    set_args(kern, ids_buf, w_buf, probs_buf, scale_buf, cl_int(T), cl_int(E), cl_int(K));
    run_1d(cl, kern, T);
    cl.download(ids_buf, ids, sizeof(int32_t) * static_cast<size_t>(T) * K);
    cl.download(w_buf, weights, bytes_of(int64_t(T) * K));
}

void cl_embed_rows(ClContext& cl, const WeightView& table, const int32_t* ids, int T, float scale, float* out) {
    const int64_t cols = table.cols;
    if (T <= 0 || cols <= 0) return;
    check_int_range(cols, "cols");
    const char* kernel_name = nullptr;
    switch (table.dtype) {
        case DType::F32: kernel_name = "embed_f32"; break;
        case DType::BF16: kernel_name = "embed_bf16"; break;
        case DType::F16: kernel_name = "embed_f16"; break;
        default:
            throw Error(std::string("cl_embed_rows: table dtype ") + dtype_name(table.dtype) + " is not supported (expected F32, BF16 or F16)");
    }
    // Gather the requested rows on the host (the table itself may exceed one device buffer).
    const size_t row_bytes = static_cast<size_t>(cols) * dtype_size(table.dtype);
    std::vector<std::byte> staged(static_cast<size_t>(T) * row_bytes);
    for (int t = 0; t < T; ++t) {
        const int64_t id = ids[t];
        if (id < 0 || id >= table.rows)
            throw Error("cl_embed_rows: id " + std::to_string(id) + " at token " + std::to_string(t) + " is outside the table's " +
                        std::to_string(table.rows) + " rows");
        std::memcpy(staged.data() + static_cast<size_t>(t) * row_bytes, table.data + id * static_cast<int64_t>(row_bytes), row_bytes);
    }
    const Buffer staged_buf = cl.upload(staged.data(), staged.size(), "embed staged rows [T, cols]");
    const Buffer out_buf = cl.alloc(bytes_of(int64_t(T) * cols), "embed out [T, cols]");
    cl_kernel k = cl.kernel("embed", kernel_name);
    set_args(k, out_buf, staged_buf, cl_int(T), cl_int(cols), cl_float(scale));
    const size_t global[2] = {static_cast<size_t>(cols), static_cast<size_t>(T)};
    run(cl, k, 2, global, nullptr);
    cl.download(out_buf, out, bytes_of(int64_t(T) * cols));
}

void cl_ple_mix(ClContext& cl, float* out, const float* context, const float* token, int64_t n) {
    if (n <= 0) return;
    const float mix = static_cast<float>(std::pow(2.0, -0.5));  // as ple_compute_inputs computes it
    const Buffer context_buf = cl.upload(context, bytes_of(n), "ple_mix context");
    const Buffer token_buf = cl.upload(token, bytes_of(n), "ple_mix token");
    cl_kernel k = cl.kernel("ple", "ple_mix");
    set_args(k, context_buf, context_buf, token_buf, cl_long(n), cl_float(mix));
    run_1d(cl, k, n);
    cl.download(context_buf, out, bytes_of(n));
}

void cl_ple_gate(ClContext& cl, float* out, const float* gate, const float* inputs, int T, int L, int P, int l) {
    if (T <= 0 || P <= 0) return;
    if (l < 0 || l >= L) throw Error("cl_ple_gate: layer " + std::to_string(l) + " outside [0, " + std::to_string(L) + ")");
    const int64_t n = int64_t(T) * P;
    const Buffer gate_buf = cl.upload(gate, bytes_of(n), "ple_gate gate[T, P]");
    const Buffer in_buf = cl.upload(inputs, bytes_of(n * L), "ple_gate inputs[T, L, P]");
    cl_kernel k = cl.kernel("ple", "ple_gate");
    set_args(k, gate_buf, gate_buf, in_buf, cl_int(T), cl_int(L), cl_int(P), cl_int(l));
    const size_t global[2] = {static_cast<size_t>(P), static_cast<size_t>(T)};
    run(cl, k, 2, global, nullptr);
    cl.download(gate_buf, out, bytes_of(n));
}

void cl_vision_pool(ClContext& cl, float* out, const float* x, int N, int Dv, const int32_t* pos_x, const int32_t* pos_y,
                    int cols, int k, int G) {
    if (G <= 0 || Dv <= 0) return;
    if (k <= 0) throw Error("cl_vision_pool: pooling kernel " + std::to_string(k) + " is not positive");
    // Each cell's patches, ascending (a counting sort keeps patch order), so the device sums as the reference does.
    std::vector<cl_int> cell_start(static_cast<size_t>(G) + 1, 0), patches(static_cast<size_t>(std::max(N, 1)));
    std::vector<int> cell_of(static_cast<size_t>(std::max(N, 0)));
    for (int n = 0; n < N; ++n) {
        const int g = pos_x[n] / k + (cols / k) * (pos_y[n] / k);
        if (g < 0 || g >= G)
            throw Error("cl_vision_pool: patch " + std::to_string(n) + " at (" + std::to_string(pos_x[n]) + ", " + std::to_string(pos_y[n]) +
                        ") falls in cell " + std::to_string(g) + " outside [0, " + std::to_string(G) + ")");
        cell_of[size_t(n)] = g;
        ++cell_start[size_t(g) + 1];
    }
    for (int g = 0; g < G; ++g) cell_start[size_t(g) + 1] += cell_start[size_t(g)];
    std::vector<cl_int> fill(cell_start.begin(), cell_start.end() - 1);
    for (int n = 0; n < N; ++n) patches[size_t(fill[size_t(cell_of[size_t(n)])]++)] = n;
    const Buffer x_buf = cl.upload(N > 0 ? x : out, bytes_of(int64_t(std::max(N, 1)) * Dv), "vision_pool x[N, Dv]");
    const Buffer start_buf = cl.upload(cell_start.data(), sizeof(cl_int) * cell_start.size(), "vision_pool cell_start[G + 1]");
    const Buffer patch_buf = cl.upload(patches.data(), sizeof(cl_int) * patches.size(), "vision_pool patches[N]");
    const Buffer out_buf = cl.alloc(bytes_of(int64_t(G) * Dv), "vision_pool out[G, Dv]");
    cl_kernel kern = cl.kernel("vision", "vision_pool");
    set_args(kern, out_buf, x_buf, start_buf, patch_buf, cl_int(G), cl_int(Dv), cl_float(1.0f / float(k * k)),
             cl_float(static_cast<float>(std::sqrt(double(Dv)))));
    const size_t global[2] = {static_cast<size_t>(Dv), static_cast<size_t>(G)};
    run(cl, kern, 2, global, nullptr);
    cl.download(out_buf, out, bytes_of(int64_t(G) * Dv));
}

void cl_rope_2d(ClContext& cl, float* x, int N, int H, int Dh, const int32_t* pos_x, const int32_t* pos_y, const float* inv_freq) {
    if (N <= 0 || H <= 0 || Dh < 4) return;
    if (Dh % 4 != 0) throw Error("cl_rope_2d: head dim " + std::to_string(Dh) + " is not a multiple of 4 (two halves of pairs)");
    const size_t count = bytes_of(int64_t(N) * H * Dh);
    const Buffer x_buf = cl.upload(x, count, "rope_2d x[N, H, Dh]");
    const Buffer px_buf = cl.upload(pos_x, sizeof(int32_t) * static_cast<size_t>(N), "rope_2d pos_x[N]");
    const Buffer py_buf = cl.upload(pos_y, sizeof(int32_t) * static_cast<size_t>(N), "rope_2d pos_y[N]");
    const Buffer freq_buf = cl.upload(inv_freq, bytes_of(Dh / 4), "rope_2d inv_freq[Dh/4]");
    cl_kernel k = cl.kernel("vision", "rope_2d");
    set_args(k, x_buf, px_buf, py_buf, freq_buf, cl_int(N), cl_int(H), cl_int(Dh));
    const size_t global[3] = {static_cast<size_t>(Dh / 4), static_cast<size_t>(H), static_cast<size_t>(N)};
    run(cl, k, 3, global, nullptr);
    cl.download(x_buf, x, count);
}

}  // namespace gemma4::cl
