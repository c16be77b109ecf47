// cl_ops.cpp — host wrappers for the kernels of kernels/*.cl: upload, set arguments, enqueue, download. Work-group
// sizes are chosen here (row reductions use a power-of-two group); the kernels' own headers describe their versions.
#include "cl_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "cl_launch.h"
#include "error.h"

namespace gemma4::cl {

using namespace launch;

namespace {

// The matmul.cl kernel for a weight dtype; `who` names the caller in the error.
const char* matmul_kernel_name(DType dtype, const char* who) {
    switch (dtype) {
        case DType::F32: return "matmul_f32";
        case DType::BF16: return "matmul_bf16";
        case DType::F16: return "matmul_f16";
        default: break;
    }
    throw Error(std::string(who) + ": weight dtype " + dtype_name(dtype) + " is not supported (expected F32, BF16 or F16)");
}

// Rows per weight buffer: all of them when the weight fits one allocation, else as many whole rows as fit.
int64_t matmul_block_rows(const ClContext& cl, int64_t out_dim, size_t row_bytes, const char* who) {
    const int64_t block = std::min<int64_t>(out_dim, static_cast<int64_t>(cl.max_alloc_bytes() / std::max<size_t>(row_bytes, 1)));
    if (block < 1)
        throw Error(std::string(who) + ": one weight row of " + std::to_string(row_bytes) + " bytes exceeds CL_DEVICE_MAX_MEM_ALLOC_SIZE of " +
                    std::to_string(cl.max_alloc_bytes()) + " bytes");
    return block;
}

// out[T, out_dim] columns row0 … row0 + rows − 1 = x[T, in] · w_blockᵀ (enqueued, not waited for).
void enqueue_matmul_block(ClContext& cl, const char* kernel_name, const Buffer& out, const Buffer& x, const Buffer& w_block, int T,
                          int64_t in, int64_t out_dim, int64_t row0, int64_t rows) {
    cl_kernel k = cl.kernel("matmul", kernel_name);
    set_args(k, out, x, w_block, cl_int(T), cl_int(in), cl_int(out_dim), cl_int(row0), cl_int(rows));
    const size_t global[2] = {static_cast<size_t>(rows), static_cast<size_t>(T)};
    run(cl, k, 2, global, nullptr);
}

}  // namespace

void cl_matmul(ClContext& cl, float* out, const float* x, const WeightView& W, int T) {
    const int64_t in = W.cols, out_dim = W.rows;
    if (T <= 0 || out_dim == 0) return;
    check_int_range(in, "in");
    check_int_range(out_dim, "out_dim");
    const char* kernel_name = matmul_kernel_name(W.dtype, "cl_matmul");
    const size_t row_bytes = static_cast<size_t>(in) * dtype_size(W.dtype);
    const int64_t block = matmul_block_rows(cl, out_dim, row_bytes, "cl_matmul");
    const Buffer x_buf = cl.in(x, bytes_of(int64_t(T) * in), "matmul input x[T, in]");
    const Buffer out_buf = cl.out(out, bytes_of(int64_t(T) * out_dim), "matmul output [T, out]");
    for (int64_t row0 = 0; row0 < out_dim; row0 += block) {
        const int64_t rows = std::min(block, out_dim - row0);
        const Buffer w_buf = cl.upload(W.data + row0 * static_cast<int64_t>(row_bytes), static_cast<size_t>(rows) * row_bytes,
                                       "matmul weight block");
        enqueue_matmul_block(cl, kernel_name, out_buf, x_buf, w_buf, T, in, out_dim, row0, rows);
        cl.finish();  // w_buf is released at the end of this iteration
    }
    cl.done(out_buf, out, bytes_of(int64_t(T) * out_dim));
}

void cl_matmul_nt(ClContext& cl, float* out, const float* a, const float* b, int M, int N, int K) {
    if (M < 0 || N < 0 || K < 0)
        throw Error("cl_matmul_nt: negative shape M=" + std::to_string(M) + " N=" + std::to_string(N) + " K=" + std::to_string(K));
    if (M == 0 || N == 0) return;
    const size_t out_bytes = bytes_of(int64_t(M) * N);
    if (K == 0) {  // an empty sum
        const Buffer out_buf = cl.out(out, out_bytes, "matmul_nt out[M, N]");
        cl.fill_zero(out_buf, out_bytes);
        cl.done(out_buf, out, out_bytes);
        return;
    }
    const size_t b_bytes = bytes_of(int64_t(N) * K);
    if (b_bytes > cl.max_alloc_bytes()) {  // b in row blocks, uploaded from the host like a weight
        const WeightView b_as_weight{reinterpret_cast<const std::byte*>(b), DType::F32, N, K};
        cl_matmul(cl, out, a, b_as_weight, M);
        return;
    }
    check_int_range(K, "K");
    const Buffer a_buf = cl.in(a, bytes_of(int64_t(M) * K), "matmul_nt a[M, K]");
    const Buffer b_buf = cl.in(b, b_bytes, "matmul_nt b[N, K]");
    const Buffer out_buf = cl.out(out, out_bytes, "matmul_nt out[M, N]");
    enqueue_matmul_block(cl, "matmul_f32", out_buf, a_buf, b_buf, M, K, N, 0, N);
    cl.done(out_buf, out, out_bytes);
}

ClWeight::ClWeight(ClContext& cl, const WeightView& W) : rows_(W.rows), cols_(W.cols), dtype_(W.dtype) {
    if (W.rows <= 0 || W.cols <= 0 || !W.data)
        throw Error("ClWeight: empty weight (" + std::to_string(W.rows) + " × " + std::to_string(W.cols) + ")");
    check_int_range(cols_, "in");
    check_int_range(rows_, "out_dim");
    kernel_name_ = matmul_kernel_name(dtype_, "ClWeight");
    const size_t row_bytes = static_cast<size_t>(cols_) * dtype_size(dtype_);
    const int64_t block = matmul_block_rows(cl, rows_, row_bytes, "ClWeight");
    blocks_.reserve(static_cast<size_t>((rows_ + block - 1) / block));
    for (int64_t row0 = 0; row0 < rows_; row0 += block) {
        const int64_t rows = std::min(block, rows_ - row0);
        Block b;
        b.buffer = cl.upload(W.data + row0 * static_cast<int64_t>(row_bytes), static_cast<size_t>(rows) * row_bytes,
                             "resident weight block [" + std::to_string(rows) + ", " + std::to_string(cols_) + "]");
        b.row0 = row0;
        b.rows = rows;
        blocks_.push_back(std::move(b));
    }
}

size_t ClWeight::bytes() const {
    size_t total = 0;
    for (const Block& b : blocks_) total += b.buffer.bytes();
    return total;
}

void cl_matmul_enqueue(ClContext& cl, const Buffer& out_buf, const Buffer& x_buf, const ClWeight& W, int T) {
    if (T <= 0) return;
    if (x_buf.bytes() < bytes_of(int64_t(T) * W.cols()))
        throw Error("cl_matmul: input buffer of " + std::to_string(x_buf.bytes()) + " bytes is smaller than x[" + std::to_string(T) + ", " +
                    std::to_string(W.cols()) + "]");
    if (out_buf.bytes() < bytes_of(int64_t(T) * W.rows()))
        throw Error("cl_matmul: output buffer of " + std::to_string(out_buf.bytes()) + " bytes is smaller than out[" + std::to_string(T) +
                    ", " + std::to_string(W.rows()) + "]");
    for (const ClWeight::Block& b : W.blocks())
        enqueue_matmul_block(cl, W.kernel_name(), out_buf, x_buf, b.buffer, T, W.cols(), W.rows(), b.row0, b.rows);
}

void cl_matmul(ClContext& cl, float* out, const float* x, const ClWeight& W, int T) {
    if (T <= 0) return;
    const Buffer x_buf = cl.in(x, bytes_of(int64_t(T) * W.cols()), "matmul input x[T, in]");
    const Buffer out_buf = cl.out(out, bytes_of(int64_t(T) * W.rows()), "matmul output [T, out]");
    cl_matmul_enqueue(cl, out_buf, x_buf, W, T);
    cl.done(out_buf, out, out_buf.bytes());
}

ClMatmulResident::ClMatmulResident(ClContext& cl, const WeightView& W, int T) : cl_(cl), w_(cl, W), T_(T) {
    if (T <= 0) throw Error("ClMatmulResident: T = " + std::to_string(T) + " tokens (expected at least 1)");
    x_ = cl.alloc(bytes_of(int64_t(T) * w_.cols()), "resident matmul input x[T, in]");
    out_ = cl.alloc(bytes_of(int64_t(T) * w_.rows()), "resident matmul output [T, out]");
}

void ClMatmulResident::set_input(const float* x) {
    cl_.write(x_, 0, x, x_.bytes());
}

void ClMatmulResident::run(float* out) {
    cl_matmul_enqueue(cl_, out_, x_, w_, T_);
    cl_.download(out_, out, out_.bytes());
}

void cl_rms_norm(ClContext& cl, float* out, const float* x, const float* w, int64_t rows, int n, float eps) {
    if (rows <= 0 || n <= 0) return;
    const size_t count = bytes_of(rows * n);
    const Buffer x_buf = cl.in(x, count, "rms_norm input");
    const size_t group = reduction_group(cl);
    const size_t global = static_cast<size_t>(rows) * group;
    const LocalBytes scratch{group * sizeof(float)};
    if (w) {
        const Buffer w_buf = cl.upload(w, bytes_of(n), "rms_norm weight");
        const Buffer out_buf = cl.out(out, count, "rms_norm output");
        cl_kernel k = cl.kernel("rmsnorm", "rms_norm");
        set_args(k, out_buf, x_buf, w_buf, cl_int(n), cl_float(eps), scratch);
        run(cl, k, 1, &global, &group);
        cl.done(out_buf, out, count);
    } else {
        const Buffer out_buf = cl.out(out, count, "rms_norm output");
        cl_kernel k = cl.kernel("rmsnorm", "rms_norm_plain");
        set_args(k, out_buf, x_buf, cl_int(n), cl_float(eps), scratch);
        run(cl, k, 1, &global, &group);
        cl.done(out_buf, out, count);
    }
}

void cl_rope(ClContext& cl, float* x, int T, int heads, int Dh, const int64_t* positions, const float* inv_freq) {
    if (T <= 0 || heads <= 0 || Dh < 2) return;
    if (Dh % 2 != 0) throw Error("cl_rope: head dim " + std::to_string(Dh) + " is odd (rotate-half pairs i with i + Dh/2)");
    const size_t count = bytes_of(int64_t(T) * heads * Dh);
    const Buffer x_buf = cl.inout(x, count, "rope x[T, heads, Dh]");
    const Buffer pos_buf = cl.upload(positions, sizeof(int64_t) * static_cast<size_t>(T), "rope positions[T]");
    const Buffer freq_buf = cl.upload(inv_freq, bytes_of(Dh / 2), "rope inv_freq[Dh/2]");
    cl_kernel k = cl.kernel("rope", "rope_rotate_half");
    set_args(k, x_buf, pos_buf, freq_buf, cl_int(T), cl_int(heads), cl_int(Dh));
    const size_t global[3] = {static_cast<size_t>(Dh / 2), static_cast<size_t>(heads), static_cast<size_t>(T)};
    run(cl, k, 3, global, nullptr);
    cl.done(x_buf, x, count);
}

void cl_softmax_rows(ClContext& cl, float* x, int64_t rows, int n) {
    if (rows <= 0 || n <= 0) return;
    const size_t count = bytes_of(rows * n);
    const Buffer x_buf = cl.inout(x, count, "softmax rows");
    const size_t group = reduction_group(cl);
    const size_t global = static_cast<size_t>(rows) * group;
    cl_kernel k = cl.kernel("softmax", "softmax_rows");
    set_args(k, x_buf, cl_int(n), LocalBytes{group * sizeof(float)});
    run(cl, k, 1, &global, &group);
    cl.done(x_buf, x, count);
}

void cl_soft_cap(ClContext& cl, float* x, int64_t n, float cap) {
    if (n <= 0) return;
    const Buffer x_buf = cl.inout(x, bytes_of(n), "soft_cap x");
    cl_kernel k = cl.kernel("softmax", "soft_cap");
    set_args(k, x_buf, cl_long(n), cl_float(cap));
    run_1d(cl, k, n);
    cl.done(x_buf, x, bytes_of(n));
}

void cl_gelu_tanh(ClContext& cl, float* x, int64_t n) {
    if (n <= 0) return;
    const Buffer x_buf = cl.inout(x, bytes_of(n), "gelu_tanh x");
    cl_kernel k = cl.kernel("elementwise", "gelu_tanh");
    set_args(k, x_buf, cl_long(n));
    run_1d(cl, k, n);
    cl.done(x_buf, x, bytes_of(n));
}

void cl_gelu_mul(ClContext& cl, float* out, const float* gate, const float* up, int64_t n) {
    if (n <= 0) return;
    const Buffer gate_buf = cl.in(gate, bytes_of(n), "gelu_mul gate");
    const Buffer up_buf = cl.in(up, bytes_of(n), "gelu_mul up");
    const Buffer out_buf = cl.out(out, bytes_of(n), "gelu_mul out");
    cl_kernel k = cl.kernel("elementwise", "gelu_mul");
    set_args(k, out_buf, gate_buf, up_buf, cl_long(n));
    run_1d(cl, k, n);
    cl.done(out_buf, out, bytes_of(n));
}

void cl_add(ClContext& cl, float* out, const float* a, const float* b, int64_t n) {
    if (n <= 0) return;
    const Buffer a_buf = cl.in(a, bytes_of(n), "add a");
    const Buffer b_buf = cl.in(b, bytes_of(n), "add b");
    const Buffer out_buf = cl.out(out, bytes_of(n), "add out");
    cl_kernel k = cl.kernel("elementwise", "add");
    set_args(k, out_buf, a_buf, b_buf, cl_long(n));
    run_1d(cl, k, n);
    cl.done(out_buf, out, bytes_of(n));
}

void cl_scale(ClContext& cl, float* x, int64_t n, float s) {
    if (n <= 0) return;
    const Buffer x_buf = cl.inout(x, bytes_of(n), "scale x");
    cl_kernel k = cl.kernel("elementwise", "scale");
    set_args(k, x_buf, cl_long(n), cl_float(s));
    run_1d(cl, k, n);
    cl.done(x_buf, x, bytes_of(n));
}

namespace {

// A 2-D launch over (cols, rows), the row kernels' layout.
void run_rows(ClContext& cl, cl_kernel k, int64_t cols, int64_t rows) {
    const size_t global[2] = {static_cast<size_t>(cols), static_cast<size_t>(rows)};
    run(cl, k, 2, global, nullptr);
}

// The lowest and highest of n row indices; a negative one throws naming the op and the position.
std::pair<int32_t, int32_t> row_range(const int32_t* rows, int n, const char* who) {
    int32_t lo = rows[0], hi = rows[0];
    for (int i = 0; i < n; ++i) {
        if (rows[i] < 0) throw Error(std::string(who) + ": row " + std::to_string(rows[i]) + " at index " + std::to_string(i) + " is negative");
        lo = std::min(lo, rows[i]);
        hi = std::max(hi, rows[i]);
    }
    return {lo, hi};
}

}  // namespace

void cl_gelu_mul_halves(ClContext& cl, float* out, const float* gate_up, int64_t rows, int I) {
    if (rows <= 0 || I <= 0) return;
    check_int_range(rows, "rows");
    const Buffer in_buf = cl.in(gate_up, bytes_of(rows * 2 * I), "gelu_mul_halves gate_up[rows, 2I]");
    const Buffer out_buf = cl.out(out, bytes_of(rows * I), "gelu_mul_halves out[rows, I]");
    cl_kernel k = cl.kernel("elementwise", "gelu_mul_halves");
    set_args(k, out_buf, in_buf, cl_int(rows), cl_int(I));
    run_rows(cl, k, I, rows);
    cl.done(out_buf, out, bytes_of(rows * I));
}

void cl_silu(ClContext& cl, float* x, int64_t n) {
    if (n <= 0) return;
    const Buffer x_buf = cl.inout(x, bytes_of(n), "silu x");
    cl_kernel k = cl.kernel("elementwise", "silu");
    set_args(k, x_buf, cl_long(n));
    run_1d(cl, k, n);
    cl.done(x_buf, x, bytes_of(n));
}

void cl_clamp(ClContext& cl, float* out, const float* x, int64_t n, float lo, float hi) {
    if (n <= 0) return;
    const Buffer x_buf = cl.in(x, bytes_of(n), "clamp x");
    const Buffer out_buf = cl.out(out, bytes_of(n), "clamp out");
    cl_kernel k = cl.kernel("elementwise", "clamp_range");
    set_args(k, out_buf, x_buf, cl_long(n), cl_float(lo), cl_float(hi));
    run_1d(cl, k, n);
    cl.done(out_buf, out, bytes_of(n));
}

void cl_glu(ClContext& cl, float* out, const float* in, int64_t rows, int n) {
    if (rows <= 0 || n <= 0) return;
    check_int_range(rows, "rows");
    const Buffer in_buf = cl.in(in, bytes_of(rows * 2 * n), "glu in[rows, 2n]");
    const Buffer out_buf = cl.out(out, bytes_of(rows * n), "glu out[rows, n]");
    cl_kernel k = cl.kernel("elementwise", "glu");
    set_args(k, out_buf, in_buf, cl_int(rows), cl_int(n));
    run_rows(cl, k, n, rows);
    cl.done(out_buf, out, bytes_of(rows * n));
}

void cl_mul_cols(ClContext& cl, float* x, int64_t rows, int n, const float* w, float s) {
    if (rows <= 0 || n <= 0) return;
    check_int_range(rows, "rows");
    const Buffer x_buf = cl.inout(x, bytes_of(rows * n), "mul_cols x[rows, n]");
    const Buffer w_buf = cl.upload(w, bytes_of(n), "mul_cols w[n]");
    cl_kernel k = cl.kernel("elementwise", "mul_cols");
    set_args(k, x_buf, w_buf, cl_int(rows), cl_int(n), cl_float(s));
    run_rows(cl, k, n, rows);
    cl.done(x_buf, x, bytes_of(rows * n));
}

void cl_add_scaled(ClContext& cl, float* out, const float* a, const float* b, float s, int64_t n) {
    if (n <= 0) return;
    const Buffer a_buf = cl.in(a, bytes_of(n), "add_scaled a");
    const Buffer b_buf = cl.in(b, bytes_of(n), "add_scaled b");
    const Buffer out_buf = cl.out(out, bytes_of(n), "add_scaled out");
    cl_kernel k = cl.kernel("elementwise", "add_scaled");
    set_args(k, out_buf, a_buf, b_buf, cl_float(s), cl_long(n));
    run_1d(cl, k, n);
    cl.done(out_buf, out, bytes_of(n));
}

void cl_add_rows(ClContext& cl, float* x, int64_t rows, int n, const float* bias) {
    if (rows <= 0 || n <= 0) return;
    check_int_range(rows, "rows");
    const Buffer x_buf = cl.inout(x, bytes_of(rows * n), "add_rows x[rows, n]");
    const Buffer bias_buf = cl.upload(bias, bytes_of(n), "add_rows bias[n]");
    cl_kernel k = cl.kernel("elementwise", "add_rows");
    set_args(k, x_buf, bias_buf, cl_int(rows), cl_int(n));
    run_rows(cl, k, n, rows);
    cl.done(x_buf, x, bytes_of(rows * n));
}

void cl_standardize(ClContext& cl, float* x, int64_t rows, int n, const float* bias, const float* scale) {
    if (rows <= 0 || n <= 0) return;
    check_int_range(rows, "rows");
    const Buffer x_buf = cl.inout(x, bytes_of(rows * n), "standardize x[rows, n]");
    const Buffer bias_buf = cl.upload(bias, bytes_of(n), "standardize bias[n]");
    const Buffer scale_buf = cl.upload(scale, bytes_of(n), "standardize scale[n]");
    cl_kernel k = cl.kernel("elementwise", "standardize");
    set_args(k, x_buf, bias_buf, scale_buf, cl_int(rows), cl_int(n));
    run_rows(cl, k, n, rows);
    cl.done(x_buf, x, bytes_of(rows * n));
}

void cl_gather_rows(ClContext& cl, float* out, const float* x, const int32_t* rows, int n, int D) {
    if (n <= 0 || D <= 0) return;
    const auto [lo, hi] = row_range(rows, n, "cl_gather_rows");
    const int64_t span = int64_t(hi) - lo + 1;
    const Buffer x_buf = cl.in(x + int64_t(lo) * D, bytes_of(span * D), "gather_rows x rows [min, max]");
    const Buffer rows_buf = cl.upload(rows, sizeof(int32_t) * static_cast<size_t>(n), "gather_rows rows[n]");
    const Buffer out_buf = cl.out(out, bytes_of(int64_t(n) * D), "gather_rows out[n, D]");
    cl_kernel k = cl.kernel("moe", "gather_rows");
    set_args(k, out_buf, x_buf, rows_buf, cl_int(n), cl_int(D), cl_int(lo));
    run_rows(cl, k, D, n);
    cl.done(out_buf, out, bytes_of(int64_t(n) * D));
}

void cl_scatter_add_rows(ClContext& cl, float* out, const float* y, const int32_t* rows, const float* weights, int n, int D) {
    if (n <= 0 || D <= 0) return;
    const auto [lo, hi] = row_range(rows, n, "cl_scatter_add_rows");
    const int64_t span = int64_t(hi) - lo + 1;
    float* out_rows = out + int64_t(lo) * D;
    const Buffer y_buf = cl.in(y, bytes_of(int64_t(n) * D), "scatter_add_rows y[n, D]");
    const Buffer rows_buf = cl.upload(rows, sizeof(int32_t) * static_cast<size_t>(n), "scatter_add_rows rows[n]");
    const Buffer w_buf = cl.upload(weights, bytes_of(n), "scatter_add_rows weights[n]");
    const Buffer out_buf = cl.inout(out_rows, bytes_of(span * D), "scatter_add_rows out rows [min, max]");
    cl_kernel k = cl.kernel("moe", "scatter_add_rows");
    set_args(k, out_buf, y_buf, rows_buf, w_buf, cl_int(n), cl_int(D), cl_int(lo));
    run_1d(cl, k, D);
    cl.done(out_buf, out_rows, bytes_of(span * D));
}

namespace {

// The IMAGE_MASK_* numbers of attention.cl.
cl_int image_mask_code(ImageMask rule) {
    switch (rule) {
        case ImageMask::transformers: return 0;
        case ImageMask::transformers_0246b4f: return 1;
        case ImageMask::transformers_c308a309: return 2;
        case ImageMask::jax: return 3;
        case ImageMask::causal: return 4;
    }
    throw Error("cl_attention: unknown ImageMask value " + std::to_string(static_cast<int>(rule)));
}


}  // namespace

void cl_attention(ClContext& cl, float* out, float* weights, const float* q, const float* k, const float* v, const int64_t* q_pos,
                  const int64_t* k_pos, const int32_t* q_block, const int32_t* k_block, ImageMask rule, const AttentionShape& sh) {
    const int T = sh.T, S = sh.S, H = sh.H, Hkv = sh.Hkv, Dh = sh.Dh, window = sh.window;
    if (T <= 0 || H <= 0 || Dh <= 0) return;
    if (Hkv <= 0 || H % Hkv != 0)
        throw Error("cl_attention: " + std::to_string(H) + " query heads do not divide into " + std::to_string(Hkv) + " KV heads");
    if (window < 0) throw Error("cl_attention: window " + std::to_string(window) + " is negative (0 = full attention)");
    if ((q_block == nullptr) != (k_block == nullptr))
        throw Error("cl_attention: q_block and k_block must both be given or both be nullptr");
    const cl_int rule_code = image_mask_code(rule);
    const int64_t out_count = int64_t(T) * H * Dh;
    if (S <= 0) {  // no keys: every query is fully masked
        const Buffer out_buf = cl.out(out, bytes_of(out_count), "attention out[T, H·Dh]");
        cl.fill_zero(out_buf, bytes_of(out_count));
        cl.done(out_buf, out, bytes_of(out_count));
        return;
    }
    // Queries per launch: as many as keep the scratch [H, Tc, S] within the cap and one allocation.
    const uint64_t row_bytes = uint64_t(H) * uint64_t(S) * sizeof(float);
    const uint64_t cap = std::min<uint64_t>(kAttentionScratchBytes, cl.max_alloc_bytes());
    if (row_bytes > cap)
        throw Error("cl_attention: the scores of one query (H=" + std::to_string(H) + " × S=" + std::to_string(S) + " floats, " +
                    std::to_string(row_bytes) + " bytes) exceed the scratch limit of " + std::to_string(cap) + " bytes");
    const int Tc = static_cast<int>(std::min<uint64_t>(uint64_t(T), cap / row_bytes));

    const int64_t kv_count = int64_t(S) * Hkv * Dh;
    const Buffer q_buf = cl.in(q, bytes_of(out_count), "attention q[T, H, Dh]");
    const Buffer k_buf = cl.in(k, bytes_of(kv_count), "attention k[S, Hkv, Dh]");
    const Buffer v_buf = cl.in(v, bytes_of(kv_count), "attention v[S, Hkv, Dh]");
    const Buffer qpos_buf = cl.upload(q_pos, sizeof(int64_t) * static_cast<size_t>(T), "attention q_pos[T]");
    const Buffer kpos_buf = cl.upload(k_pos, sizeof(int64_t) * static_cast<size_t>(S), "attention k_pos[S]");
    Buffer qblock_buf, kblock_buf;  // null cl_mem when there are no image blocks: the kernel sees NULL pointers
    if (q_block) {
        qblock_buf = cl.upload(q_block, sizeof(int32_t) * static_cast<size_t>(T), "attention q_block[T]");
        kblock_buf = cl.upload(k_block, sizeof(int32_t) * static_cast<size_t>(S), "attention k_block[S]");
    }
    const Buffer out_buf = cl.out(out, bytes_of(out_count), "attention out[T, H·Dh]");
    const Buffer score_buf = cl.alloc(static_cast<size_t>(row_bytes) * static_cast<size_t>(Tc), "attention scores[H, Tc, S]");
    cl_kernel kern = cl.kernel("attention", "attention_rows");
    for (int t0 = 0; t0 < T; t0 += Tc) {
        const int tc = std::min(Tc, T - t0);
        set_args(kern, out_buf, score_buf, q_buf, k_buf, v_buf, qpos_buf, kpos_buf, qblock_buf, kblock_buf, rule_code, cl_int(T),
                 cl_int(S), cl_int(H), cl_int(Hkv), cl_int(Dh), cl_int(window), cl_int(t0), cl_int(tc));
        const size_t global[2] = {static_cast<size_t>(tc), static_cast<size_t>(H)};
        run(cl, kern, 2, global, nullptr);
        if (!weights) continue;  // the in-order queue runs the next chunk after this one: the scratch may be reused
        // scratch [H, tc, S] → weights[h, t0 … t0 + tc − 1, :], one contiguous run per head (blocking reads)
        for (int h = 0; h < H; ++h)
            cl.read(score_buf, static_cast<size_t>(h) * tc * S * sizeof(float), weights + (int64_t(h) * T + t0) * S,
                    bytes_of(int64_t(tc) * S));
    }
    cl.done(out_buf, out, bytes_of(out_count));
}

void cl_moe_route(ClContext& cl, const float* probs, int T, int E, int K, const float* per_expert_scale, int32_t* ids,
                  float* weights) {
    if (T <= 0 || K <= 0) return;
    if (K > E) throw Error("cl_moe_route: top-" + std::to_string(K) + " of " + std::to_string(E) + " experts");
    const Buffer probs_buf = cl.in(probs, bytes_of(int64_t(T) * E), "moe_route probs[T, E]");
    const Buffer scale_buf = cl.upload(per_expert_scale, bytes_of(E), "moe_route per_expert_scale[E]");
    const Buffer ids_buf = cl.out(ids, sizeof(int32_t) * static_cast<size_t>(T) * K, "moe_route ids[T, K]");
    const Buffer w_buf = cl.out(weights, bytes_of(int64_t(T) * K), "moe_route weights[T, K]");
    cl_kernel kern = cl.kernel("moe", "moe_route");
    set_args(kern, ids_buf, w_buf, probs_buf, scale_buf, cl_int(T), cl_int(E), cl_int(K));
    run_1d(cl, kern, T);
    cl.done(ids_buf, ids, sizeof(int32_t) * static_cast<size_t>(T) * K);
    cl.done(w_buf, weights, bytes_of(int64_t(T) * K));
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
    const Buffer out_buf = cl.out(out, bytes_of(int64_t(T) * cols), "embed out [T, cols]");
    cl_kernel k = cl.kernel("embed", kernel_name);
    set_args(k, out_buf, staged_buf, cl_int(T), cl_int(cols), cl_float(scale));
    const size_t global[2] = {static_cast<size_t>(cols), static_cast<size_t>(T)};
    run(cl, k, 2, global, nullptr);
    cl.done(out_buf, out, bytes_of(int64_t(T) * cols));
}

void cl_ple_mix(ClContext& cl, float* out, const float* context, const float* token, int64_t n) {
    if (n <= 0) return;
    const float mix = static_cast<float>(std::pow(2.0, -0.5));  // as ple_compute_inputs computes it
    const Buffer context_buf = cl.in(context, bytes_of(n), "ple_mix context");
    const Buffer token_buf = cl.in(token, bytes_of(n), "ple_mix token");
    const Buffer out_buf = cl.out(out, bytes_of(n), "ple_mix out");
    cl_kernel k = cl.kernel("ple", "ple_mix");
    set_args(k, out_buf, context_buf, token_buf, cl_long(n), cl_float(mix));
    run_1d(cl, k, n);
    cl.done(out_buf, out, bytes_of(n));
}

void cl_ple_gate(ClContext& cl, float* out, const float* gate, const float* inputs, int T, int L, int P, int l) {
    if (T <= 0 || P <= 0) return;
    if (l < 0 || l >= L) throw Error("cl_ple_gate: layer " + std::to_string(l) + " outside [0, " + std::to_string(L) + ")");
    const int64_t n = int64_t(T) * P;
    const Buffer gate_buf = cl.in(gate, bytes_of(n), "ple_gate gate[T, P]");
    const Buffer in_buf = cl.in(inputs, bytes_of(n * L), "ple_gate inputs[T, L, P]");
    const Buffer out_buf = cl.out(out, bytes_of(n), "ple_gate out[T, P]");
    cl_kernel k = cl.kernel("ple", "ple_gate");
    set_args(k, out_buf, gate_buf, in_buf, cl_int(T), cl_int(L), cl_int(P), cl_int(l));
    const size_t global[2] = {static_cast<size_t>(P), static_cast<size_t>(T)};
    run(cl, k, 2, global, nullptr);
    cl.done(out_buf, out, bytes_of(n));
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
    const Buffer x_buf = N > 0 ? cl.in(x, bytes_of(int64_t(N) * Dv), "vision_pool x[N, Dv]") : cl.alloc(bytes_of(Dv), "vision_pool x (empty)");
    const Buffer start_buf = cl.upload(cell_start.data(), sizeof(cl_int) * cell_start.size(), "vision_pool cell_start[G + 1]");
    const Buffer patch_buf = cl.upload(patches.data(), sizeof(cl_int) * patches.size(), "vision_pool patches[N]");
    const Buffer out_buf = cl.out(out, bytes_of(int64_t(G) * Dv), "vision_pool out[G, Dv]");
    cl_kernel kern = cl.kernel("vision", "vision_pool");
    set_args(kern, out_buf, x_buf, start_buf, patch_buf, cl_int(G), cl_int(Dv), cl_float(1.0f / float(k * k)),
             cl_float(static_cast<float>(std::sqrt(double(Dv)))));
    const size_t global[2] = {static_cast<size_t>(Dv), static_cast<size_t>(G)};
    run(cl, kern, 2, global, nullptr);
    cl.done(out_buf, out, bytes_of(int64_t(G) * Dv));
}

void cl_rope_2d(ClContext& cl, float* x, int N, int H, int Dh, const int32_t* pos_x, const int32_t* pos_y, const float* inv_freq) {
    if (N <= 0 || H <= 0 || Dh < 4) return;
    if (Dh % 4 != 0) throw Error("cl_rope_2d: head dim " + std::to_string(Dh) + " is not a multiple of 4 (two halves of pairs)");
    const size_t count = bytes_of(int64_t(N) * H * Dh);
    const Buffer x_buf = cl.inout(x, count, "rope_2d x[N, H, Dh]");
    const Buffer px_buf = cl.upload(pos_x, sizeof(int32_t) * static_cast<size_t>(N), "rope_2d pos_x[N]");
    const Buffer py_buf = cl.upload(pos_y, sizeof(int32_t) * static_cast<size_t>(N), "rope_2d pos_y[N]");
    const Buffer freq_buf = cl.upload(inv_freq, bytes_of(Dh / 4), "rope_2d inv_freq[Dh/4]");
    cl_kernel k = cl.kernel("vision", "rope_2d");
    set_args(k, x_buf, px_buf, py_buf, freq_buf, cl_int(N), cl_int(H), cl_int(Dh));
    const size_t global[3] = {static_cast<size_t>(Dh / 4), static_cast<size_t>(H), static_cast<size_t>(N)};
    run(cl, k, 3, global, nullptr);
    cl.done(x_buf, x, count);
}

}  // namespace gemma4::cl
