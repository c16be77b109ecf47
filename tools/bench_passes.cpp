// bench_passes.cpp — `gemma4 bench -m MODEL --passes`: where a decoded token's time goes. `bench -m` says how close
// decode comes to the bandwidth roofline; this says which matmul passes lose the difference. Every matmul pass of a
// decode (one matmul, one group of weights sharing an input such as q, k and v, or the MoE experts of a layer) is
// timed and filed under the shape of the weights it reads; the rest of the token (norms, attention, RoPE, sampling
// inputs) is "everything else". Each pass kind's read rate is compared with the bandwidth measured around the same
// token: between tokens, untimed, one read of the mapped LM head (as `bench -m` pairs its decodes), or for a model too
// small to have one far larger than the caches, full samples right before and after each decode.
//
// The timing wrapper (PassTimer) costs a clock read and a map lookup per pass, a few microseconds a token.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend.h"
#include "bench.h"
#include "checkpoint.h"
#include "dtype.h"
#include "error.h"
#include "kv_cache.h"
#include "text_model.h"

namespace gemma4::cli {

namespace {

using json = nlohmann::json;
using bench::median;
using bench::seconds_of;

// Time and bytes of one pass kind, summed.
struct PassStat {
    double seconds = 0, bytes = 0;
    int64_t passes = 0;
};
using PassStats = std::map<std::string, PassStat>;  // by shape label

std::string weight_label(const WeightView& W) { return std::to_string(W.rows) + "x" + std::to_string(W.cols); }
double weight_bytes(const WeightView& W) { return double(W.rows) * double(W.cols) * double(dtype_size(W.dtype)); }

// Base (a CPU backend) with every matmul pass timed into stats(). Only the outermost call is a pass: a matmul_group
// or moe_experts that calls matmul itself (Backend's defaults do) is counted once.
template <class Base>
class PassTimer : public Base {
public:
    const PassStats& stats() const { return stats_; }

