// bench_model.cpp — `gemma4 bench -m MODEL`: prefill and decode speed of a checkpoint on each backend, measured in
// the same run as the machine's limits and compared with them (issue 9, items 1, 3 and 5):
//   decode  against the bandwidth roofline: weight bytes one decoded token reads ÷ read bandwidth = the fastest a
//           token can possibly take when the weights stream from memory once per token;
//   prefill against the OpenBLAS sgemm peak: FLOPs of the prompt ÷ time, as a fraction of sgemm GFLOP/s;
//   probes  decode with nobody listening vs a RecordingSink capturing every probe ("*") (with GEMMA4_PROBES=OFF
//           there is nothing to record: bench says so; tools/bench_probes.sh compares the two builds);
//   memory  peak resident set of the model runs (the weights are mapped, so RSS counts the pages touched).
// Each repetition takes one sample of everything in turn (bandwidth, sgemm, then each backend's prefills and decode),
// so the machine's noise hits the limits and the model alike; every figure is the median over repetitions. Each decode
// is also paired with bandwidth measured during it: a read of the mapped LM head after every token, untimed (or, for
// a model too small to have one far larger than the caches, samples right before and after the decode); the roofline
// fraction is the median of those per-decode ratios.
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend.h"
#include "bench.h"
#include "checkpoint.h"
#include "error.h"
#include "kv_cache.h"
#include "probes.h"
#include "registry.h"
#include "text_model.h"
#ifdef GEMMA4_HAVE_OPENCL
#include "cl_backend.h"
#endif

