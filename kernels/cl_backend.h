// cl_backend.h — the OpenCL Backend (reference/backend.h): every op of ops.h runs as a kernel of kernels/*.cl on one
// device, and what the model computes stays there.
//
// Weights are uploaded once, on first use, and stay resident (split into row blocks where a weight is larger than the
// device's largest allocation); the PLE and token-embedding tables stay on the host and only the rows a step needs
// travel (embed_rows). Activations stay on the device between ops: the model hands over host pointers, and
// ClResidency (cl_resident.h) keeps a device mirror of each host activation range, found by address, so an op's
// inputs are uploaded only where the host wrote them last and its outputs are not downloaded at all. The host copy is
// brought up to date only through Backend::to_host — a probe a listener wants, the MoE routing ids and weights, the
// logits — so a decode step with no listener downloads the logits [1, V] and the MoE layers' top-k (8·T·K bytes
// each), and uploads only the control data: token ids and embedding rows, positions, routing lists, norm weights.
// The KV cache lives in the mirrors too: append, trim and growth are Backend::copy on the device.
// ClContext::bytes_uploaded / bytes_downloaded count every transfer (tests/test_resident.cpp asserts on them).
//
// An op this backend cannot run on the device (a weight dtype without a kernel, a shape over a device limit) runs the
// reference op on the host — its inputs brought to the host first, its outputs marked host-newer after — and says so
// once on stderr; with strict = true (--strict-device) that is an error instead.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>

#include "backend.h"
#include "cl_ops.h"
#include "cl_resident.h"
#include "cl_runtime.h"

namespace gemma4::cl {

struct ClBackendOptions {
    int device = 0;       // flat index of `gemma4 info --cl`
    bool strict = false;  // a host fallback throws instead of logging
};

class ClBackend : public Backend {
public:
    explicit ClBackend(const ClBackendOptions& options = {});
    ~ClBackend() override;
    std::string name() const override { return "opencl"; }
    ClContext& context() { return *cl_; }
    const ClResidency& residency() const { return *resident_; }

    void to_host_bytes(const void* p, size_t bytes) override { resident_->to_host(p, bytes); }
    void from_host_bytes(const void* p, size_t bytes) override { resident_->from_host(p, bytes); }
    void on_alloc_bytes(const void* p, size_t bytes) override { resident_->on_alloc(p, bytes); }
    void on_free_bytes(const void* p, size_t bytes) override { resident_->on_free(p, bytes); }
    void copy(float* dst, const float* src, int64_t n) override;
    const std::set<std::string>& fallbacks() const { return fallbacks_; }  // ops that ran on the host so far
    size_t resident_weight_bytes() const { return resident_bytes_; }

    void matmul(float* out, const float* x, const WeightView& W, int T) override;
    void matmul_nt(float* out, const float* a, const float* b, int M, int N, int K) override;
    void rms_norm(float* out, const float* x, const float* w, int64_t rows, int n, float eps) override;
    void rope(float* x, int T, int heads, int Dh, const int64_t* positions, const float* inv_freq) override;
    void softmax_rows(float* x, int64_t rows, int n) override;
    void soft_cap(float* x, int64_t n, float cap) override;
    void gelu(float* x, int64_t n) override;
    void gelu_mul(float* out, const float* gate, const float* up, int64_t n) override;
    void gelu_mul_halves(float* out, const float* gate_up, int64_t rows, int I) override;
    void silu(float* x, int64_t n) override;
    void clamp(float* out, const float* x, int64_t n, float lo, float hi) override;
    void glu(float* out, const float* in, int64_t rows, int n) override;
    void causal_dwconv(float* out, const float* x, const float* w, int T, int C, int K) override;
    void add(float* out, const float* a, const float* b, int64_t n) override;
    void add_scaled(float* out, const float* a, const float* b, float s, int64_t n) override;
    void add_rows(float* x, int64_t rows, int n, const float* bias) override;
    void scale(float* x, int64_t n, float s) override;
    void mul_cols(float* x, int64_t rows, int n, const float* w, float s) override;
    void standardize(float* x, int64_t rows, int n, const float* bias, const float* scale) override;
    void embed_rows(float* out, const WeightView& table, const int32_t* ids, int T, float scale) override;
    void gather_rows(float* out, const float* x, const int32_t* rows, int n, int D) override;
    void scatter_add_rows(float* out, const float* y, const int32_t* rows, const float* weights, int n, int D) override;
    void moe_route(const float* probs, int T, int E, int K, const float* per_expert_scale, int32_t* ids, float* weights) override;
    void ple_mix(float* out, const float* context, const float* token, int64_t n) override;
    void ple_gate(float* out, const float* gate, const float* inputs, int T, int L, int P, int l) override;
    void attention(float* out, float* weights, const float* q, const float* k, const float* v, const int64_t* q_pos, const int64_t* k_pos,
                   const int32_t* q_block, const int32_t* k_block, ImageMask rule, const AttentionShape& s) override;
    void rope_2d(float* x, int N, int H, int Dh, const int32_t* pos_x, const int32_t* pos_y, const float* inv_freq) override;
    void vision_pool(float* out, const float* x, int N, int Dv, const int32_t* pos_x, const int32_t* pos_y, int cols, int k, int G) override;
    void conv2d_subsample(float* out, const float* x, const uint8_t* row_valid, int T, int F, int Cin, int Cout, const float* w,
                          const float* norm_w, float eps) override;
    void audio_attention(float* out, float* weights, const float* q, const float* k, const float* v, const float* rel_k,
                         const uint8_t* key_valid, const AudioAttentionShape& s) override;

private:
    // The op `op` runs on the host because of `why`: logged once per op, or an Error when strict.
    void fallback(const std::string& op, const std::string& why);
    // The device copy of a weight, uploaded on first use.
    const ClWeight& resident(const WeightView& W);

    std::unique_ptr<ClContext> cl_;
    std::unique_ptr<ClResidency> resident_;  // installed as cl_'s HostIo
    bool strict_ = false;
    RefBackend host_;
    std::set<std::string> fallbacks_;
    std::map<std::tuple<const std::byte*, int64_t, int64_t, int>, std::unique_ptr<ClWeight>> weights_;
    size_t resident_bytes_ = 0;
};

}  // namespace gemma4::cl