    void matmul(float* out, const float* x, const WeightView& W, int T) override {
        timed(weight_label(W) + " " + dtype_name(W.dtype), weight_bytes(W), [&] { Base::matmul(out, x, W, T); });
    }
    void matmul_group(const float* x, int T, std::span<const MatmulOut> outs) override {
        std::string label;
        double bytes = 0;
        for (const MatmulOut& o : outs) {
            label += (label.empty() ? "" : " + ") + weight_label(*o.W);
            bytes += weight_bytes(*o.W);
        }
        if (!outs.empty()) label += std::string(" ") + dtype_name(outs[0].W->dtype);
        timed(label, bytes, [&] { Base::matmul_group(x, T, outs); });
    }
    // The experts the tokens chose, each read once: its gate_up [2I, D] and down [D, I] slices.
    void moe_experts(float* out, const float* x, const int32_t* ids, const float* weights, const MoeExpertsShape& s) override {
        const std::set<int32_t> chosen(ids, ids + int64_t(s.T) * s.K);
        const WeightView gu = expert_slice(*s.gate_up, 0), dn = expert_slice(*s.down, 0);
        const std::string label = "experts " + std::to_string(chosen.size()) + " of " + std::to_string(s.E) + " x (" +
                                  weight_label(gu) + " + " + weight_label(dn) + ") " + dtype_name(gu.dtype);
        timed(label, double(chosen.size()) * (weight_bytes(gu) + weight_bytes(dn)),
              [&] { Base::moe_experts(out, x, ids, weights, s); });
    }

private:
    template <class F>
    void timed(const std::string& label, double bytes, F&& run) {
        if (depth_ > 0) return run();
        struct Depth {
            int& d;
            explicit Depth(int& v) : d(v) { ++d; }
            ~Depth() { --d; }
        } depth(depth_);
        const double s = seconds_of(run);
        PassStat& st = stats_[label];
        st.seconds += s;
        st.bytes += bytes;
        ++st.passes;
    }
    PassStats stats_;
    int depth_ = 0;
};

std::unique_ptr<Backend> timed_backend(const std::string& name) {
    if (name == "ref") return std::make_unique<PassTimer<RefBackend>>();
    if (name == "blas") return std::make_unique<PassTimer<BlasBackend>>();
    if (name == "bf16") return std::make_unique<PassTimer<Bf16Backend>>();
    throw Error("--passes times the CPU backends (ref, blas, bf16); " + name +
                " runs its kernels asynchronously on its device, so a pass's time is not known on the host");
}
const PassStats& stats_of(const Backend& b) {
    if (auto* t = dynamic_cast<const PassTimer<Bf16Backend>*>(&b)) return t->stats();
    if (auto* t = dynamic_cast<const PassTimer<BlasBackend>*>(&b)) return t->stats();
    return dynamic_cast<const PassTimer<RefBackend>&>(b).stats();
}

// One pass kind over all decoded tokens.
struct KindRow {
    std::string shape;
    double bytes_per_pass = 0, passes_per_token = 0, ms_per_token = 0, gb_s = 0;
    std::vector<double> of_bandwidth;  // per token: this kind's read rate ÷ the bandwidth around that token
};

}  // namespace

int bench_passes(const Args& args, const std::vector<std::string>& backend_names, int reps, bool quick, bool as_json) {
    if (args.has("--prefill")) throw Error("--passes profiles decode; --prefill does not apply");
    const long long decode_n = args.get_int("--decode", quick ? 8 : 64);
    if (decode_n < 1 || decode_n > 100000) throw Error("--decode must be 1..100000, got " + args.get("--decode"));
    const int N = static_cast<int>(decode_n);
    // Every backend named must be one this can time, before anything is loaded.
    for (const std::string& name : backend_names) (void)timed_backend(name);

    Checkpoint ck = Checkpoint::open(args.get("--model"));
    const TextConfig& tc = ck.config.text;
    TextModel model(ck);
    bench::Limits limits((quick ? 256ll : 1024ll) << 20, quick ? 256 : 1024);
    const TensorRef* mapped = bench::lm_head_far_beyond_caches(ck);
    if (mapped) limits.add_mapped(mapped->data, static_cast<int64_t>(mapped->nbytes));
    (void)limits.bandwidth_sample();  // picks the stream count the reads between tokens use
    limits.release();

    json out_list = json::array();
    for (const std::string& name : backend_names) {
        std::unique_ptr<Backend> backend = timed_backend(name);
        std::vector<float> logits;
        ForwardOptions o;
        o.backend = backend.get();
        o.all_logits = false;
        const std::vector<int32_t> prompt_ids = bench::decode_prompt_ids(tc.bos_token_id, tc.vocab_size);
        const std::vector<int32_t> ids = bench::decode_step_ids(N, tc.bos_token_id, tc.vocab_size);
        std::map<std::string, KindRow> kinds;
        std::vector<double> token_s, matmul_s, token_bw;
        std::fprintf(stderr, "[bench] %s: warm-up decode\n", name.c_str());
        for (int rep = -1; rep < reps; ++rep) {  // rep -1: warm-up (maps the weight pages in), not counted
            KvCache cache(model.config());
            TextInput prompt;
            prompt.tokens = prompt_ids;
            model.forward(prompt, cache, logits, o);
            const double full_before = mapped ? 0 : limits.bandwidth_sample();
            double before = mapped ? limits.mapped_sample() : 0;
            std::vector<double> rep_bw;
            std::vector<PassStats> rep_deltas;
            std::vector<double> rep_token_s;
            for (int i = 0; i < N; ++i) {
                const PassStats start = stats_of(*backend);
                TextInput step;
                step.tokens = {ids[i + 1]};
                rep_token_s.push_back(seconds_of([&] { model.forward(step, cache, logits, o); }));
                PassStats delta = stats_of(*backend);
                for (auto& [label, st] : delta) {
                    const auto it = start.find(label);
                    if (it == start.end()) continue;
                    st.seconds -= it->second.seconds;
                    st.bytes -= it->second.bytes;
                    st.passes -= it->second.passes;
                }
                rep_deltas.push_back(std::move(delta));
                if (mapped) {
                    const double after = limits.mapped_sample();
                    rep_bw.push_back(limits.gb_s(0.5 * (before + after)));
                    before = after;
                }
            }
            if (!mapped) {
                const double bw = limits.gb_s(0.5 * (full_before + limits.bandwidth_sample()));
                limits.release();
                rep_bw.assign(N, bw);
            }
            if (rep < 0) continue;
            std::fprintf(stderr, "[bench] %s: decode %d/%d, %d tokens, %.2f ms/token\n", name.c_str(), rep + 1, reps, N,
                         1e3 * median(rep_token_s));
            for (int i = 0; i < N; ++i) {
                double mm = 0;
                for (const auto& [label, st] : rep_deltas[i]) {
                    if (st.passes == 0) continue;
                    KindRow& k = kinds[label];
                    k.shape = label;
                    k.bytes_per_pass = st.bytes / double(st.passes);
                    k.passes_per_token += double(st.passes);
                    k.ms_per_token += 1e3 * st.seconds;
                    k.gb_s += st.bytes;  // bytes for now; divided by the time below
                    if (st.seconds > 0) k.of_bandwidth.push_back(st.bytes / st.seconds / 1e9 / rep_bw[i]);
                    mm += st.seconds;
                }
                token_s.push_back(rep_token_s[i]);
                matmul_s.push_back(mm);
                token_bw.push_back(rep_bw[i]);
            }
        }
        const double tokens = double(token_s.size());
        std::vector<KindRow> rows;
        double bytes_per_token = 0;
        for (auto& [label, k] : kinds) {
            bytes_per_token += k.gb_s / tokens;
            k.gb_s = k.gb_s / (k.ms_per_token * 1e-3) / 1e9;
            k.passes_per_token /= tokens;
            k.ms_per_token /= tokens;
            rows.push_back(k);
        }
        std::sort(rows.begin(), rows.end(), [](const KindRow& a, const KindRow& b) { return a.ms_per_token > b.ms_per_token; });
        double token_mean = 0, matmul_mean = 0;
        for (size_t i = 0; i < token_s.size(); ++i) {
            token_mean += token_s[i] / tokens;
            matmul_mean += matmul_s[i] / tokens;
        }
        json e;
        e["backend"] = name;
        e["tokens"] = token_s.size();
        e["token_ms"] = 1e3 * token_mean;
        e["matmul_ms"] = 1e3 * matmul_mean;
        e["other_ms"] = 1e3 * (token_mean - matmul_mean);
        e["matmul_bytes_per_token"] = bytes_per_token;
        e["matmul_gb_s"] = bytes_per_token / matmul_mean / 1e9;
        e["bandwidth_gb_s"] = median(token_bw);
        json kl = json::array();
        for (const KindRow& k : rows)
            kl.push_back({{"shape", k.shape},
                          {"bytes_per_pass", k.bytes_per_pass},
                          {"passes_per_token", k.passes_per_token},
                          {"ms_per_token", k.ms_per_token},
                          {"gb_s", k.gb_s},
                          {"bandwidth_fraction", median(k.of_bandwidth)}});
        e["passes"] = kl;
        out_list.push_back(e);
    }

    json j;
    j["model"] = ck.dir;
    j["variant"] = ck.config.name;
    j["layers"] = tc.num_hidden_layers;
    j["threads"] = omp_get_max_threads();
    j["decodes"] = reps;
    j["decode_tokens"] = N;
    j["decode_context"] = bench::kDecodeContext;
    j["bandwidth_sampled"] = mapped ? "between tokens" : "before and after";
    if (mapped) {
        j["bandwidth_mapped_tensor"] = mapped->name;
        j["bandwidth_streams"] = limits.best_streams();
    }
    const bench::WeightPages pages = bench::weight_pages(ck);
    j["weights_resident_bytes"] = pages.resident;
    j["weights_on_huge_pages_bytes"] = pages.on_huge_pages;
    j["backends"] = out_list;
    if (as_json) {
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("gemma4 bench -m %s --passes (%s, %d layers): %d decode%s of %d tokens after a %d-token prompt, %d OpenMP threads\n",
                ck.dir.c_str(), ck.config.name.c_str(), tc.num_hidden_layers, reps, reps == 1 ? "" : "s", N, bench::kDecodeContext,
                omp_get_max_threads());
    if (mapped)
        std::printf("bandwidth: one read of the mapped %s between tokens (%d stream%s per core), each token against the\n"
                    "mean of the reads before and after it\n",
                    mapped->name.c_str(), limits.best_streams(), limits.best_streams() == 1 ? "" : "s");
    else
        std::printf("bandwidth: full samples before and after each decode (no tensor far larger than the caches to read between tokens)\n");
    if (pages.resident > 0)
        std::printf("weights resident on 2 MiB pages: %.1f %% of %.0f MiB\n", 100.0 * pages.huge_fraction(), double(pages.resident) / (1 << 20));
    for (const json& e : out_list) {
        std::printf("\n%s: %.2f ms a token at %.2f GB/s (median %s): matmul passes %.2f ms (%.1f%%) reading %.2f GB/s,\n"
                    "everything else %.2f ms\n",
                    e["backend"].get<std::string>().c_str(), e["token_ms"].get<double>(), e["bandwidth_gb_s"].get<double>(),
                    mapped ? "between tokens" : "around the decodes",
                    e["matmul_ms"].get<double>(), 100.0 * e["matmul_ms"].get<double>() / e["token_ms"].get<double>(),
                    e["matmul_gb_s"].get<double>(), e["other_ms"].get<double>());
        std::printf("  %9s %9s %9s %6s %8s %9s  %s\n", "MiB/pass", "per token", "ms/token", "share", "GB/s", "of bw", "weights read by the pass");
        for (const json& k : e["passes"])
            std::printf("  %9.2f %9.1f %9.2f %5.1f%% %8.2f %8.1f%%  %s\n", k["bytes_per_pass"].get<double>() / (1 << 20),
                        k["passes_per_token"].get<double>(), k["ms_per_token"].get<double>(),
                        100.0 * k["ms_per_token"].get<double>() / e["token_ms"].get<double>(), k["gb_s"].get<double>(),
                        100.0 * k["bandwidth_fraction"].get<double>(), k["shape"].get<std::string>().c_str());
    }
    std::printf("\nof bw: median over tokens of the pass kind's read rate in that token over the bandwidth around it\n"
                "(above 100%% where a pass's weights stay in the caches between tokens, as a small model's do).\n"
                "weights: rows x cols (out x in) of each weight the pass reads; a pass of several weights shares one input.\n");
    return 0;
}

}  // namespace gemma4::cli