namespace gemma4::cli {

namespace {

using json = nlohmann::json;
using bench::bench_tokens;
using bench::median;
using bench::seconds_of;

// "128,512" → {128, 512}; errors name the option and the offending entry.
std::vector<int> parse_counts(const std::string& option, const std::string& text) {
    std::vector<int> out;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        const std::string item = text.substr(start, end - start);
        size_t used = 0;
        long long v = -1;
        try {
            v = std::stoll(item, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (item.empty() || used != item.size() || v < 1 || v > (1 << 20))
            throw Error(option + ": '" + item + "' is not a token count (expected positive integers separated by commas, e.g. 128,512)");
        out.push_back(static_cast<int>(v));
        start = end + 1;
    }
    return out;
}

// What one token costs, from the registry and the stored dtypes of the checkpoint.
//
// decode_bytes — weight bytes one decoded token reads (the roofline's numerator). Every text tensor of the registry
// counts in full (attention, dense MLP / the dense branch of MoE layers, MoE router, norms, PLE projections, and the
// token embedding, which is also the tied LM head: V × D read once per token for the logits, plus the one row the
// embedding lookup reads), except
//   MoE expert tensors: only the K chosen of E experts are read → numel × K / E;
//   the PLE table (V_ple × L·P): a lookup, one row of L·P per token → numel / V_ple.
// KV-cache reads are not weights and are left out (small at the 16-token context decode runs at).
//
// matmul_params — parameters one token multiplies (2 FLOPs each) in prefill: the same set minus the two lookups (token
// embedding row, PLE row) and minus the LM head, which prefill applies to the last token only (generation wants only
// its logits); lm_head_params is counted once per prompt. MoE experts count at K / E (each token visits K).
struct TokenCost {
    double decode_bytes = 0;
    double matmul_params = 0;
    double lm_head_params = 0;
};

TokenCost token_cost(const Checkpoint& ck) {
    const TextConfig& t = ck.config.text;
    TokenCost c;
    for_each_tensor(ck.config, [&](const TensorSpec& s) {
        if (s.tower != Tower::Text || s.role == Role::Projector || s.role == Role::VisionTower || s.role == Role::AudioTower) return;
        const TensorRef* ref = ck.weights.find(s.name);
        if (ref == nullptr || ref->numel() == 0) return;
        const double bytes_per = double(ref->nbytes) / double(ref->numel());
        const double n = double(s.numel());
        switch (s.role) {
        case Role::TokenEmbedding:
            c.decode_bytes += (t.tie_word_embeddings ? n : 0.0) * bytes_per + double(t.hidden_size) * bytes_per;
            if (t.tie_word_embeddings) c.lm_head_params += n;
            break;
        case Role::LmHead:
            c.decode_bytes += n * bytes_per;
            c.lm_head_params += n;
            break;
        case Role::PleTable:
            c.decode_bytes += n / double(std::max(1, t.vocab_size_per_layer_input)) * bytes_per;
            break;
        case Role::MoeExperts: {
            const double active = t.num_experts > 0 ? double(t.top_k_experts) / double(t.num_experts) : 1.0;
            c.decode_bytes += n * active * bytes_per;
            c.matmul_params += n * active;
            break;
        }
        default:
            c.decode_bytes += n * bytes_per;
            c.matmul_params += n;
        }
    });
    return c;
}

// Attention FLOPs of a T-token prefill from an empty cache: per layer and head, QKᵀ and PV each cost 2·Dh per
// (query, key) pair the mask allows — T(T+1)/2 pairs on full layers, Σ min(i+1, window) on sliding ones.
double attention_flops(const TextConfig& t, int T) {
    double flops = 0;
    for (int l = 0; l < t.num_hidden_layers; ++l) {
        const int W = t.window(l);
        double pairs = 0;
        for (int i = 0; i < T; ++i) pairs += W > 0 ? std::min(i + 1, W) : i + 1;
        flops += 4.0 * t.num_attention_heads * t.layer_head_dim(l) * pairs;
    }
    return flops;
}

// Peak RSS of a stretch of the run: Linux resets VmHWM (and getrusage's ru_maxrss with it) when "5" is written to
// /proc/self/clear_refs. Returns false where that is not possible (then the process-wide getrusage figure is all there
// is, which then includes the bandwidth buffer).
bool reset_peak_rss() {
    std::ofstream f("/proc/self/clear_refs");
    if (!f) return false;
    f << "5";
    f.flush();
    return static_cast<bool>(f);
}
double peak_rss_mib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
    struct rusage u {};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss / 1024.0;
}
double process_peak_rss_mib() {
    struct rusage u {};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss / 1024.0;
}

constexpr bool kProbesCompiledIn = GEMMA4_PROBES;

struct BackendRun {
    std::string name;
    std::string skipped;
    std::unique_ptr<Backend> backend;
    std::unique_ptr<TextModel> model;
    std::vector<std::vector<double>> prefill_s;  // [T index][rep]
    std::vector<double> decode_s, decode_probed_s;
    std::vector<double> decode_roofline;  // per repetition: decode tok/s ÷ the roofline of the bandwidth during that decode
    std::vector<double> decode_bandwidth;  // per repetition: that bandwidth, GB/s
    double rss_mib = 0;
    bool probes = false;  // this backend also measures the probe cost
};

}  // namespace

namespace bench {

// A fixed pseudo-random id sequence over ordinary ids (above the control tokens at the bottom of the vocabulary),
// <bos> first, so every run and every backend feeds the same tokens.
std::vector<int32_t> bench_tokens(int n, int32_t bos, int vocab, uint64_t seed) {
    const int low = std::min(1000, vocab / 4);
    std::vector<int32_t> ids = {bos};
    uint64_t s = 0x9E3779B97F4A7C15ULL ^ seed;
    while (static_cast<int>(ids.size()) < n) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        ids.push_back(static_cast<int32_t>(low + (s >> 33) % static_cast<uint64_t>(std::max(1, vocab - low))));
    }
    return ids;
}

const TensorRef* lm_head_far_beyond_caches(const Checkpoint& ck) {
    const TextConfig& tc = ck.config.text;
    const TensorRef* mapped = nullptr;
    for_each_tensor(ck.config, [&](const TensorSpec& spec) {
        if (spec.tower != Tower::Text) return;
        if (spec.role != Role::LmHead && !(spec.role == Role::TokenEmbedding && tc.tie_word_embeddings)) return;
        const TensorRef* ref = ck.weights.find(spec.name);
        if (ref && (!mapped || ref->nbytes > mapped->nbytes)) mapped = ref;
    });
    return mapped && mapped->nbytes >= (size_t(256) << 20) ? mapped : nullptr;
}

WeightPages weight_pages(const Checkpoint& ck) {
    WeightPages w;
    for (const std::string& file : ck.weights.files())
        for (const MappedRange& r : mapped_ranges(file)) {
            w.resident += r.resident;
            w.on_huge_pages += r.on_huge_pages;
        }
    return w;
}

}  // namespace bench

int bench_model(const Args& args, const std::vector<std::string>& backend_names, int reps, bool quick, bool as_json) {
    const std::vector<int> prefill_T = parse_counts("--prefill", args.get("--prefill", quick ? "32" : "128,512,2048"));
    const long long decode_n = args.get_int("--decode", quick ? 8 : 64);
    if (decode_n < 1 || decode_n > 100000) throw Error("--decode must be 1..100000, got " + args.get("--decode"));
    const int N = static_cast<int>(decode_n);
    const int decode_context = bench::kDecodeContext;  // prompt the decode runs after

    Checkpoint ck = Checkpoint::open(args.get("--model"));
    const TextConfig& tc = ck.config.text;
    for (int T : prefill_T)
        if (T > tc.max_position_embeddings) throw Error("--prefill " + std::to_string(T) + " exceeds the model's context of " +
                                                        std::to_string(tc.max_position_embeddings) + " tokens");
    const TokenCost cost = token_cost(ck);

    // ---- backends
    std::vector<BackendRun> runs;
    for (const std::string& name : backend_names) {
        BackendRun r;
        r.name = name;
        if (name == "ref") r.backend = std::make_unique<RefBackend>();
        else if (name == "blas") r.backend = std::make_unique<BlasBackend>();
        else if (name == "bf16") r.backend = std::make_unique<Bf16Backend>();
        else {
#ifdef GEMMA4_HAVE_OPENCL
            try {
                cl::ClBackendOptions o;
                o.device = static_cast<int>(args.get_int("--cl-device", 0));
                r.backend = std::make_unique<cl::ClBackend>(o);
            } catch (const std::exception& e) {
                r.skipped = std::string("no OpenCL device (") + e.what() + ")";
            }
#else
            r.skipped = "built without OpenCL";
#endif
        }
        if (r.backend) r.model = std::make_unique<TextModel>(ck);
        r.prefill_s.resize(prefill_T.size());
        runs.push_back(std::move(r));
    }
    // Probe cost is measured on one backend: blas if it runs, else the first that runs.
    for (BackendRun& r : runs)
        if (r.name == "blas" && r.backend) r.probes = true;
    if (std::none_of(runs.begin(), runs.end(), [](const BackendRun& r) { return r.probes; }))
        for (BackendRun& r : runs)
            if (r.backend) {
                r.probes = true;
                break;
            }

    const int32_t bos = tc.bos_token_id;
    std::vector<float> logits;
    auto prefill = [&](BackendRun& r, int T) {
        KvCache cache(r.model->config());
        TextInput in;
        in.tokens = bench_tokens(T, bos, tc.vocab_size, 1);
        ForwardOptions o;
        o.backend = r.backend.get();
        o.all_logits = false;
        return seconds_of([&] { r.model->forward(in, cache, logits, o); });
    };
    // decode: N one-token steps after a decode_context-token prompt; only the steps are timed. between(i), if given,
    // runs after step i, untimed.
    auto decode = [&](BackendRun& r, ProbeSink* sink, const std::function<void(int)>& between = {}) {
        KvCache cache(r.model->config());
        ForwardOptions o;
        o.backend = r.backend.get();
        o.all_logits = false;
        TextInput prompt;
        prompt.tokens = bench::decode_prompt_ids(bos, tc.vocab_size);
        r.model->forward(prompt, cache, logits, o);
        const std::vector<int32_t> ids = bench::decode_step_ids(N, bos, tc.vocab_size);
        o.probes = sink;
        double s = 0;
        for (int i = 0; i < N; ++i) {
            TextInput step;
            step.tokens = {ids[i + 1]};
            s += seconds_of([&] { r.model->forward(step, cache, logits, o); });
            if (between) between(i);
        }
        return s;
    };
    auto measure = [&](BackendRun& r, const std::function<double()>& f) {
        const bool exact = reset_peak_rss();
        const double s = f();
        r.rss_mib = std::max(r.rss_mib, exact ? peak_rss_mib() : process_peak_rss_mib());
        return s;
    };

    bench::Limits limits((quick ? 256ll : 1024ll) << 20, quick ? 512 : 1024);
    // The bandwidth samples also read the tensor every decoded token reads in full, the LM head (the tied token
    // embedding), when it is far larger than the caches: the very pages decode streams from.
    const TensorRef* mapped = bench::lm_head_far_beyond_caches(ck);
    if (mapped) limits.add_mapped(mapped->data, static_cast<int64_t>(mapped->nbytes));
    std::vector<double> bw_t, gemm_t;
    auto progress = [&](const char* fmt, auto... a) {
        std::fprintf(stderr, fmt, a...);
        std::fflush(stderr);
    };
    // Warm-up: one decode per backend (maps the weight pages in, builds OpenCL programs).
    for (BackendRun& r : runs)
        if (r.backend) {
            progress("[bench] warm-up %s\n", r.name.c_str());
            measure(r, [&] { return decode(r, nullptr); });
        }
    for (int rep = 0; rep < reps; ++rep) {
        bw_t.push_back(limits.bandwidth_sample());
        gemm_t.push_back(limits.sgemm_sample());
        limits.release();  // keep the 1 GiB buffer out of the model's peak RSS
        progress("[bench] rep %d/%d: bandwidth %.2f GB/s, sgemm %.1f GFLOP/s\n", rep + 1, reps, limits.gb_s(bw_t.back()),
                 limits.gflop_s(gemm_t.back()));
        for (BackendRun& r : runs) {
            if (!r.backend) continue;
            for (size_t i = 0; i < prefill_T.size(); ++i) {
                const double s = measure(r, [&] { return prefill(r, prefill_T[i]); });
                r.prefill_s[i].push_back(s);
                progress("[bench]   %-6s prefill T=%-5d %8.3f s  %9.1f tok/s\n", r.name.c_str(), prefill_T[i], s, prefill_T[i] / s);
            }
            // The bandwidth drifts by tens of percent within seconds on a shared machine, faster than a decode lasts,
            // so each decode is paired with the bandwidth measured during it: after every token, untimed, one read of
            // the mapped LM head with the stream count that wins the full samples (Limits::mapped_sample); the limit
            // is the bytes of all those reads over their time. Without a mapped tensor, the mean of full samples
            // right before and right after the decode. The before and after samples join the reported bandwidth.
            const double bw_before = limits.bandwidth_sample();
            limits.release();
            std::vector<double> paired_s;
            std::function<void(int)> sample_between;
            if (limits.has_mapped()) sample_between = [&](int) { paired_s.push_back(limits.mapped_sample()); };
            const double s = measure(r, [&] { return decode(r, nullptr, sample_between); });
            const double bw_after = limits.bandwidth_sample();
            limits.release();
            bw_t.push_back(bw_before);
            bw_t.push_back(bw_after);
            if (!limits.has_mapped()) paired_s = {bw_before, bw_after};
            const double during = limits.gb_s(std::accumulate(paired_s.begin(), paired_s.end(), 0.0) / double(paired_s.size()));
            r.decode_s.push_back(s);
            r.decode_bandwidth.push_back(during);
            r.decode_roofline.push_back((N / s) / (during * 1e9 / cost.decode_bytes));
            progress("[bench]   %-6s decode  N=%-5d %8.3f s  %9.2f tok/s (%.1f%% of a %.2f GB/s roofline %s)\n", r.name.c_str(), N, s, N / s,
                     100.0 * r.decode_roofline.back(), during, limits.has_mapped() ? "measured between its tokens" : "before and after");
            if (r.probes && kProbesCompiledIn) {  // compiled out, a sink would record nothing: nothing to measure
                RecordingSink sink({"*"});
                std::function<void(int)> same_pause;  // the same read between tokens, so both decodes start each token alike
                if (limits.has_mapped()) same_pause = [&](int) { (void)limits.mapped_sample(); };
                const double sp = measure(r, [&] { return decode(r, &sink, same_pause); });
                r.decode_probed_s.push_back(sp);
                progress("[bench]   %-6s decode with every probe recorded (%zu tensors) %8.3f s  %9.2f tok/s\n", r.name.c_str(),
                         sink.entries().size(), sp, N / sp);
            }
        }
    }

    const double bandwidth = limits.gb_s(median(bw_t));
    const double sgemm = limits.gflop_s(median(gemm_t));
    const double roofline_tok_s = bandwidth * 1e9 / cost.decode_bytes;
    auto prefill_gflop = [&](int T) {
        return (2.0 * cost.matmul_params * T + 2.0 * cost.lm_head_params + attention_flops(tc, T)) / 1e9;
    };

    json j;
    j["model"] = ck.dir;
    j["variant"] = ck.config.name;
    j["layers"] = tc.num_hidden_layers;
    j["repetitions"] = reps;
    j["threads"] = omp_get_max_threads();
    j["bf16_vdpbf16ps"] = have_bf16_dot();  // whether the bf16 backend multiplies with vdpbf16ps here (prompts and decoded tokens)
    j["probes_compiled_in"] = bool(GEMMA4_PROBES);
    j["bandwidth_gb_s"] = bandwidth;
    j["bandwidth_buffer_bytes"] = limits.buffer_bytes();
    if (mapped) {
        j["bandwidth_mapped_tensor"] = mapped->name;
        j["bandwidth_mapped_bytes"] = mapped->nbytes;
    }
    j["decode_bandwidth_sampled"] = mapped ? "between tokens" : "before and after";
    // Streams per core of the reads between tokens, as the count stood at the end of the run: a decode before the
    // winner changed (if it did) read with the earlier one.
    if (mapped) j["decode_bandwidth_streams"] = limits.best_streams();
    j["sgemm_gflop_s"] = sgemm;
    j["sgemm_n"] = limits.gemm_n();
    j["decode_tokens"] = N;
    j["decode_context"] = decode_context;
    j["weight_bytes_per_decoded_token"] = cost.decode_bytes;
    j["roofline_decode_tok_s"] = roofline_tok_s;
    const bench::WeightPages pages = bench::weight_pages(ck);  // as the page cache held them at the end of the run
    j["weights_resident_bytes"] = pages.resident;
    j["weights_on_huge_pages_bytes"] = pages.on_huge_pages;
    j["matmul_params_per_token"] = cost.matmul_params;
    json list = json::array();
    for (const BackendRun& r : runs) {
        json e;
        e["backend"] = r.name;
        if (!r.backend) {
            e["skipped"] = r.skipped;
            list.push_back(e);
            continue;
        }
        const double dec = N / median(r.decode_s);
        e["decode_tok_s"] = dec;
        e["decode_roofline_fraction"] = median(r.decode_roofline);  // of the per-repetition ratios
        e["decode_bandwidth_gb_s"] = median(r.decode_bandwidth);     // measured during the decodes (see above)
        json ptok = json::object(), pfrac = json::object(), pgf = json::object();
        for (size_t i = 0; i < prefill_T.size(); ++i) {
            const int T = prefill_T[i];
            const double s = median(r.prefill_s[i]);
            ptok[std::to_string(T)] = T / s;
            pgf[std::to_string(T)] = prefill_gflop(T) / s;
            pfrac[std::to_string(T)] = prefill_gflop(T) / s / sgemm;
        }
        e["prefill_tok_s"] = ptok;
        e["prefill_gflop_s"] = pgf;
        e["prefill_sgemm_fraction"] = pfrac;
        e["peak_rss_mib"] = r.rss_mib;
        if (r.probes && kProbesCompiledIn) {
            const double probed = N / median(r.decode_probed_s);
            e["probes"] = {{"compiled_in", true},
                           {"decode_tok_s_nobody_listening", dec},
                           {"decode_tok_s_recording_all", probed},
                           {"slowdown_recording_all", dec / probed}};
        } else if (r.probes) {
            e["probes"] = {{"compiled_in", false}, {"note", "probes compiled out (GEMMA4_PROBES=OFF): nothing to record"}};
        }
        list.push_back(e);
    }
    j["backends"] = list;
    if (as_json) {
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }

    std::printf("gemma4 bench -m %s (%s, %d layers): medians of %d alternating repetitions, %d OpenMP threads\n", ck.dir.c_str(),
                ck.config.name.c_str(), tc.num_hidden_layers, reps, omp_get_max_threads());
    std::printf("  memory bandwidth (read, %lld MiB sum)  %9.2f GB/s\n", static_cast<long long>(limits.buffer_bytes() >> 20), bandwidth);
    if (mapped)
        std::printf("    (the faster of that buffer and the mapped %s, %.0f MiB, in each sample)\n", mapped->name.c_str(),
                    double(mapped->nbytes) / (1 << 20));
    std::printf("  OpenBLAS sgemm %d³                    %9.2f GFLOP/s\n", limits.gemm_n(), sgemm);
    std::printf("  weight bytes per decoded token         %9.1f MB  → roofline %.2f tok/s\n", cost.decode_bytes / 1e6, roofline_tok_s);
    if (pages.resident > 0)
        std::printf("  weights resident on 2 MiB pages        %9.1f %% of %.0f MiB\n", 100.0 * pages.huge_fraction(),
                    double(pages.resident) / (1 << 20));
    std::printf("  params multiplied per prefill token    %9.1f M (+ LM head %.1f M once per prompt)\n\n", cost.matmul_params / 1e6,
                cost.lm_head_params / 1e6);
    std::printf("%-7s %-16s %12s %10s %12s %9s\n", "backend", "phase", "tok/s", "GFLOP/s", "fraction", "RSS MiB");
    for (const json& e : list) {
        const std::string b = e["backend"];
        if (e.contains("skipped")) {
            std::printf("%-7s skipped: %s\n", b.c_str(), e["skipped"].get<std::string>().c_str());
            continue;
        }
        for (int T : prefill_T) {
            const std::string k = std::to_string(T);
            std::printf("%-7s %-16s %12.1f %10.2f %8.1f%% sgemm %9.0f\n", b.c_str(), ("prefill T=" + k).c_str(),
                        e["prefill_tok_s"][k].get<double>(), e["prefill_gflop_s"][k].get<double>(),
                        100.0 * e["prefill_sgemm_fraction"][k].get<double>(), e["peak_rss_mib"].get<double>());
        }
        std::printf("%-7s %-16s %12.2f %10s %8.1f%% roofline (bandwidth %.2f GB/s during the decodes)\n", b.c_str(),
                    ("decode N=" + std::to_string(N)).c_str(), e["decode_tok_s"].get<double>(), "",
                    100.0 * e["decode_roofline_fraction"].get<double>(), e["decode_bandwidth_gb_s"].get<double>());
        if (e.contains("probes") && !e["probes"]["compiled_in"].get<bool>())
            std::printf("%-7s %-16s %12s %10s compiled out (GEMMA4_PROBES=OFF)\n", b.c_str(), "decode, probes *", "-", "");
        else if (e.contains("probes"))
            std::printf("%-7s %-16s %12.2f %10s time x%.3f of nobody listening\n", b.c_str(), "decode, probes *",
                        e["probes"]["decode_tok_s_recording_all"].get<double>(), "", e["probes"]["slowdown_recording_all"].get<double>());
    }
    if (mapped)
        std::printf("\ndecode roofline: tok/s against the bandwidth of reads of the mapped tensor between the tokens of each\n"
                    "decode (%d stream%s per core, the count that won the most full samples), paired per decode\n",
                    limits.best_streams(), limits.best_streams() == 1 ? "" : "s");
    else
        std::printf("\ndecode roofline: tok/s against the bandwidth sampled right before and after each decode, paired per decode\n");
    if (std::find(backend_names.begin(), backend_names.end(), "bf16") != backend_names.end())
        std::printf("bf16: matmul inputs rounded to bf16, llama.cpp's arithmetic for bf16 weights (not the reference's);\n"
                    "%s; its fraction is of float32 sgemm peak, so it can pass 100%%\n",
                    have_bf16_dot() ? "prompts and decoded tokens multiplied with vdpbf16ps (two bf16 products per float32 lane)"
                                    : "vdpbf16ps not used (no AVX512-BF16, or GEMMA4_BF16_DOT=0): rounded inputs, float32 path");
    if (mapped && pages.resident > 0 && pages.huge_fraction() < 0.9)  // a model far larger than the caches
        std::printf("2 MiB pages: decode reads weights on them faster (docs/performance.md, round 10). Pages the page cache held\n"
                    "before this run stay small: a checkpoint read afresh (e.g. after a reboot) comes in on 2 MiB pages where\n"
                    "the kernel allows it (transparent_hugepage 'madvise' or 'always').\n");
    std::printf("RSS MiB: peak resident set while that backend ran (the weights are mapped: pages touched count; the\n"
                "%lld MiB bandwidth buffer is freed before the model runs and is not in it)\n",
                static_cast<long long>(limits.buffer_bytes() >> 20));
    std::printf("probes are compiled %s; tools/bench_probes.sh MODEL builds with -DGEMMA4_PROBES=ON and OFF and compares the two\n"
                "binaries (compiled out / compiled in, nobody listening / recording every probe).\n",
                kProbesCompiledIn ? "in" : "out");
    return 0;
}

}  // namespace gemma4::cli
